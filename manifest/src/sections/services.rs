//! `[services.NAME]`: one service of the built-in balancer, everything but
//! the checks against apps and other services (those are in `cross`).

use std::path::PathBuf;

use crate::names;
use crate::reader::{find, Ctx, Section};
use crate::sections::selector;
use crate::service::{Balance, Protocol, Service, Slo, Start, Tls, DEFAULT_IDLE_STOP};
use crate::tree::Span;
use crate::units::parse_percent;

pub(crate) const KEYS: &[&str] = &[
    "app",
    "port",
    "listen",
    "protocol",
    "balance",
    "hash",
    "start",
    "idle_stop",
    "slo",
    "tls",
    "selector",
];

/// What `balance` says, before the selector it may need is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Choice {
    RoundRobin,
    LeastLoaded,
    Hash,
    Program,
}

pub(crate) fn read(ctx: &mut Ctx<'_>, name: &str, table: &Section<'_>) -> Service {
    super::check_name(ctx, name, table, "service");
    let app = required_string(
        ctx,
        table,
        "app",
        "add app = \"NAME\": the app whose instances answer for the service",
    );
    let port = required_string(
        ctx,
        table,
        "port",
        "add port = \"NAME\": the name of the app's port the service forwards to, like port = \"http\"",
    );
    let protocols = [("tcp", Protocol::Tcp), ("http", Protocol::Http)];
    let protocol = ctx
        .choice(table, "protocol", &protocols)
        .map_or(Protocol::Tcp, |p| p.value);
    Service {
        name: name.to_owned(),
        app: app.unwrap_or_default(),
        port: port.unwrap_or_default(),
        listen: listen(ctx, table).unwrap_or(0),
        protocol,
        balance: balance(ctx, table, protocol),
        start: start(ctx, table),
        slo: slo(ctx, table),
        tls: tls(ctx, table),
    }
}

/// A string key that must be written and not be empty.
fn required_string(
    ctx: &mut Ctx<'_>,
    table: &Section<'_>,
    key: &str,
    help: &str,
) -> Option<String> {
    if find(table, key).is_none() {
        ctx.missing(table, key, Some(help.to_owned()));
        return None;
    }
    let value = ctx.string(table, key)?;
    if value.value.is_empty() {
        let message = format!("{} is empty", value.path.describe());
        ctx.error(value.span(), message, Some(help.to_owned()));
        return None;
    }
    Some(value.value.to_owned())
}

fn listen(ctx: &mut Ctx<'_>, table: &Section<'_>) -> Option<u16> {
    if find(table, "listen").is_none() {
        let help = "add listen = 80: the port the OS binds for the service, on every interface";
        ctx.missing(table, "listen", Some(help.to_owned()));
        return None;
    }
    let help = "a port is a number from 1 to 65535, like listen = 80";
    let port = ctx.integer_in(table, "listen", 1..=65535, help)?;
    u16::try_from(port.value).ok()
}

fn balance(ctx: &mut Ctx<'_>, table: &Section<'_>, protocol: Protocol) -> Balance {
    let choices = [
        ("round-robin", Choice::RoundRobin),
        ("least-loaded", Choice::LeastLoaded),
        ("hash", Choice::Hash),
        ("program", Choice::Program),
    ];
    let written = find(table, "balance").is_some();
    let choice = match ctx.choice(table, "balance", &choices) {
        Some(choice) => choice.value,
        // A misspelt `balance` is reported already; what goes with it
        // cannot be judged.
        None if written => return Balance::LeastLoaded,
        None => Choice::LeastLoaded,
    };
    unused(ctx, table, choice);
    match choice {
        Choice::RoundRobin => Balance::RoundRobin,
        Choice::LeastLoaded => Balance::LeastLoaded,
        Choice::Hash => Balance::Hash {
            header: hash_header(ctx, table, protocol),
        },
        Choice::Program => match ctx.table(table, "selector", selector::KEYS) {
            Some(section) => selector::read(ctx, &section, protocol)
                .map_or(Balance::LeastLoaded, Balance::Program),
            // Written, but not as a table: reported already.
            None if find(table, "selector").is_some() => Balance::LeastLoaded,
            None => {
                let message = format!(
                    "balance = \"program\" but {} has no selector",
                    table.path.table_name()
                );
                let help = format!(
                    "add [{}.selector] with the `bundle` and `exec` of the program that picks backends",
                    table.path
                );
                ctx.error_at_path(&table.path.key("balance"), message, Some(help));
                Balance::LeastLoaded
            }
        },
    }
}

/// `hash` and `selector` belong to one `balance` each; written for another
/// they would be ignored, which is worse than refused.
fn unused(ctx: &mut Ctx<'_>, table: &Section<'_>, choice: Choice) {
    for (key, wants, value) in [
        ("hash", Choice::Hash, "hash"),
        ("selector", Choice::Program, "program"),
    ] {
        if choice != wants && find(table, key).is_some() {
            let message = format!(
                "{} applies to balance = \"{value}\" only",
                table.path.key(key).describe()
            );
            let help = format!("set balance = \"{value}\", or remove `{key}`");
            ctx.error_at_key(&table.path.key(key), message, Some(help));
        }
    }
}

/// `hash = { header = "x-tenant" }`: hash on that request header instead
/// of the client's address. `hash = {}` is the address.
fn hash_header(ctx: &mut Ctx<'_>, table: &Section<'_>, protocol: Protocol) -> Option<String> {
    let hash = ctx.table(table, "hash", &["header"])?;
    let header = ctx.string(&hash, "header")?;
    if let Some(rule) = names::header_name_problem(header.value) {
        let message = format!("`{}` is not a valid header name", header.value);
        ctx.error(header.span(), message, Some(rule.to_owned()));
        return None;
    }
    if protocol != Protocol::Http {
        needs_http(ctx, header.span(), &header.path.describe());
        return None;
    }
    Some(header.value.to_ascii_lowercase())
}

/// Reports that the thing at `span` reads HTTP headers, which tcp has not.
pub(crate) fn needs_http(ctx: &mut Ctx<'_>, span: &Span, what: &str) {
    let message = format!("{what} needs protocol = \"http\"");
    let help = "a tcp connection carries no headers: remove it, or set protocol = \"http\"";
    ctx.error(span, message, Some(help.to_owned()));
}

fn start(ctx: &mut Ctx<'_>, table: &Section<'_>) -> Start {
    let starts = [("always", false), ("on-demand", true)];
    let written = find(table, "start").is_some();
    let on_demand = ctx.choice(table, "start", &starts).map(|s| s.value);
    let idle_stop = ctx.positive_duration(table, "idle_stop").map(|d| d.value);
    match on_demand {
        Some(true) => Start::OnDemand {
            idle_stop: idle_stop.unwrap_or(DEFAULT_IDLE_STOP),
        },
        // A misspelt `start` is reported already.
        None if written => Start::Always,
        _ => {
            if find(table, "idle_stop").is_some() {
                let path = table.path.key("idle_stop");
                let message = format!("{} applies to start = \"on-demand\" only", path.describe());
                let help = "an app started at boot is never stopped for being idle: remove `idle_stop`, or set start = \"on-demand\"";
                ctx.error_at_key(&path, message, Some(help.to_owned()));
            }
            Start::Always
        }
    }
}

const SLO_HELP: &str = "write slo = { within = \"200ms\", target = \"99%\" }";

fn slo(ctx: &mut Ctx<'_>, table: &Section<'_>) -> Option<Slo> {
    let slo = ctx.table(table, "slo", &["within", "target"])?;
    for key in ["within", "target"] {
        if find(&slo, key).is_none() {
            ctx.missing(&slo, key, Some(SLO_HELP.to_owned()));
        }
    }
    let within = ctx.positive_duration(&slo, "within");
    let entry = find(&slo, "target")?;
    let help = "write a percentage in quotes, like target = \"99%\"".to_owned();
    let target = ctx.as_string(&entry.value, slo.path.key("target"), Some(help))?;
    let target_percent = match parse_percent(target.value) {
        Ok(percent) => percent,
        Err(problem) => {
            let message = format!("{} is not a valid percentage", target.path.describe());
            ctx.error(target.span(), message, Some(problem));
            return None;
        }
    };
    Some(Slo {
        within: within?.value,
        target_percent,
    })
}

fn tls(ctx: &mut Ctx<'_>, table: &Section<'_>) -> Option<Tls> {
    let tls = ctx.table(table, "tls", &["cert", "key"])?;
    let cert = required_string(
        ctx,
        &tls,
        "cert",
        "add cert = \"tls/web.pem\": the host path of the certificate chain (PEM), relative to this manifest",
    );
    let key_help = "add key = \"NAME\": the secret on the device that holds the private key (`cairn secret set`)";
    let key = required_string(ctx, &tls, "key", key_help)?;
    if let Some(rule) = names::secret_name_problem(&key) {
        let at = find(&tls, "key").and_then(|e| e.value.span.clone());
        let message = format!("`{key}` is not a valid secret name");
        // A path here is the likeliest mistake: the private key must never
        // be shipped in the image, so it cannot be a file of the project.
        let help = if key.contains('/') || key.ends_with(".pem") || key.ends_with(".key") {
            "`key` names a secret stored on the device, never a file: store the key with `cairn secret set --to HOST web-tls FILE` and write key = \"web-tls\"".to_owned()
        } else {
            rule.to_owned()
        };
        ctx.error(&at, message, Some(help));
        return None;
    }
    Some(Tls {
        cert: PathBuf::from(cert?),
        key,
    })
}
