//! `paths`, `limits` and `env`: what an app or job may touch, and how much.

use std::collections::BTreeMap;

use crate::model::{Limits, PathGrant};
use crate::names;
use crate::reader::{find, Ctx, Section};
use crate::suggest;
use crate::tree::Kind;

/// Places the OS provides in every tree; a grant may not cover or hide them.
const RESERVED: &[&str] = &["/proc", "/dev", "/sys", cairn_layout::run::DIR];

const GRANT_HELP: &str =
    "a path is granted as \"state\", \"tmpfs\" or { bundle = \"host/path\", readonly = true }";

pub(crate) fn paths(ctx: &mut Ctx<'_>, section: &Section<'_>) -> BTreeMap<String, PathGrant> {
    let mut grants = BTreeMap::new();
    let Some(table) = ctx.table(section, "paths", &[]) else {
        return grants;
    };
    for entry in table.entries {
        let path = table.path.key(&entry.key);
        if let Some((problem, help)) = path_problem(&entry.key) {
            ctx.error(
                &entry.key_span,
                format!("path `{}` {problem}", entry.key),
                help,
            );
        }
        let grant = match &entry.value.kind {
            Kind::String(s) if s == "state" => Some(PathGrant::State),
            Kind::String(s) if s == "tmpfs" => Some(PathGrant::Tmpfs),
            Kind::String(s) => {
                let message = format!("unknown grant \"{s}\" for path `{}`", entry.key);
                let help = suggest::closest(s, ["state", "tmpfs"]).map_or_else(
                    || GRANT_HELP.to_owned(),
                    |c| format!("did you mean \"{c}\"?"),
                );
                ctx.error(&entry.value.span, message, Some(help));
                None
            }
            Kind::Table(_) => {
                let sub = ctx.table(&table, &entry.key, &["bundle", "readonly"]);
                sub.and_then(|sub| bundle_grant(ctx, &sub))
            }
            _ => {
                ctx.wrong_type(
                    &entry.value,
                    &path,
                    "\"state\", \"tmpfs\" or a table",
                    Some(GRANT_HELP.to_owned()),
                );
                None
            }
        };
        if let Some(grant) = grant {
            grants.insert(entry.key.clone(), grant);
        }
    }
    grants
}

fn bundle_grant(ctx: &mut Ctx<'_>, table: &Section<'_>) -> Option<PathGrant> {
    let readonly = ctx.boolean(table, "readonly").is_none_or(|r| r.value);
    if find(table, "bundle").is_none() {
        ctx.missing(
            table,
            "bundle",
            Some("write { bundle = \"host/path\" }, relative to the manifest".to_owned()),
        );
        return None;
    }
    let source = ctx.string(table, "bundle")?;
    if source.value.is_empty() {
        ctx.error(
            source.span(),
            "`bundle` is empty",
            Some("give a host path, relative to the manifest".to_owned()),
        );
        return None;
    }
    Some(PathGrant::Bundle {
        source: source.value.into(),
        readonly,
    })
}

/// What is wrong with a granted path, if anything, and what would be right.
fn path_problem(path: &str) -> Option<(String, Option<String>)> {
    if !path.starts_with('/') {
        return Some(("is not absolute".into(), Some(format!("write \"/{path}\""))));
    }
    if path == "/" {
        return Some((
            "is the whole tree".into(),
            Some("grant a directory inside it".into()),
        ));
    }
    if path.contains('\0') {
        return Some(("contains a NUL character".into(), None));
    }
    let parts: Vec<&str> = path
        .split('/')
        .filter(|p| !p.is_empty() && *p != ".")
        .collect();
    if parts.contains(&"..") {
        return Some((
            "contains `..`".into(),
            Some("write the path without `..`".into()),
        ));
    }
    let normal = format!("/{}", parts.join("/"));
    if normal != path {
        return Some((
            "is not in normal form".into(),
            Some(format!("write \"{normal}\"")),
        ));
    }
    for reserved in RESERVED {
        let covered = normal == *reserved || normal.starts_with(&format!("{reserved}/"));
        let hides = reserved.starts_with(&format!("{normal}/"));
        if covered || hides {
            return Some((
                format!("overlaps {reserved}, which the OS provides"),
                Some(format!(
                    "{} are set up by the OS; choose another path",
                    RESERVED.join(", ")
                )),
            ));
        }
    }
    None
}

pub(crate) fn limits(ctx: &mut Ctx<'_>, section: &Section<'_>) -> Limits {
    let mut limits = Limits::default();
    let Some(table) = ctx.table(
        section,
        "limits",
        &["memory", "processes", "cpu", "open_files"],
    ) else {
        return limits;
    };
    if let Some(memory) = ctx.size(&table, "memory") {
        if memory.value < 1 << 20 {
            let message = format!("{} must be at least 1MiB", memory.path.describe());
            ctx.error(
                memory.span(),
                message,
                Some("no program starts with less; write at least \"1MiB\"".into()),
            );
        } else {
            limits.memory = Some(memory.value);
        }
    }
    let processes_help = "the number of processes and threads the app may have at once, at least 1";
    if let Some(processes) = ctx.integer_in(&table, "processes", 1..=4_194_304, processes_help) {
        limits.processes = u32::try_from(processes.value).ok();
    }
    if let Some(cpu) = ctx.number(&table, "cpu") {
        if cpu.value > 0.0 && cpu.value <= 1024.0 {
            limits.cpu = Some(cpu.value);
        } else {
            let message = format!(
                "cpu limit {} must be more than 0 and at most 1024",
                cpu.value
            );
            ctx.error(
                cpu.span(),
                message,
                Some("it counts CPUs: 0.5 is half of one CPU, 2 is two".into()),
            );
        }
    }
    let files_help = "open_files must be from 16 (enough for a program to start) to 1048576 (the kernel's limit)";
    if let Some(files) = ctx.integer_in(&table, "open_files", 16..=1_048_576, files_help) {
        limits.open_files = u64::try_from(files.value).ok();
    }
    limits
}

/// Variables the OS sets itself; `port_names` adds `PORT_<NAME>` of each port.
fn reserved_variable(name: &str, port_names: &[String]) -> bool {
    name.starts_with("CAIRN_")
        || [
            "LISTEN_FDS",
            "LISTEN_FDNAMES",
            "LISTEN_PID",
            "NOTIFY_SOCKET",
            "STATE_DIR",
        ]
        .contains(&name)
        || port_names
            .iter()
            .any(|p| name == format!("PORT_{}", p.to_uppercase()))
}

/// `[apps.X.secrets]`: a path inside the app -> the name of a secret stored
/// on the device with `cairn secret set`.
pub(crate) fn secrets(ctx: &mut Ctx<'_>, section: &Section<'_>) -> BTreeMap<String, String> {
    let mut secrets = BTreeMap::new();
    let Some(table) = ctx.table(section, "secrets", &[]) else {
        return secrets;
    };
    for entry in table.entries {
        let path = table.path.key(&entry.key);
        if let Some((problem, help)) = path_problem(&entry.key) {
            ctx.error(
                &entry.key_span,
                format!("secret path `{}` {problem}", entry.key),
                help,
            );
            continue;
        }
        let help = Some("a secret is granted by its name: \"/run/secrets/db\" = \"db-password\"".to_owned());
        let Some(name) = ctx.as_string(&entry.value, path, help) else {
            continue;
        };
        if let Some(rule) = names::secret_name_problem(name.value) {
            let message = format!("`{}` is not a valid secret name", name.value);
            ctx.error(name.span(), message, Some(rule.to_owned()));
            continue;
        }
        secrets.insert(entry.key.clone(), name.value.to_owned());
    }
    secrets
}

pub(crate) fn env(
    ctx: &mut Ctx<'_>,
    section: &Section<'_>,
    port_names: &[String],
) -> BTreeMap<String, String> {
    let mut env = BTreeMap::new();
    let Some(table) = ctx.table(section, "env", &[]) else {
        return env;
    };
    for entry in table.entries {
        let path = table.path.key(&entry.key);
        if let Some(rule) = names::env_name_problem(&entry.key) {
            ctx.error(
                &entry.key_span,
                format!("`{}` is not a valid variable name", entry.key),
                Some(rule.into()),
            );
            continue;
        }
        if reserved_variable(&entry.key, port_names) {
            let message = format!("`{}` is set by the OS and cannot be overridden", entry.key);
            let help = "see \"The app's environment\" in the manifest reference".to_owned();
            ctx.error(&entry.key_span, message, Some(help));
            continue;
        }
        let help = match &entry.value.kind {
            Kind::Integer(i) => Some(format!("write it in quotes: {} = \"{i}\"", entry.key)),
            Kind::Boolean(b) => Some(format!("write it in quotes: {} = \"{b}\"", entry.key)),
            _ => None,
        };
        if let Some(value) = ctx.as_string(&entry.value, path, help) {
            if value.value.contains('\0') {
                ctx.error(value.span(), "the value contains a NUL character", None);
            } else {
                env.insert(entry.key.clone(), value.value.to_owned());
            }
        }
    }
    env
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn granted_paths_must_be_clean_and_clear_of_the_os() {
        assert!(path_problem("/var/lib/web").is_none());
        assert!(path_problem("/runtime").is_none());
        assert!(path_problem("/run/web").is_none());
        assert!(path_problem("/devices").is_none());
        let problem = |p| path_problem(p).unwrap().0;
        assert_eq!(problem("var/lib"), "is not absolute");
        assert_eq!(problem("/"), "is the whole tree");
        assert_eq!(problem("/var/../etc"), "contains `..`");
        assert_eq!(
            path_problem("/var/lib/").unwrap().1.unwrap(),
            "write \"/var/lib\""
        );
        assert_eq!(
            path_problem("/var//lib").unwrap().1.unwrap(),
            "write \"/var/lib\""
        );
        assert_eq!(
            path_problem("/var/./lib").unwrap().1.unwrap(),
            "write \"/var/lib\""
        );
        assert!(problem("/proc").contains("/proc"));
        assert!(problem("/dev/shm").contains("/dev"));
        assert!(problem("/sys/fs/cgroup").contains("/sys"));
        let run = cairn_layout::run::DIR;
        let below = format!("{run}/x");
        assert!(problem(&below).contains(run));
        assert!(problem("/run").contains(run));
    }

    #[test]
    fn the_os_variables_are_reserved() {
        let ports = vec!["http".to_owned()];
        assert!(reserved_variable("CAIRN_APP", &ports));
        assert!(reserved_variable("PORT_HTTP", &ports));
        assert!(reserved_variable("LISTEN_FDS", &ports));
        assert!(!reserved_variable("PORT_ADMIN", &ports));
        assert!(!reserved_variable("RUST_LOG", &ports));
    }
}
