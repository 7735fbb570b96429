//! Checks across apps and jobs, made once every part has been read.

mod identity;
mod order;
mod ports;

use crate::diag::Diagnostic;
use crate::model::Manifest;

pub(crate) use ports::check as check_ports;

/// Everything that concerns more than one app or job.
pub(crate) fn check(manifest: &Manifest) -> Vec<Diagnostic> {
    let mut found = ports::check(manifest, manifest.system.port_offset);
    found.extend(order::check(manifest));
    found.extend(identity::check(manifest));
    found
}
