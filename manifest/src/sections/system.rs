//! `[system]`: host name, time zone, port offset.

use crate::model::System;
use crate::names;
use crate::reader::{Ctx, Section};
use crate::zones;

const KEYS: &[&str] = &["hostname", "timezone", "port_offset"];

pub(crate) const DEFAULT_HOSTNAME: &str = "cairn";
pub(crate) const DEFAULT_TIMEZONE: &str = "UTC";

pub(crate) fn read(ctx: &mut Ctx<'_>, root: &Section<'_>) -> System {
    let mut system = System {
        hostname: DEFAULT_HOSTNAME.to_owned(),
        timezone: DEFAULT_TIMEZONE.to_owned(),
        port_offset: 0,
    };
    let Some(section) = ctx.table(root, "system", KEYS) else {
        return system;
    };
    if let Some(hostname) = ctx.string(&section, "hostname") {
        match names::hostname_problem(hostname.value) {
            None => system.hostname = hostname.value.to_owned(),
            Some(rule) => {
                let message = format!("`{}` is not a valid host name", hostname.value);
                ctx.error(hostname.span(), message, Some(rule.to_owned()));
            }
        }
    }
    if let Some(zone) = timezone(ctx, &section) {
        system.timezone = zone;
    }
    let offset_help = "port_offset is added to every port; it is 0 or more, and every port plus it must stay at most 65535";
    if let Some(offset) = ctx.integer_in(&section, "port_offset", 0..=65535, offset_help) {
        system.port_offset = u16::try_from(offset.value).unwrap_or(0);
    }
    system
}

/// Reads and checks a `timezone` key of `section` (also used by jobs).
pub(crate) fn timezone(ctx: &mut Ctx<'_>, section: &Section<'_>) -> Option<String> {
    let zone = ctx.string(section, "timezone")?;
    if zones::is_known_zone(zone.value) {
        return Some(zone.value.to_owned());
    }
    let message = format!("unknown time zone `{}`", zone.value);
    let help = match zones::closest_zone(zone.value) {
        Some(closest) => format!("did you mean `{closest}`?"),
        None => "time zones are IANA names like \"Europe/Berlin\", \"America/New_York\" or \"UTC\""
            .to_owned(),
    };
    ctx.error(zone.span(), message, Some(help));
    None
}
