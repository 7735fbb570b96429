//! `[apps.NAME.health]`: how the OS tells that an app works.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::model::{Health, HealthCheck};
use crate::reader::{find, Ctx, Section};
use crate::sections::exec;
use crate::suggest;

const KEYS: &[&str] = &["http", "tcp", "exec", "interval", "timeout", "grace"];
const KINDS: [&str; 3] = ["http", "tcp", "exec"];

pub(crate) const DEFAULT_INTERVAL: Duration = Duration::from_secs(5);
pub(crate) const DEFAULT_TIMEOUT: Duration = Duration::from_secs(1);
pub(crate) const DEFAULT_GRACE: Duration = Duration::from_secs(30);

pub(crate) fn read(
    ctx: &mut Ctx<'_>,
    app: &Section<'_>,
    ports: &BTreeMap<String, u16>,
) -> Option<Health> {
    let table = ctx.table(app, "health", KEYS)?;
    let interval = ctx
        .positive_duration(&table, "interval")
        .map_or(DEFAULT_INTERVAL, |d| d.value);
    let timeout = ctx
        .positive_duration(&table, "timeout")
        .map_or(DEFAULT_TIMEOUT, |d| d.value);
    let grace = ctx
        .positive_duration(&table, "grace")
        .map_or(DEFAULT_GRACE, |d| d.value);
    let check = check(ctx, &table, ports)?;
    Some(Health {
        check,
        interval,
        timeout,
        grace,
    })
}

fn check(
    ctx: &mut Ctx<'_>,
    table: &Section<'_>,
    ports: &BTreeMap<String, u16>,
) -> Option<HealthCheck> {
    let given: Vec<&str> = KINDS
        .into_iter()
        .filter(|k| find(table, k).is_some())
        .collect();
    match given.as_slice() {
        [kind] => match *kind {
            "http" => http(ctx, table, ports),
            "tcp" => tcp(ctx, table, ports),
            _ => exec::read(ctx, table, "exec", exec::Ports::Declared(ports))
                .map(|argv| HealthCheck::Exec { argv }),
        },
        [] => {
            let message = format!("{} has no check", table.path.table_name());
            let help =
                "add one of: http = \"/healthz\", tcp = \"<port name>\", exec = [\"/bin/check\"]"
                    .to_owned();
            ctx.error(&table.key_span, message, Some(help));
            None
        }
        [_, second, ..] => {
            let message = format!(
                "{} has more than one check ({})",
                table.path.table_name(),
                given.join(", ")
            );
            let help = "keep exactly one of http, tcp and exec".to_owned();
            ctx.error_at_key(&table.path.key(second), message, Some(help));
            None
        }
    }
}

fn http(
    ctx: &mut Ctx<'_>,
    table: &Section<'_>,
    ports: &BTreeMap<String, u16>,
) -> Option<HealthCheck> {
    let path = ctx.string(table, "http")?;
    if !path.value.starts_with('/') {
        let message = format!("health check path `{}` does not start with `/`", path.value);
        ctx.error(
            path.span(),
            message,
            Some(format!("write \"/{}\"", path.value)),
        );
        return None;
    }
    if ports.is_empty() {
        let message = "an http health check needs a port, but this app declares none".to_owned();
        let help =
            "declare one under [apps.NAME.ports]; the check uses the first one in name order"
                .to_owned();
        ctx.error(path.span(), message, Some(help));
        return None;
    }
    Some(HealthCheck::Http {
        path: path.value.to_owned(),
    })
}

fn tcp(
    ctx: &mut Ctx<'_>,
    table: &Section<'_>,
    ports: &BTreeMap<String, u16>,
) -> Option<HealthCheck> {
    let port = ctx.string(table, "tcp")?;
    if ports.contains_key(port.value) {
        return Some(HealthCheck::Tcp {
            port: port.value.to_owned(),
        });
    }
    let message = format!(
        "tcp health check names port `{}`, which this app does not declare",
        port.value
    );
    let help = suggest::did_you_mean(port.value, ports.keys().map(String::as_str))
        .unwrap_or_else(|| "name one of the app's ports (the key, not the number)".to_owned());
    ctx.error(port.span(), message, Some(help));
    None
}
