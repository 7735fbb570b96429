//! Names and uids: an app and a job may not share either, and a service's
//! selector runs under a uid of its own too.

use std::collections::BTreeMap;

use crate::diag::Diagnostic;
use crate::model::Manifest;
use crate::service::Balance;
use crate::uid::{app_uid, job_uid, selector_uid};

pub(crate) fn check(manifest: &Manifest) -> Vec<Diagnostic> {
    let locations = &manifest.locations;
    let mut found = Vec::new();
    for name in manifest
        .jobs
        .keys()
        .filter(|j| manifest.apps.contains_key(*j))
    {
        let message = format!("`{name}` is both an app and a job");
        let help =
            "give them different names: a name is also a host name, a directory and a cgroup";
        let at = locations.key(&format!("jobs.{name}")).unwrap_or_default();
        found.push(Diagnostic::new(
            locations.file(),
            at,
            message,
            Some(help.to_owned()),
        ));
    }
    // uid -> (kind, name, key path), in the order apps, jobs, selectors.
    let mut owners: BTreeMap<u32, (&str, &str, String)> = BTreeMap::new();
    let everyone = manifest
        .apps
        .keys()
        .map(|a| ("app", a.as_str(), app_uid(a), format!("apps.{a}")))
        .chain(
            manifest
                .jobs
                .keys()
                .map(|j| ("job", j.as_str(), job_uid(j), format!("jobs.{j}"))),
        )
        .chain(
            manifest
                .services
                .iter()
                .filter(|(_, s)| matches!(s.balance, Balance::Program(_)))
                .map(|(s, _)| {
                    let path = format!("services.{s}.selector");
                    ("the selector of service", s.as_str(), selector_uid(s), path)
                }),
        );
    for (kind, name, uid, path) in everyone {
        if let Some((other_kind, other_name, _)) = owners.get(&uid) {
            let message = format!(
                "{other_kind} `{other_name}` and {kind} `{name}` would both run as uid {uid} (uids are derived from names)"
            );
            let at = locations.key(&path).unwrap_or_default();
            let help = "rename one of them; any other name gives another uid";
            found.push(Diagnostic::new(
                locations.file(),
                at,
                message,
                Some(help.to_owned()),
            ));
        } else {
            owners.insert(uid, (kind, name, path));
        }
    }
    found
}
