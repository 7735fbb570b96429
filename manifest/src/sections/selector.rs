//! `[services.NAME.selector]`: the program that picks backends when
//! `balance = "program"`. It is shipped and sandboxed like an app, so it
//! takes an app's `bundle`, `exec` and `limits`.

use std::collections::BTreeSet;
use std::path::PathBuf;

use crate::names;
use crate::reader::{find, Ctx, Section};
use crate::sections::exec::Ports;
use crate::sections::{app, grants, services};
use crate::service::{Protocol, Selector, DEFAULT_SELECTOR_TIMEOUT, MAX_SELECTOR_TIMEOUT};

pub(crate) const KEYS: &[&str] = &["bundle", "exec", "timeout", "headers", "limits"];

pub(crate) fn read(ctx: &mut Ctx<'_>, table: &Section<'_>, protocol: Protocol) -> Option<Selector> {
    let bundle = app::bundle(ctx, table);
    let exec = app::required_exec(ctx, table, Ports::None("selectors"));
    let timeout = timeout(ctx, table);
    let headers = headers(ctx, table, protocol);
    let limits = grants::limits(ctx, table);
    Some(Selector {
        bundle: PathBuf::from(bundle?),
        exec: exec?,
        timeout: timeout?,
        headers: headers?,
        limits,
    })
}

/// Every connection waits for the answer, up to this long.
fn timeout(ctx: &mut Ctx<'_>, table: &Section<'_>) -> Option<std::time::Duration> {
    let Some(field) = ctx.positive_duration(table, "timeout") else {
        return find(table, "timeout")
            .is_none()
            .then_some(DEFAULT_SELECTOR_TIMEOUT);
    };
    if field.value > MAX_SELECTOR_TIMEOUT {
        let message = format!("{} must be at most 1s", field.path.describe());
        let help = "every connection waits for the selector's answer, and past `timeout` the default algorithm picks anyway: keep it short (default 5ms)";
        ctx.error(field.span(), message, Some(help.to_owned()));
        return None;
    }
    Some(field.value)
}

/// `headers`: request headers the selector is shown, lower case, each once,
/// in the order written.
fn headers(ctx: &mut Ctx<'_>, table: &Section<'_>, protocol: Protocol) -> Option<Vec<String>> {
    let Some(list) = ctx.strings(table, "headers") else {
        return find(table, "headers").is_none().then(Vec::new);
    };
    let mut seen = BTreeSet::new();
    let mut headers = Vec::new();
    let mut ok = true;
    for header in &list.value {
        if let Some(rule) = names::header_name_problem(header.value) {
            let message = format!("`{}` is not a valid header name", header.value);
            ctx.error(header.span(), message, Some(rule.to_owned()));
            ok = false;
        } else if seen.insert(header.value.to_ascii_lowercase()) {
            headers.push(header.value.to_ascii_lowercase());
        } else {
            let message = format!("`{}` is listed twice in `headers`", header.value);
            let help = "header names are the same in any case: list each once";
            ctx.error(header.span(), message, Some(help.to_owned()));
            ok = false;
        }
    }
    if protocol != Protocol::Http && !list.value.is_empty() {
        services::needs_http(ctx, list.span(), &list.path.describe());
        return None;
    }
    ok.then_some(headers)
}
