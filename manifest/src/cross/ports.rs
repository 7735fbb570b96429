//! Every port of every instance must exist and belong to one app only, and
//! none may be the control API's.

use std::collections::{BTreeMap, BTreeSet};

use crate::diag::Diagnostic;
use crate::model::Manifest;

/// Who listens on a port: app, port name, instance.
#[derive(Debug, Clone, Copy)]
struct Claim<'m> {
    app: &'m str,
    port: &'m str,
    instance: u32,
    instances: u32,
}

impl Claim<'_> {
    fn key_path(&self) -> String {
        format!("apps.{}.ports.{}", self.app, self.port)
    }

    fn describe(&self) -> String {
        if self.instances > 1 {
            format!(
                "app `{}` port `{}` (instance {})",
                self.app, self.port, self.instance
            )
        } else {
            format!("app `{}` port `{}`", self.app, self.port)
        }
    }
}

/// Instance `i` of an app listens on `base + offset + i` for each port.
/// Checks that every such port is at most 65535 and claimed once.
pub(crate) fn check(manifest: &Manifest, offset: u16) -> Vec<Diagnostic> {
    let locations = &manifest.locations;
    let mut found = Vec::new();
    let control = u32::from(manifest.control.port) + u32::from(offset);
    if control > 65535 {
        let message = format!(
            "the control API would listen on port {control} ({} + port_offset {offset}), beyond 65535",
            manifest.control.port
        );
        let help = "lower [control] port or port_offset";
        found.push(locations.diagnostic_at("control.port", &message, Some(help)));
    }
    let mut claims: BTreeMap<u32, Claim<'_>> = BTreeMap::new();
    // Each pair of (app, port) claimants is reported once, not once per instance.
    let mut reported: BTreeSet<(String, String)> = BTreeSet::new();
    for (app_name, app) in &manifest.apps {
        for (port_name, base) in &app.ports {
            for instance in 0..app.instances {
                let claim = Claim {
                    app: app_name,
                    port: port_name,
                    instance,
                    instances: app.instances,
                };
                let number = u32::from(*base) + u32::from(offset) + instance;
                if number > 65535 {
                    let message = format!(
                        "{} would listen on port {number} ({base} + port_offset {offset} + instance {instance}), beyond 65535",
                        claim.describe()
                    );
                    let help = "lower the port, port_offset or instances";
                    found.push(locations.diagnostic_at(&claim.key_path(), &message, Some(help)));
                    break;
                }
                if number == control {
                    let message = format!(
                        "{} would listen on port {number}, the control API's ([control] port + port_offset)",
                        claim.describe()
                    );
                    let help = "move the app's port, or set another [control] port";
                    found.push(locations.diagnostic_at(&claim.key_path(), &message, Some(help)));
                    break;
                }
                let Some(earlier) = claims.get(&number).copied() else {
                    claims.insert(number, claim);
                    continue;
                };
                let pair = (earlier.key_path(), claim.key_path());
                if !reported.insert(pair) {
                    continue;
                }
                // Blame whichever was written later in the file.
                let (first, second) = if locations.nearest(&earlier.key_path())
                    <= locations.nearest(&claim.key_path())
                {
                    (earlier, claim)
                } else {
                    (claim, earlier)
                };
                let message = format!(
                    "port {number} is claimed twice: by {} and by {}",
                    first.describe(),
                    second.describe()
                );
                let help = "instance i of an app listens on each of its ports + port_offset + i; move one port so the ranges do not meet";
                found.push(locations.diagnostic_at(&second.key_path(), &message, Some(help)));
            }
        }
    }
    found
}
