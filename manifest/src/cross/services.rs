//! A service's backends exist; its name and its backend port have one
//! owner; an app behind services is started one way only, and nothing
//! waits at boot for an app that starts on demand.

use std::collections::BTreeMap;

use crate::diag::Diagnostic;
use crate::locations::Locations;
use crate::model::{App, Manifest};
use crate::service::{Service, Start};
use crate::suggest;

pub(crate) fn check(manifest: &Manifest) -> Vec<Diagnostic> {
    let locations = &manifest.locations;
    let mut found = Vec::new();
    // In file order, so that a clash is blamed on the service written later.
    let mut services: Vec<&Service> = manifest.services.values().collect();
    services.sort_by_key(|s| locations.nearest(&format!("services.{}", s.name)));
    // (app, port) -> the service in front of it.
    let mut backends: BTreeMap<(&str, &str), &str> = BTreeMap::new();
    // app -> the first service in front of it, which sets how it starts.
    let mut starts: BTreeMap<&str, &Service> = BTreeMap::new();
    for service in services {
        found.extend(name_owner(manifest, service));
        let Some(app) = backend_app(manifest, service, &mut found) else {
            continue;
        };
        if !backend_port(locations, app, service, &mut found) {
            continue;
        }
        let key = (service.app.as_str(), service.port.as_str());
        if let Some(earlier) = backends.insert(key, &service.name) {
            let message = format!(
                "app `{}` port `{}` is already behind service `{earlier}`",
                service.app, service.port
            );
            let help = "a backend port belongs to one service: point this one at another port of the app, or remove it";
            let at = format!("services.{}.port", service.name);
            found.push(locations.diagnostic_at(&at, &message, Some(help)));
            continue;
        }
        match starts.get(service.app.as_str()) {
            None => {
                starts.insert(&service.app, service);
            }
            Some(first) if first.start != service.start => {
                found.push(start_clash(locations, first, service));
            }
            Some(_) => {}
        }
    }
    found.extend(waits_for_on_demand(manifest));
    found
}

/// A service may share its name with the app it fronts (`[services.web]
/// app = "web"`), never with another app or a job: the name is also a host
/// name and an entry of `uses`, and must mean one thing.
fn name_owner(manifest: &Manifest, service: &Service) -> Option<Diagnostic> {
    let name = &service.name;
    let message = if manifest.jobs.contains_key(name) {
        format!("`{name}` is both a service and a job")
    } else if manifest.apps.contains_key(name) && service.app != *name {
        format!(
            "service `{name}` has the name of app `{name}`, but its backends are app `{}`",
            service.app
        )
    } else {
        return None;
    };
    let help = "a service may share its name only with the app it fronts: the name is also its host name and what `uses` lists; rename one of them";
    let locations = &manifest.locations;
    let at = locations
        .key(&format!("services.{name}"))
        .unwrap_or_default();
    Some(Diagnostic::new(
        locations.file(),
        at,
        message,
        Some(help.to_owned()),
    ))
}

/// The app behind `service`, if it is one of this manifest.
fn backend_app<'m>(
    manifest: &'m Manifest,
    service: &Service,
    found: &mut Vec<Diagnostic>,
) -> Option<&'m App> {
    if service.app.is_empty() {
        return None; // missing, and reported
    }
    if let Some(app) = manifest.apps.get(&service.app) {
        return Some(app);
    }
    let (message, help) = if manifest.jobs.contains_key(&service.app) {
        (
            format!(
                "`{}` is a job; a service's backends are an app's instances",
                service.app
            ),
            "a job runs on a schedule and listens on no port: name an app".to_owned(),
        )
    } else {
        let help = suggest::did_you_mean(&service.app, manifest.apps.keys().map(String::as_str))
            .unwrap_or_else(|| "`app` names an app of this manifest".to_owned());
        let message = format!(
            "service `{}` is in front of app `{}`, which is not an app in this manifest",
            service.name, service.app
        );
        (message, help)
    };
    let at = format!("services.{}.app", service.name);
    found.push(
        manifest
            .locations
            .diagnostic_at(&at, &message, Some(help.as_str())),
    );
    None
}

/// Whether the app declares the service's `port`; reports it if not.
fn backend_port(
    locations: &Locations,
    app: &App,
    service: &Service,
    found: &mut Vec<Diagnostic>,
) -> bool {
    if service.port.is_empty() {
        return false; // missing, and reported
    }
    if app.ports.contains_key(&service.port) {
        return true;
    }
    let message = format!(
        "service `{}` forwards to port `{}`, which app `{}` does not declare",
        service.name, service.port, app.name
    );
    let by_number = app
        .ports
        .iter()
        .find(|(_, number)| number.to_string() == service.port);
    let help = if let Some((name, _)) = by_number {
        format!("name the port, not its number: port = \"{name}\"")
    } else if let Some(close) =
        suggest::did_you_mean(&service.port, app.ports.keys().map(String::as_str))
    {
        close
    } else if app.ports.is_empty() {
        format!(
            "declare it under [apps.{}.ports], like `{} = 8080`",
            app.name, service.port
        )
    } else {
        let declared: Vec<String> = app.ports.keys().map(|p| format!("`{p}`")).collect();
        format!(
            "the ports app `{}` declares are {}",
            app.name,
            declared.join(", ")
        )
    };
    let at = format!("services.{}.port", service.name);
    found.push(locations.diagnostic_at(&at, &message, Some(&help)));
    false
}

/// Two services of one app that disagree on when it runs.
fn start_clash(locations: &Locations, first: &Service, later: &Service) -> Diagnostic {
    let how = |start: Start| match start {
        Start::Always => "at boot".to_owned(),
        Start::OnDemand { idle_stop } => {
            format!(
                "on demand (idle_stop {})",
                crate::units::format_duration(idle_stop)
            )
        }
    };
    let message = format!(
        "app `{}` would start {} for service `{}` but {} for service `{}`",
        later.app,
        how(first.start),
        first.name,
        how(later.start),
        later.name
    );
    let help = format!(
        "an app runs one way: give every service of app `{}` the same `start` and `idle_stop`",
        later.app
    );
    let at = format!("services.{}.start", later.name);
    locations.diagnostic_at(&at, &message, Some(&help))
}

/// `after` waits for an app to be ready at boot; an app that starts on
/// demand is not started at boot, so that wait would never end.
fn waits_for_on_demand(manifest: &Manifest) -> Vec<Diagnostic> {
    let mut found = Vec::new();
    for (name, app) in &manifest.apps {
        for (i, dependency) in app.after.iter().enumerate() {
            let Some(service) = on_demand_service(manifest, dependency) else {
                continue;
            };
            let message = format!(
                "app `{name}` starts after `{dependency}`, which starts on demand (service `{service}`)"
            );
            let help = format!(
                "an app that starts on demand is not started at boot, so nothing can wait for it: remove it from `after`, and reach it with uses = [\"{service}\"]"
            );
            let at = format!("apps.{name}.after.{i}");
            found.push(manifest.locations.diagnostic_at(&at, &message, Some(&help)));
        }
    }
    found
}

/// The first service that starts app `app` on demand, if any.
pub(crate) fn on_demand_service<'m>(manifest: &'m Manifest, app: &str) -> Option<&'m str> {
    manifest
        .services
        .values()
        .find(|s| s.app == app && matches!(s.start, Start::OnDemand { .. }))
        .map(|s| s.name.as_str())
}
