//! `uses`: every name is another app or a service of this manifest, each
//! once; and `env` does not set what the OS sets for those services.

use std::collections::BTreeSet;

use crate::cross::services::on_demand_service;
use crate::diag::Diagnostic;
use crate::model::Manifest;
use crate::suggest;

pub(crate) fn check(manifest: &Manifest) -> Vec<Diagnostic> {
    let locations = &manifest.locations;
    let mut found = Vec::new();
    for (name, app) in &manifest.apps {
        let mut seen = BTreeSet::new();
        for (i, used) in app.uses.iter().enumerate() {
            if let Some((message, help)) = problem(manifest, name, used, &mut seen) {
                let at = format!("apps.{name}.uses.{i}");
                found.push(locations.diagnostic_at(&at, &message, Some(&help)));
            }
        }
        for (variable, address) in manifest.service_env(name) {
            if app.env.contains_key(&variable) {
                let message = format!("`{variable}` is set by the OS for a service this app uses");
                let help = format!("remove it from `env`: the app finds the service at {address}");
                let at = format!("apps.{name}.env.{variable}");
                found.push(locations.diagnostic_at(&at, &message, Some(&help)));
            }
        }
    }
    found
}

/// What is wrong with `used` in the `uses` of app `app`, and the help.
fn problem<'m>(
    manifest: &'m Manifest,
    app: &str,
    used: &'m str,
    seen: &mut BTreeSet<&'m str>,
) -> Option<(String, String)> {
    let is_service = manifest.services.contains_key(used);
    if used == app {
        let help = "`uses` lists the other apps and the services this app connects to";
        return Some((format!("app `{app}` cannot use itself"), help.to_owned()));
    }
    if !is_service && !manifest.apps.contains_key(used) {
        if manifest.jobs.contains_key(used) {
            let help = "a job runs on a schedule and listens on no port: nothing connects to it";
            return Some((
                format!("`{used}` is a job; `uses` lists apps and services"),
                help.to_owned(),
            ));
        }
        let known = manifest.apps.keys().chain(manifest.services.keys());
        let help = suggest::did_you_mean(used, known.map(String::as_str)).unwrap_or_else(|| {
            "`uses` lists apps and services of this manifest by name".to_owned()
        });
        let message =
            format!("app `{app}` uses `{used}`, which is not an app or a service in this manifest");
        return Some((message, help));
    }
    if !seen.insert(used) {
        let help = "list each name once".to_owned();
        return Some((format!("`{used}` is listed twice in `uses`"), help));
    }
    if is_service {
        return None;
    }
    // Only a connection to its service starts an on-demand app; one to
    // the app's own ports would find nothing listening.
    let service = on_demand_service(manifest, used)?;
    let message = format!("app `{app}` uses app `{used}` directly, but `{used}` starts on demand");
    let help = format!("connections to its service start it: write uses = [\"{service}\"]");
    Some((message, help))
}
