//! Command lines: `exec` of apps and jobs, `exec` of health checks.

use std::collections::BTreeMap;

use crate::reader::{Ctx, Field, Section};
use crate::suggest;

/// The ports a command line may refer to as `${ports.NAME}`.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Ports<'a> {
    /// An app's declared ports (also for its health check).
    Declared(&'a BTreeMap<String, u16>),
    /// None: the programs that have none, in the plural ("jobs",
    /// "selectors"), for the error.
    None(&'static str),
}

/// Reads `key` of `section` as an argv: non-empty, the program an absolute
/// path inside the app's tree, and `${ports.NAME}` naming declared ports
/// only.
pub(crate) fn read(
    ctx: &mut Ctx<'_>,
    section: &Section<'_>,
    key: &str,
    ports: Ports<'_>,
) -> Option<Vec<String>> {
    let argv = ctx.strings(section, key)?;
    let Some(program) = argv.value.first() else {
        let message = format!("{} is empty", argv.path.describe());
        let help = "give the program to run and its arguments, like [\"/bin/web\", \"--verbose\"]"
            .to_owned();
        ctx.error(argv.span(), message, Some(help));
        return None;
    };
    let mut ok = true;
    if !program.value.starts_with('/') {
        ok = false;
        let message = format!("the program `{}` is not an absolute path", program.value);
        let inside = if program.value.contains('/') {
            format!("/{}", program.value)
        } else {
            format!("/bin/{}", program.value)
        };
        let help = format!(
            "write \"{inside}\", a path inside the tree (a single-program bundle lands at /bin/<its file name>)"
        );
        ctx.error(program.span(), message, Some(help));
    }
    for arg in &argv.value {
        ok &= check_arg(ctx, arg, ports);
    }
    ok.then(|| argv.value.iter().map(|a| a.value.to_owned()).collect())
}

/// Checks one argument's `${...}` references and characters.
fn check_arg(ctx: &mut Ctx<'_>, arg: &Field<'_, &str>, ports: Ports<'_>) -> bool {
    if arg.value.contains('\0') {
        ctx.error(arg.span(), "an argument contains a NUL character", None);
        return false;
    }
    let mut ok = true;
    let mut searched = 0;
    while let Some(found) = arg.value[searched..].find("${") {
        let start = searched + found;
        let span = ctx.span_in_string(arg.node, start);
        let Some(len) = arg.value[start..].find('}') else {
            let help =
                "references look like ${ports.NAME}; there is no other `${...}` form".to_owned();
            ctx.error(
                &span,
                format!("`${{` without a closing `}}` in `{}`", arg.value),
                Some(help),
            );
            return false;
        };
        let inner = &arg.value[start + 2..start + len];
        searched = start + len + 1;
        match (inner.strip_prefix("ports."), ports) {
            (Some(name), Ports::Declared(ports)) if ports.contains_key(name) => {}
            (Some(name), Ports::Declared(ports)) => {
                ok = false;
                let message = format!(
                    "`${{{inner}}}` refers to port `{name}`, which this app does not declare"
                );
                let help = suggest::did_you_mean(name, ports.keys().map(String::as_str))
                    .unwrap_or_else(|| {
                        if ports.is_empty() {
                            "declare it under [apps.NAME.ports], like `http = 8080`".to_owned()
                        } else {
                            let declared: Vec<String> =
                                ports.keys().map(|p| format!("`{p}`")).collect();
                            format!("the declared ports are {}", declared.join(", "))
                        }
                    });
                ctx.error(&span, message, Some(help));
            }
            (Some(_), Ports::None(who)) => {
                ok = false;
                ctx.error(&span, format!("`${{{inner}}}`: {who} have no ports"), None);
            }
            (None, _) => {
                ok = false;
                let message = format!("`${{{inner}}}` is not something the OS can fill in");
                let help = "the only form is ${ports.NAME}; environment variables are not expanded (there is no shell)".to_owned();
                ctx.error(&span, message, Some(help));
            }
        }
    }
    ok
}
