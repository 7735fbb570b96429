//! Checks across apps, jobs and services, made once every part has been
//! read.

mod identity;
mod order;
mod ports;
mod services;
mod uses;

use crate::diag::Diagnostic;
use crate::model::Manifest;

pub(crate) use ports::check as check_ports;

/// Everything that concerns more than one app, job or service.
pub(crate) fn check(manifest: &Manifest) -> Vec<Diagnostic> {
    let mut found = ports::check(manifest, manifest.system.port_offset);
    found.extend(order::check(manifest));
    found.extend(identity::check(manifest));
    found.extend(services::check(manifest));
    found.extend(uses::check(manifest));
    found
}
