//! Command-line overrides of manifest keys: `--set apps.web.instances=3`.
//!
//! An override names any key by its dotted path (quoted where a key holds a
//! dot or a slash: `apps.web.paths."/var/lib/web"=state`, an array element by
//! its index: `apps.web.exec.0=/bin/other`) and gives a TOML value. A bare
//! word that is not TOML (`never`, `64MiB`, `/bin/web`) is taken as a string,
//! so the common cases need no shell quoting.
//!
//! Overrides are applied to the manifest's tree before validation, so an
//! overridden value is checked exactly like one written in the file, and an
//! unknown key is refused the same way. Errors in what an override set are
//! reported against the override itself (`--set apps.web.instances=x: error:
//! ...`) instead of a line of the file.

use std::path::Path;

use crate::diag::{Diagnostic, Diagnostics, Location};
use crate::model::Manifest;
use crate::tree::{Entry, Kind, Node, Span};
use crate::{cross, reader, sections};

/// One `KEY=VALUE` override.
#[derive(Debug, Clone)]
pub struct Override {
    arg: String,
    path: Vec<String>,
    value: Node,
}

/// A diagnostic about override `arg` as a whole.
fn blame(arg: &str, message: String, help: Option<String>) -> Diagnostic {
    Diagnostic::new(format!("--set {arg}"), Location::NONE, message, help)
}

/// The value of an override: TOML when it parses as TOML, else the text as
/// a string unless it looks like TOML gone wrong.
fn parse_value(arg: &str, text: &str) -> Result<Node, Diagnostic> {
    let parsed = Node::parse(&format!("v = {text}\n")).ok().and_then(|root| {
        let entries = root.entries()?;
        match entries {
            [only] if only.key == "v" => Some(only.value.clone()),
            _ => None,
        }
    });
    if let Some(node) = parsed {
        return Ok(node);
    }
    let trimmed = text.trim_start();
    if trimmed.starts_with(['"', '\'', '[', '{']) {
        return Err(blame(
            arg,
            format!("`{text}` is not a valid TOML value"),
            Some("quote strings in TOML style, e.g. --set 'apps.web.env.GREETING=\"hi\"'; arrays are written [\"a\", \"b\"]".into()),
        ));
    }
    Ok(Node {
        kind: Kind::String(text.to_owned()),
        span: None,
    })
}

impl Override {
    /// Parses `KEY=VALUE`.
    pub fn parse(arg: &str) -> Result<Override, Diagnostic> {
        let Some((key, value)) = arg.split_once('=') else {
            return Err(blame(
                arg,
                "expected KEY=VALUE".into(),
                Some("for example --set apps.web.instances=3".into()),
            ));
        };
        let keys = toml_edit::Key::parse(key.trim()).map_err(|e| {
            blame(
                arg,
                format!("`{}` is not a key path: {}", key.trim(), e.message().trim()),
                Some("keys are joined with dots; quote a key that holds a dot or a slash: apps.web.paths.\"/var/lib/web\"=state".into()),
            )
        })?;
        let path: Vec<String> = keys.iter().map(|k| k.get().to_owned()).collect();
        if path.is_empty() {
            return Err(blame(arg, "the key is empty".into(), None));
        }
        Ok(Override {
            arg: arg.to_owned(),
            path,
            value: parse_value(arg, value.trim())?,
        })
    }

    /// The argument as given.
    pub fn arg(&self) -> &str {
        &self.arg
    }

    /// The key path joined with dots, unquoted, as [`crate::Locations`] names keys.
    pub fn dotted(&self) -> String {
        self.path.join(".")
    }

    /// True when this override set `key_path` or a table or array above it.
    pub fn covers(&self, key_path: &str) -> bool {
        let dotted = self.dotted();
        key_path == dotted
            || key_path
                .strip_prefix(&dotted)
                .is_some_and(|rest| rest.starts_with('.'))
    }
}

/// Gives every node of `node` the span `span`.
fn respan(node: &mut Node, span: &Span) {
    node.span = span.clone();
    match &mut node.kind {
        Kind::Table(entries) => {
            for entry in entries {
                entry.key_span = span.clone();
                respan(&mut entry.value, span);
            }
        }
        Kind::Array(items) => items.iter_mut().for_each(|item| respan(item, span)),
        _ => {}
    }
}

fn empty_table(span: &Span) -> Node {
    Node {
        kind: Kind::Table(Vec::new()),
        span: span.clone(),
    }
}

/// Sets `path` under `node` to `value`, creating tables on the way.
/// `done` is the part of the path already walked, for messages.
fn set(
    node: &mut Node,
    path: &[String],
    done: &mut Vec<String>,
    value: Node,
    span: &Span,
) -> Result<(), String> {
    let Some((first, rest)) = path.split_first() else {
        *node = value;
        return Ok(());
    };
    let here = if done.is_empty() {
        "the manifest".to_owned()
    } else {
        format!("`{}`", done.join("."))
    };
    let child = match &mut node.kind {
        Kind::Table(entries) => {
            let at = match entries.iter().position(|e| e.key == *first) {
                Some(at) => at,
                None => {
                    entries.push(Entry {
                        key: first.clone(),
                        key_span: span.clone(),
                        value: empty_table(span),
                    });
                    entries.len() - 1
                }
            };
            &mut entries[at].value
        }
        Kind::Array(items) => {
            let len = items.len();
            let index: usize = first
                .parse()
                .map_err(|_| format!("{here} is an array: the next key must be an index"))?;
            if index == len {
                items.push(empty_table(span));
            }
            items.get_mut(index).ok_or_else(|| {
                format!("{here} has {len} elements: index {index} is past its end")
            })?
        }
        _ => return Err(format!("{here} is {}, not a table", node.type_name())),
    };
    done.push(first.clone());
    set(child, rest, done, value, span)
}

/// [`crate::parse`], with `overrides` applied (in order, a later one
/// winning) before validation. Diagnostics about what an override set name
/// the override; all others point into the file as usual.
pub fn parse_with_overrides(
    text: &str,
    file: &Path,
    overrides: &[Override],
) -> Result<Manifest, Diagnostics> {
    let mut root = match Node::parse(text) {
        Ok(root) => root,
        Err((message, span)) => return Err(crate::syntax_error(text, file, &message, span).into()),
    };
    // Each override gets a line of its own after the file's, so positions
    // recorded for it can be told apart and turned back into its name.
    let mut virtual_text = text.to_owned();
    if !virtual_text.is_empty() && !virtual_text.ends_with('\n') {
        virtual_text.push('\n');
    }
    let file_lines = virtual_text.matches('\n').count();
    let mut found = Vec::new();
    for o in overrides {
        let line = o.arg.replace(['\n', '\r'], " ");
        let span = Some(virtual_text.len()..virtual_text.len() + line.len().max(1));
        virtual_text.push_str(&line);
        virtual_text.push('\n');
        let mut value = o.value.clone();
        respan(&mut value, &span);
        if let Err(message) = set(&mut root, &o.path, &mut Vec::new(), value, &span) {
            found.push(blame(
                &o.arg,
                format!("cannot set `{}`: {message}", o.dotted()),
                None,
            ));
        }
    }
    if !found.is_empty() {
        return Err(Diagnostics(found));
    }
    let mut ctx = reader::Ctx::new(&virtual_text, &root, file);
    let mut manifest = sections::read(&mut ctx, &root);
    let (locations, mut diagnostics) = ctx.finish();
    manifest.locations = locations;
    diagnostics.0.extend(cross::check(&manifest));
    if diagnostics.is_empty() {
        return Ok(manifest);
    }
    diagnostics.sort();
    for d in &mut diagnostics.0 {
        if d.file != file || d.line <= file_lines {
            continue;
        }
        if let Some(o) = overrides.get(d.line - file_lines - 1) {
            d.file = format!("--set {}", o.arg).into();
            d.line = 0;
            d.column = 0;
        }
    }
    Err(diagnostics)
}

/// Reads the manifest at `path` and [`parse_with_overrides`] it.
pub fn load_with_overrides(path: &Path, overrides: &[Override]) -> Result<Manifest, Diagnostics> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        Diagnostic::new(
            path,
            Location::NONE,
            format!("cannot read {}: {e}", path.display()),
            None,
        )
    })?;
    parse_with_overrides(&text, path, overrides)
}

/// Like [`Manifest::diagnostic_at`], but a key an override set is blamed
/// on that override (the last one that covers it) rather than on the file.
pub fn diagnostic_at(
    manifest: &Manifest,
    overrides: &[Override],
    key_path: &str,
    message: &str,
    help: Option<&str>,
) -> Diagnostic {
    match overrides.iter().rev().find(|o| o.covers(key_path)) {
        Some(o) => blame(&o.arg, message.to_owned(), help.map(str::to_owned)),
        None => manifest.diagnostic_at(key_path, message, help),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FILE: &str = "\
version = 1

[apps.web]
bundle = \"build/web\"
exec = [\"/bin/web\", \"--port\", \"${ports.http}\"]
ports.http = 8080
restart = \"always\"
";

    fn with(args: &[&str]) -> Result<Manifest, Diagnostics> {
        let overrides: Vec<Override> = args.iter().map(|a| Override::parse(a).unwrap()).collect();
        parse_with_overrides(FILE, Path::new("system.toml"), &overrides)
    }

    fn errors(args: &[&str]) -> String {
        with(args).unwrap_err().to_string()
    }

    #[test]
    fn values_are_toml_and_bare_words_are_strings() {
        let m = with(&[
            "apps.web.instances=3",
            "apps.web.restart=never",
            "apps.web.limits.memory=64MiB",
            "apps.web.env.GREETING=\"hi there\"",
            "system.port_offset = 7",
        ])
        .unwrap();
        let web = &m.apps["web"];
        assert_eq!(web.instances, 3);
        assert_eq!(web.restart, crate::Restart::Never);
        assert_eq!(web.limits.memory, Some(64 << 20));
        assert_eq!(web.env["GREETING"], "hi there");
        assert_eq!(m.system.port_offset, 7);
    }

    #[test]
    fn overrides_reach_into_arrays_quoted_keys_and_new_tables() {
        let m = with(&[
            "apps.web.exec.0=/bin/other",
            "apps.web.paths.\"/var/lib/web\"=state",
            "apps.api.bundle=build/api",
            "apps.api.exec=[\"/bin/api\"]",
            "apps.api.after=[\"web\"]",
        ])
        .unwrap();
        assert_eq!(m.apps["web"].exec[0], "/bin/other");
        assert_eq!(m.apps["web"].paths["/var/lib/web"], crate::PathGrant::State);
        assert_eq!(m.apps["api"].after, ["web"]);
    }

    #[test]
    fn a_later_override_wins() {
        let m = with(&["apps.web.instances=2", "apps.web.instances=4"]).unwrap();
        assert_eq!(m.apps["web"].instances, 4);
    }

    #[test]
    fn a_wrong_value_is_blamed_on_its_override() {
        let err = errors(&["apps.web.instances=lots"]);
        assert!(
            err.starts_with("--set apps.web.instances=lots: error: "),
            "{err}"
        );
        assert!(err.contains("instances"), "{err}");
        assert!(!err.contains("system.toml"), "{err}");
    }

    #[test]
    fn an_unknown_key_is_refused_with_a_suggestion() {
        let err = errors(&["apps.web.instanses=2"]);
        assert!(
            err.starts_with("--set apps.web.instanses=2: error: unknown key `instanses`"),
            "{err}"
        );
        assert!(err.contains("did you mean `instances`"), "{err}");
    }

    #[test]
    fn errors_in_the_file_still_point_at_the_file() {
        let overrides = [Override::parse("apps.web.instances=2").unwrap()];
        let text = FILE.replace("restart = \"always\"", "restart = \"sometimes\"");
        let err = parse_with_overrides(&text, Path::new("system.toml"), &overrides)
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("system.toml:7:11: error: "), "{err}");
    }

    #[test]
    fn malformed_arguments_are_refused() {
        let err = Override::parse("apps.web.instances")
            .unwrap_err()
            .to_string();
        assert!(err.contains("expected KEY=VALUE"), "{err}");
        let err = Override::parse("apps..web=1").unwrap_err().to_string();
        assert!(err.contains("is not a key path"), "{err}");
        let err = Override::parse("apps.web.exec=[\"/bin/x\"")
            .unwrap_err()
            .to_string();
        assert!(err.contains("is not a valid TOML value"), "{err}");
    }

    #[test]
    fn a_path_through_a_scalar_is_refused() {
        let err = errors(&["apps.web.bundle.x=1"]);
        assert!(
            err.contains(
                "cannot set `apps.web.bundle.x`: `apps.web.bundle` is a string, not a table"
            ),
            "{err}"
        );
        let err = errors(&["apps.web.exec.5=x"]);
        assert!(
            err.contains("has 3 elements: index 5 is past its end"),
            "{err}"
        );
    }

    #[test]
    fn later_diagnostics_name_the_override_that_set_a_key() {
        let overrides = [Override::parse("apps.web.bundle=elsewhere").unwrap()];
        let m = parse_with_overrides(FILE, Path::new("system.toml"), &overrides).unwrap();
        let d = diagnostic_at(&m, &overrides, "apps.web.bundle", "gone", None);
        assert_eq!(
            d.to_string(),
            "--set apps.web.bundle=elsewhere: error: gone"
        );
        let d = diagnostic_at(&m, &overrides, "apps.web.exec.0", "missing", None);
        assert_eq!(d.to_string(), "system.toml:5:9: error: missing");
        assert!(overrides[0].covers("apps.web.bundle"));
        assert!(!overrides[0].covers("apps.web.bundles"));
    }
}
