//! The manifest as `cairn dev` runs it: the file with every `--set` applied
//! and validated like the file, `--offset` added to `system.port_offset`,
//! and every bundle present. Each problem is a diagnostic that names the
//! file's `line:column`, or the `--set` argument that caused it.

use std::path::Path;

use cairn_manifest::overrides::{self, Override};
use cairn_manifest::{Diagnostic, Diagnostics, Manifest, PathGrant};

/// Parses every `--set` argument; all bad ones are reported together.
pub fn parse_overrides(args: &[String]) -> Result<Vec<Override>, Diagnostics> {
    let mut found = Vec::new();
    let mut parsed = Vec::new();
    for arg in args {
        match Override::parse(arg) {
            Ok(o) => parsed.push(o),
            Err(d) => found.push(d),
        }
    }
    if found.is_empty() {
        Ok(parsed)
    } else {
        Err(Diagnostics(found))
    }
}

/// Loads `path` with `overrides`, shifts every port by `offset` on top of
/// the manifest's own `port_offset`, and checks that the bundles exist.
pub fn load(path: &Path, overrides: &[Override], offset: u16) -> Result<Manifest, Diagnostics> {
    let manifest = overrides::load_with_overrides(path, overrides)?;
    let base = manifest.system.port_offset;
    let total = base.checked_add(offset).ok_or_else(|| {
        Diagnostics::from(Diagnostic::new(
            "--offset",
            cairn_manifest::Location::NONE,
            format!("{offset} plus system.port_offset {base} is above 65535"),
            None,
        ))
    })?;
    let manifest = manifest.with_port_offset(total)?;
    check_bundles(&manifest, path, overrides)?;
    Ok(manifest)
}

/// Every app's bundle and shipped path must exist on this machine.
fn check_bundles(
    manifest: &Manifest,
    path: &Path,
    overrides: &[Override],
) -> Result<(), Diagnostics> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let mut found = Vec::new();
    let mut missing = |key: String, what: &Path| {
        let host = dir.join(what);
        if host.exists() {
            return;
        }
        found.push(overrides::diagnostic_at(
            manifest,
            overrides,
            &key,
            &format!(
                "`{}` does not exist (looked for {})",
                what.display(),
                host.display()
            ),
            Some("host paths are relative to the manifest's directory; build the bundle first"),
        ));
    };
    for (name, app) in &manifest.apps {
        missing(format!("apps.{name}.bundle"), &app.bundle);
        for (inside, grant) in &app.paths {
            if let PathGrant::Bundle { source, .. } = grant {
                missing(format!("apps.{name}.paths.{inside}.bundle"), source);
            }
        }
    }
    if found.is_empty() {
        Ok(())
    } else {
        Err(Diagnostics(found))
    }
}

/// After staging: each app's `exec[0]` must be in its tree.
pub fn check_exec(
    manifest: &Manifest,
    apps_root: &Path,
    overrides: &[Override],
) -> Result<(), Diagnostics> {
    let mut found = Vec::new();
    for (name, app) in &manifest.apps {
        let Some(program) = app.exec.first() else {
            continue;
        };
        let inside = program.trim_start_matches('/');
        if apps_root
            .join(name)
            .join(inside)
            .symlink_metadata()
            .is_err()
        {
            found.push(overrides::diagnostic_at(
                manifest,
                overrides,
                &format!("apps.{name}.exec.0"),
                &format!("`{program}` is not in the tree of apps.{name}"),
                Some("exec[0] is a path inside the app's tree: a single-program bundle lands at /bin/<its file name>"),
            ));
        }
    }
    if found.is_empty() {
        Ok(())
    } else {
        Err(Diagnostics(found))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp(tag: &str) -> std::path::PathBuf {
        let dir =
            std::env::temp_dir().join(format!("cairn-dev-manifest-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("build")).unwrap();
        std::fs::write(dir.join("build/web"), b"#!/bin/sh\n").unwrap();
        let text = "version = 1\n\n[apps.web]\nbundle = \"build/web\"\nexec = [\"/bin/web\"]\nports.http = 8080\n";
        std::fs::write(dir.join("system.toml"), text).unwrap();
        dir
    }

    fn args(list: &[&str]) -> Vec<Override> {
        parse_overrides(&list.iter().map(|s| s.to_string()).collect::<Vec<_>>()).unwrap()
    }

    #[test]
    fn offset_adds_to_the_manifests_own() {
        let dir = temp("offset");
        let path = dir.join("system.toml");
        let m = load(&path, &args(&["system.port_offset=5"]), 1000).unwrap();
        assert_eq!(m.system.port_offset, 1005);
        assert_eq!(
            m.apps["web"].port_for("http", m.system.port_offset, 1),
            Some(9086)
        );
        let err = load(&path, &[], 60000).unwrap_err().to_string();
        assert!(err.contains("65535"), "{err}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_missing_bundle_set_on_the_command_line_names_the_argument() {
        let dir = temp("bundle");
        let path = dir.join("system.toml");
        let err = load(&path, &args(&["apps.web.bundle=build/gone"]), 0)
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("--set apps.web.bundle=build/gone: error: `build/gone` does not exist"),
            "{err}"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn all_bad_arguments_are_reported_at_once() {
        let list = ["a", "apps.web.instances=2", "b"].map(String::from);
        let err = parse_overrides(&list).unwrap_err();
        assert_eq!(err.len(), 2);
        assert!(err
            .to_string()
            .starts_with("--set a: error: expected KEY=VALUE"));
    }
}
