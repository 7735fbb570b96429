//! One reader per part of the manifest. Each reads its part, reports what is
//! wrong, and fills in defaults so the rest can still be checked.

mod app;
mod deploy;
mod exec;
mod grants;
mod health;
mod job;
mod logging;
mod network;
mod security;
mod selector;
mod services;
mod system;

use std::collections::BTreeMap;

use crate::locations::Locations;
use crate::model::Manifest;
use crate::reader::{find, Ctx};
use crate::tree::Node;

const ROOT_KEYS: &[&str] = &[
    "version", "system", "network", "apps", "logging", "jobs", "control", "update", "services",
];

/// The one schema version this release reads.
pub const SCHEMA_VERSION: u32 = 1;
pub use self::logging::DEFAULT_RATE_LIMIT;

/// Reads the whole tree. The result is meaningful only if `ctx` has no errors
/// afterwards; its `locations` are filled in by the caller.
pub(crate) fn read(ctx: &mut Ctx<'_>, root: &Node) -> Manifest {
    let section = ctx.root(root, ROOT_KEYS);
    version(ctx, &section);
    let system = system::read(ctx, &section);
    let network = network::read(ctx, &section);
    let apps: BTreeMap<_, _> = ctx
        .named_tables(&section, "apps", app::KEYS)
        .into_iter()
        .map(|(name, table)| (name.to_owned(), app::read(ctx, name, &table)))
        .collect();
    let logging = logging::read(ctx, &section);
    let jobs: BTreeMap<_, _> = ctx
        .named_tables(&section, "jobs", job::KEYS)
        .into_iter()
        .map(|(name, table)| {
            (
                name.to_owned(),
                job::read(ctx, name, &table, &system.timezone),
            )
        })
        .collect();
    let services = ctx
        .named_tables(&section, "services", services::KEYS)
        .into_iter()
        .map(|(name, table)| (name.to_owned(), services::read(ctx, name, &table)))
        .collect();
    Manifest {
        version: SCHEMA_VERSION,
        system,
        network,
        apps,
        logging,
        jobs,
        control: deploy::control(ctx, &section),
        update: deploy::update(ctx, &section),
        services,
        locations: Locations::default(),
    }
}

/// Reports a table name (`web` in `[apps.web]`) that cannot be an app's,
/// a job's or a service's: all three become host names and directories.
fn check_name(ctx: &mut Ctx<'_>, name: &str, table: &crate::reader::Section<'_>, kind: &str) {
    if let Some(rule) = crate::names::app_name_problem(name) {
        ctx.error_at_key(
            &table.path,
            format!("`{name}` is not a valid {kind} name"),
            Some(rule.to_owned()),
        );
    }
}

fn version(ctx: &mut Ctx<'_>, root: &crate::reader::Section<'_>) {
    if find(root, "version").is_none() {
        let help = format!("start the file with version = {SCHEMA_VERSION}");
        ctx.missing(root, "version", Some(help));
        return;
    }
    if let Some(version) = ctx.integer(root, "version") {
        if version.value != i64::from(SCHEMA_VERSION) {
            let message = format!("schema version {} is not supported", version.value);
            let help = format!("this release reads version = {SCHEMA_VERSION}");
            ctx.error(version.span(), message, Some(help));
        }
    }
}
