//! Every port of every app instance and every service's `listen` must
//! exist and belong to one owner only, and none may be the control API's.

use std::collections::{BTreeMap, BTreeSet};

use crate::diag::Diagnostic;
use crate::model::Manifest;

/// Who listens on a port.
#[derive(Debug, Clone, Copy)]
enum Claim<'m> {
    /// Instance `instance` of an app on one of its declared ports.
    App {
        app: &'m str,
        port: &'m str,
        instance: u32,
        instances: u32,
    },
    /// The OS, for a service, on every interface.
    Listen { service: &'m str },
}

impl Claim<'_> {
    fn key_path(&self) -> String {
        match self {
            Claim::App { app, port, .. } => format!("apps.{app}.ports.{port}"),
            Claim::Listen { service } => format!("services.{service}.listen"),
        }
    }

    fn describe(&self) -> String {
        match *self {
            Claim::App {
                app,
                port,
                instance,
                instances,
            } if instances > 1 => format!("app `{app}` port `{port}` (instance {instance})"),
            Claim::App { app, port, .. } => format!("app `{app}` port `{port}`"),
            Claim::Listen { service } => format!("service `{service}`"),
        }
    }

    fn is_listen(&self) -> bool {
        matches!(self, Claim::Listen { .. })
    }
}

/// Instance `i` of an app listens on `base + offset + i` for each port, a
/// service on `listen + offset`. Checks that every such port is at most
/// 65535 and claimed once.
pub(crate) fn check(manifest: &Manifest, offset: u16) -> Vec<Diagnostic> {
    let mut ledger = Ledger {
        manifest,
        control: u32::from(manifest.control.port) + u32::from(offset),
        claims: BTreeMap::new(),
        reported: BTreeSet::new(),
        found: Vec::new(),
    };
    if ledger.control > 65535 {
        let message = format!(
            "the control API would listen on port {} ({} + port_offset {offset}), beyond 65535",
            ledger.control, manifest.control.port
        );
        let help = "lower [control] port or port_offset";
        let at = manifest
            .locations
            .diagnostic_at("control.port", &message, Some(help));
        ledger.found.push(at);
    }
    for (app_name, app) in &manifest.apps {
        for (port_name, base) in &app.ports {
            for instance in 0..app.instances {
                let claim = Claim::App {
                    app: app_name,
                    port: port_name,
                    instance,
                    instances: app.instances,
                };
                let sum = format!("{base} + port_offset {offset} + instance {instance}");
                let number = u32::from(*base) + u32::from(offset) + instance;
                if !ledger.claim(number, claim, &sum) {
                    break;
                }
            }
        }
    }
    // Services after apps: where a listen port meets an app's, the service
    // is the one to move (backends are where they are for other reasons too).
    for (name, service) in &manifest.services {
        if service.listen == 0 {
            continue; // not written, and reported
        }
        let claim = Claim::Listen { service: name };
        let sum = format!("{} + port_offset {offset}", service.listen);
        ledger.claim(service.listen_port(offset), claim, &sum);
    }
    ledger.found
}

/// The ports claimed so far, and what was found wrong.
struct Ledger<'m> {
    manifest: &'m Manifest,
    control: u32,
    claims: BTreeMap<u32, Claim<'m>>,
    // Each pair of claimants is reported once, not once per instance.
    reported: BTreeSet<(String, String)>,
    found: Vec<Diagnostic>,
}

impl<'m> Ledger<'m> {
    /// Records `claim` on port `number` (`sum` says how it was reached).
    /// False when the claimant's further instances would only repeat the
    /// problem.
    fn claim(&mut self, number: u32, claim: Claim<'m>, sum: &str) -> bool {
        let refused = if number > 65535 {
            Some((
                format!(
                    "{} would listen on port {number} ({sum}), beyond 65535",
                    claim.describe()
                ),
                [
                    "lower `listen` or port_offset",
                    "lower the port, port_offset or instances",
                ],
            ))
        } else if number == self.control {
            Some((
                format!(
                    "{} would listen on port {number}, the control API's ([control] port + port_offset)",
                    claim.describe()
                ),
                [
                    "choose another `listen`, or set another [control] port",
                    "move the app's port, or set another [control] port",
                ],
            ))
        } else {
            None
        };
        let locations = &self.manifest.locations;
        if let Some((message, [listen_help, app_help])) = refused {
            let help = if claim.is_listen() {
                listen_help
            } else {
                app_help
            };
            let at = locations.diagnostic_at(&claim.key_path(), &message, Some(help));
            self.found.push(at);
            return false;
        }
        let Some(earlier) = self.claims.get(&number).copied() else {
            self.claims.insert(number, claim);
            return true;
        };
        if !self.reported.insert((earlier.key_path(), claim.key_path())) {
            return true;
        }
        // Blame whichever was written later in the file.
        let (first, second) =
            if locations.nearest(&earlier.key_path()) <= locations.nearest(&claim.key_path()) {
                (earlier, claim)
            } else {
                (claim, earlier)
            };
        let message = format!(
            "port {number} is claimed twice: by {} and by {}",
            first.describe(),
            second.describe()
        );
        let help = match (first.is_listen(), second.is_listen()) {
            (true, true) => "each service needs a `listen` port of its own: change one",
            (false, false) => "instance i of an app listens on each of its ports + port_offset + i; move one port so the ranges do not meet",
            _ => "the OS binds a service's `listen` on every interface, so no app may use that port: choose another `listen`, or move the app's port",
        };
        let at = locations.diagnostic_at(&second.key_path(), &message, Some(help));
        self.found.push(at);
        true
    }
}
