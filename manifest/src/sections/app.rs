//! `[apps.NAME]`: one app, everything but checks across apps.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use crate::model::{App, Restart, Sockets};
use crate::names;
use crate::reader::{find, Ctx, Section};
use crate::sections::exec::{self, Ports};
use crate::sections::{grants, health, security};

pub(crate) const KEYS: &[&str] = &[
    "bundle",
    "exec",
    "env",
    "instances",
    "after",
    "restart",
    "stop_timeout",
    "sockets",
    "ports",
    "paths",
    "limits",
    "health",
    "secrets",
    "security",
    "uses",
];

pub(crate) const DEFAULT_STOP_TIMEOUT: Duration = Duration::from_secs(10);

pub(crate) fn read(ctx: &mut Ctx<'_>, name: &str, table: &Section<'_>) -> App {
    super::check_name(ctx, name, table, "app");
    let bundle = bundle(ctx, table);
    let ports = ports(ctx, table);
    let port_names: Vec<String> = ports.keys().cloned().collect();
    let exec = required_exec(ctx, table, Ports::Declared(&ports));
    let max = crate::MAX_INSTANCES;
    let instances_help = format!("instances is how many copies of the app run, from 1 to {max}");
    let instances = ctx
        .integer_in(table, "instances", 1..=i64::from(max), &instances_help)
        .and_then(|i| u32::try_from(i.value).ok())
        .unwrap_or(1);
    let after = names_list(ctx, table, "after");
    let restart = [
        ("always", Restart::Always),
        ("on-failure", Restart::OnFailure),
        ("never", Restart::Never),
    ];
    let sockets = [("bound", Sockets::Bound), ("passed", Sockets::Passed)];
    let app = App {
        name: name.to_owned(),
        bundle: bundle.map(PathBuf::from).unwrap_or_default(),
        exec: exec.unwrap_or_default(),
        env: grants::env(ctx, table, &port_names),
        instances,
        after,
        restart: ctx
            .choice(table, "restart", &restart)
            .map_or(Restart::OnFailure, |r| r.value),
        stop_timeout: ctx
            .positive_duration(table, "stop_timeout")
            .map_or(DEFAULT_STOP_TIMEOUT, |d| d.value),
        sockets: ctx
            .choice(table, "sockets", &sockets)
            .map_or(Sockets::Bound, |s| s.value),
        paths: grants::paths(ctx, table),
        limits: grants::limits(ctx, table),
        health: health::read(ctx, table, &ports),
        secrets: grants::secrets(ctx, table),
        security: security::read(ctx, table),
        uses: names_list(ctx, table, "uses"),
        ports,
    };
    for path in app.secrets.keys() {
        if app.paths.contains_key(path) {
            let message = format!("`{path}` is both a granted path and a secret");
            let help =
                "a secret is a file of its own: give it a path no `paths` entry uses".to_owned();
            ctx.error_at_path(&table.path.key("secrets").key(path), message, Some(help));
        }
    }
    if app.sockets == Sockets::Passed && app.ports.is_empty() {
        let message = "sockets = \"passed\" but the app declares no ports to pass".to_owned();
        let help = "declare ports under [apps.NAME.ports], or remove `sockets`".to_owned();
        ctx.error_at_path(&table.path.key("sockets"), message, Some(help));
    }
    app
}

/// A list of names (`after`, `uses`); what each names is checked once every
/// app and service has been read (see `cross`).
fn names_list(ctx: &mut Ctx<'_>, table: &Section<'_>, key: &str) -> Vec<String> {
    ctx.strings(table, key)
        .map(|list| list.value.iter().map(|a| a.value.to_owned()).collect())
        .unwrap_or_default()
}

/// `bundle`, required for apps, jobs and selectors alike.
pub(crate) fn bundle(ctx: &mut Ctx<'_>, table: &Section<'_>) -> Option<String> {
    if find(table, "bundle").is_none() {
        let help =
            "add bundle = \"path/to/program-or-directory\", relative to this manifest".to_owned();
        ctx.missing(table, "bundle", Some(help));
        return None;
    }
    let bundle = ctx.string(table, "bundle")?;
    if bundle.value.is_empty() {
        let message = format!("{} is empty", bundle.path.describe());
        ctx.error(
            bundle.span(),
            message,
            Some("give a host path, relative to this manifest".to_owned()),
        );
        return None;
    }
    Some(bundle.value.to_owned())
}

/// `exec`, required for apps, jobs and selectors alike.
pub(crate) fn required_exec(
    ctx: &mut Ctx<'_>,
    table: &Section<'_>,
    ports: Ports<'_>,
) -> Option<Vec<String>> {
    if find(table, "exec").is_none() {
        let help =
            "add exec = [\"/bin/program\", \"args...\"], a path inside the bundle".to_owned();
        ctx.missing(table, "exec", Some(help));
        return None;
    }
    exec::read(ctx, table, "exec", ports)
}

fn ports(ctx: &mut Ctx<'_>, app: &Section<'_>) -> BTreeMap<String, u16> {
    let mut ports = BTreeMap::new();
    let Some(table) = ctx.table(app, "ports", &[]) else {
        return ports;
    };
    for entry in table.entries {
        if let Some(rule) = names::port_name_problem(&entry.key) {
            ctx.error(
                &entry.key_span,
                format!("`{}` is not a valid port name", entry.key),
                Some(rule.to_owned()),
            );
            continue;
        }
        let help = "a port is a number from 1 to 65535, like http = 8080";
        if let Some(port) = ctx.integer_in(&table, &entry.key, 1..=65535, help) {
            ports.insert(entry.key.clone(), u16::try_from(port.value).unwrap_or(1));
        }
    }
    ports
}
