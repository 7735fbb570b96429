//! The `system.toml` schema, version 1: types, parsing and validation.
//!
//! [`parse`] turns a manifest's text into a [`Manifest`] whose every value
//! has been checked, or into [`Diagnostics`] listing everything that is
//! wrong, each at `file:line:column`. The only I/O is [`load`] reading the
//! file.
//!
//! Parsing goes text -> a tree of values with positions (`tree`) -> typed
//! values (`sections`) -> checks across apps, jobs and services (`cross`).
//! The tree stage is where command-line overrides can be applied before
//! validation.
#![forbid(unsafe_code)]

pub mod cron_syntax;
mod cross;
mod diag;
mod instance;
mod locations;
mod model;
mod names;
pub mod overrides;
mod reader;
mod sections;
mod service;
mod suggest;
pub mod syscalls;
mod tree;
mod uid;
mod units;
mod zones;

use std::path::Path;

pub use diag::{Diagnostic, Diagnostics, Location};
pub use instance::{instance_label, split_instance_label};
pub use locations::{KeyLocation, Locations};
pub use model::*;
pub use names::{secret_name_problem, SERVICE_PREFIX};
pub use sections::{DEFAULT_RATE_LIMIT, SCHEMA_VERSION};
pub use service::*;
pub use uid::{app_uid, job_uid, selector_uid, UID_BASE, UID_SPAN};
pub use units::{format_size, parse_duration, parse_size};

/// The most instances one app may have.
pub const MAX_INSTANCES: u32 = 64;

/// Parses and validates a manifest. `file` is only used in messages.
pub fn parse(text: &str, file: &Path) -> Result<Manifest, Diagnostics> {
    let root = match tree::Node::parse(text) {
        Ok(root) => root,
        Err((message, span)) => return Err(syntax_error(text, file, &message, span).into()),
    };
    let mut ctx = reader::Ctx::new(text, &root, file);
    let mut manifest = sections::read(&mut ctx, &root);
    let (locations, mut diagnostics) = ctx.finish();
    manifest.locations = locations;
    diagnostics.0.extend(cross::check(&manifest));
    if diagnostics.is_empty() {
        Ok(manifest)
    } else {
        diagnostics.sort();
        Err(diagnostics)
    }
}

/// Reads the manifest at `path` and [`parse`]s it.
pub fn load(path: &Path) -> Result<Manifest, Diagnostics> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        Diagnostic::new(
            path,
            Location::NONE,
            format!("cannot read {}: {e}", path.display()),
            None,
        )
    })?;
    parse(&text, path)
}

/// TOML syntax errors come as "what\nexpected ..."; the second part is help.
fn syntax_error(text: &str, file: &Path, message: &str, span: tree::Span) -> Diagnostic {
    let lines = diag::LineIndex::new(text);
    let mut parts = message.trim().splitn(2, '\n');
    let what = parts.next().unwrap_or("invalid TOML");
    let help = parts
        .next()
        .map(|h| h.trim().to_owned())
        .filter(|h| !h.is_empty());
    Diagnostic::new(
        file,
        lines.span_location(span.as_ref()),
        format!("invalid TOML: {what}"),
        help,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn first_error(text: &str) -> Diagnostic {
        parse(text, Path::new("s.toml")).unwrap_err().0.remove(0)
    }

    #[test]
    fn syntax_errors_count_columns_in_characters() {
        let d = first_error("# é é\nname = \"é\" x\n");
        assert_eq!((d.line, d.column), (2, 12));
        assert!(d.message.starts_with("invalid TOML: "), "{}", d.message);
    }

    #[test]
    fn positions_inside_strings_count_characters() {
        let text = "version = 1\n[apps.web]\nbundle = \"b\"\nexec = [\"/b\", \"é${ports.x}\"]\n";
        let d = first_error(text);
        assert_eq!((d.line, d.column), (4, 17));
    }

    #[test]
    fn a_valid_manifest_keeps_its_file_name_for_later_errors() {
        let m = parse("version = 1\n", Path::new("dir/system.toml")).unwrap();
        assert_eq!(m.locations.file(), Path::new("dir/system.toml"));
        assert_eq!(
            m.diagnostic_at("apps.x.bundle", "gone", None).to_string(),
            "dir/system.toml: error: gone"
        );
    }
}
