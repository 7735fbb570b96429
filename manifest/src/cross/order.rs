//! `after`: names existing apps, not itself, and never a circle.

use std::collections::{BTreeMap, BTreeSet};

use crate::diag::Diagnostic;
use crate::model::Manifest;
use crate::suggest;

pub(crate) fn check(manifest: &Manifest) -> Vec<Diagnostic> {
    let locations = &manifest.locations;
    let mut found = Vec::new();
    // Edges app -> (index in its `after`, app it waits for), valid ones only.
    let mut edges: BTreeMap<&str, Vec<(usize, &str)>> = BTreeMap::new();
    for (name, app) in &manifest.apps {
        let mut seen = BTreeSet::new();
        for (i, dependency) in app.after.iter().enumerate() {
            let at = format!("apps.{name}.after.{i}");
            let problem = if dependency == name {
                Some((format!("app `{name}` cannot start after itself"), None))
            } else if manifest.jobs.contains_key(dependency)
                && !manifest.apps.contains_key(dependency)
            {
                Some((format!("`{dependency}` is a job; `after` lists apps"), None))
            } else if !manifest.apps.contains_key(dependency) {
                let help =
                    suggest::did_you_mean(dependency, manifest.apps.keys().map(String::as_str))
                        .unwrap_or_else(|| {
                            "`after` lists other apps of this manifest by name".to_owned()
                        });
                let message = format!(
                    "app `{name}` starts after `{dependency}`, which is not an app in this manifest"
                );
                Some((message, Some(help)))
            } else if !seen.insert(dependency.as_str()) {
                Some((format!("`{dependency}` is listed twice in `after`"), None))
            } else {
                edges.entry(name).or_default().push((i, dependency));
                None
            };
            if let Some((message, help)) = problem {
                found.push(locations.diagnostic_at(&at, &message, help.as_deref()));
            }
        }
    }
    for (closing_app, index, circle) in circles(&edges) {
        let message = format!(
            "apps wait for each other in a circle: {}",
            circle.join(" -> ")
        );
        let help = "remove one of these names from an `after` list";
        let at = format!("apps.{closing_app}.after.{index}");
        found.push(locations.diagnostic_at(&at, &message, Some(help)));
    }
    found
}

/// Every distinct circle, found by depth-first search: the app whose `after`
/// entry closes it, that entry's index, and the circle as a path of names
/// that starts and ends with the same app.
fn circles<'a>(
    edges: &BTreeMap<&'a str, Vec<(usize, &'a str)>>,
) -> Vec<(&'a str, usize, Vec<&'a str>)> {
    #[derive(Clone, Copy, PartialEq)]
    enum Mark {
        Active,
        Done,
    }
    fn visit<'a>(
        app: &'a str,
        edges: &BTreeMap<&'a str, Vec<(usize, &'a str)>>,
        marks: &mut BTreeMap<&'a str, Mark>,
        stack: &mut Vec<&'a str>,
        out: &mut Vec<(&'a str, usize, Vec<&'a str>)>,
        seen: &mut BTreeSet<Vec<&'a str>>,
    ) {
        marks.insert(app, Mark::Active);
        stack.push(app);
        for &(index, next) in edges.get(app).into_iter().flatten() {
            match marks.get(next) {
                Some(Mark::Active) => {
                    let from = stack.iter().position(|a| *a == next).unwrap_or(0);
                    let mut circle: Vec<&str> = stack[from..].to_vec();
                    let mut key = circle.clone();
                    key.sort_unstable();
                    if seen.insert(key) {
                        circle.push(next);
                        out.push((app, index, circle));
                    }
                }
                Some(Mark::Done) => {}
                None => visit(next, edges, marks, stack, out, seen),
            }
        }
        stack.pop();
        marks.insert(app, Mark::Done);
    }
    let mut marks = BTreeMap::new();
    let mut out = Vec::new();
    let mut seen = BTreeSet::new();
    for app in edges.keys() {
        if !marks.contains_key(app) {
            visit(app, edges, &mut marks, &mut Vec::new(), &mut out, &mut seen);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_each_circle_once() {
        let mut edges = BTreeMap::new();
        edges.insert("a", vec![(0, "b")]);
        edges.insert("b", vec![(0, "c")]);
        edges.insert("c", vec![(0, "a"), (1, "d")]);
        edges.insert("d", vec![]);
        edges.insert("x", vec![(0, "y")]);
        edges.insert("y", vec![(0, "x")]);
        let found = circles(&edges);
        assert_eq!(
            found,
            vec![
                ("c", 0, vec!["a", "b", "c", "a"]),
                ("y", 0, vec!["x", "y", "x"])
            ]
        );
    }

    #[test]
    fn a_chain_is_no_circle() {
        let mut edges = BTreeMap::new();
        edges.insert("web", vec![(0, "db"), (1, "cache")]);
        edges.insert("cache", vec![(0, "db")]);
        assert!(circles(&edges).is_empty());
    }
}
