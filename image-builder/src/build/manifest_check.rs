//! The manifest as the builder sees it: parsed and validated by the manifest
//! crate, then checked against the host (do the bundles exist? does each
//! TLS remote have a CA file PID 1 can use?) and against the staged bank (is
//! each `exec[0]` in its tree?). Every error points at `file:line:column` in
//! the manifest.

use std::path::Path;

use cairn_manifest::{Diagnostic, Diagnostics, Manifest, PathGrant};

use super::fsutil::under;
use super::logging_ca::{self, CaFile};
use super::BuildError;

/// Loads `path` and checks that every bundle it names exists and that each
/// `syslog+tls` remote has a usable CA file; returns the manifest and those
/// CA files.
pub fn load(path: &Path) -> Result<(Manifest, Vec<CaFile>), BuildError> {
    let manifest =
        cairn_manifest::load(path).map_err(|diags| BuildError::Manifest(diags.to_string()))?;
    let dir = path.parent().unwrap_or(Path::new("."));
    let mut found = Vec::new();
    for (kind, name, bundle, paths) in trees(&manifest) {
        if !dir.join(bundle).exists() {
            found.push(missing(
                &manifest,
                &format!("{kind}.{name}.bundle"),
                bundle,
                dir,
            ));
        }
        for (inside, grant) in paths {
            if let PathGrant::Bundle { source, .. } = grant {
                if !dir.join(source).exists() {
                    let key = format!("{kind}.{name}.paths.{inside}.bundle");
                    found.push(missing(&manifest, &key, source, dir));
                }
            }
        }
    }
    let (cas, ca_errors) = logging_ca::resolve(&manifest, dir, Path::new(logging_ca::HOST_BUNDLE));
    found.extend(ca_errors);
    into_result(found)?;
    Ok((manifest, cas))
}

/// After staging: each app's and job's `exec[0]` must be in its tree.
pub fn check_exec(manifest: &Manifest, stage: &Path) -> Result<(), BuildError> {
    let mut found = Vec::new();
    let programs = manifest
        .apps
        .iter()
        .map(|(n, a)| ("apps", n, &a.exec))
        .chain(manifest.jobs.iter().map(|(n, j)| ("jobs", n, &j.exec)));
    for (kind, name, exec) in programs {
        let Some(program) = exec.first() else {
            continue;
        };
        let tree = stage.join(kind).join(name);
        if under(&tree, Path::new(program)).symlink_metadata().is_err() {
            found.push(manifest.diagnostic_at(
                &format!("{kind}.{name}.exec.0"),
                &format!("`{program}` is not in the tree of {kind}.{name}"),
                Some("exec[0] is a path inside the app's tree: a single-program bundle lands at /bin/<its file name>"),
            ));
        }
    }
    into_result(found)
}

type TreeSource<'a> = (
    &'static str,
    &'a String,
    &'a Path,
    &'a std::collections::BTreeMap<String, PathGrant>,
);

fn trees(manifest: &Manifest) -> impl Iterator<Item = TreeSource<'_>> {
    manifest
        .apps
        .iter()
        .map(|(n, a)| ("apps", n, a.bundle.as_path(), &a.paths))
        .chain(
            manifest
                .jobs
                .iter()
                .map(|(n, j)| ("jobs", n, j.bundle.as_path(), &j.paths)),
        )
}

fn missing(manifest: &Manifest, key: &str, bundle: &Path, dir: &Path) -> Diagnostic {
    manifest.diagnostic_at(
        key,
        &format!(
            "bundle `{}` does not exist (looked for {})",
            bundle.display(),
            dir.join(bundle).display()
        ),
        Some("bundle paths are relative to the manifest's directory; build the bundle first"),
    )
}

fn into_result(found: Vec<Diagnostic>) -> Result<(), BuildError> {
    if found.is_empty() {
        Ok(())
    } else {
        Err(BuildError::Manifest(Diagnostics(found).to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp(tag: &str) -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!("cairn-mcheck-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    const MANIFEST: &str = "version = 1\n\n[apps.web]\nbundle = \"build/web\"\nexec = [\"/bin/web\"]\n\n[apps.web.paths]\n\"/etc/web\" = { bundle = \"conf\" }\n";

    #[test]
    fn missing_bundles_point_at_their_lines() {
        let dir = temp("missing");
        let path = dir.join("system.toml");
        std::fs::write(&path, MANIFEST).unwrap();
        let err = load(&path).unwrap_err();
        assert!(err.is_manifest_error());
        let text = err.to_string();
        assert!(text.contains("system.toml:4:10"), "{text}");
        assert!(text.contains("bundle `build/web` does not exist"), "{text}");
        assert!(text.contains("system.toml:8:"), "{text}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_missing_ca_is_reported_with_the_missing_bundles() {
        let dir = temp("ca");
        let path = dir.join("system.toml");
        let text = format!(
            "{MANIFEST}\n[[logging.remote]]\nurl = \"syslog+tls://10.0.2.2\"\nca = \"ca.pem\"\n"
        );
        std::fs::write(&path, text).unwrap();
        let text = load(&path).unwrap_err().to_string();
        assert!(text.contains("system.toml:4:10"), "{text}");
        assert!(
            text.contains("system.toml:12:6: error: CA file `ca.pem` does not exist"),
            "{text}"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn exec_outside_the_tree_is_reported() {
        let dir = temp("exec");
        let path = dir.join("system.toml");
        std::fs::write(&path, MANIFEST).unwrap();
        std::fs::create_dir_all(dir.join("build")).unwrap();
        std::fs::write(dir.join("build/web"), b"#!/bin/sh\n").unwrap();
        std::fs::create_dir_all(dir.join("conf")).unwrap();
        let (manifest, cas) = load(&path).unwrap();
        assert!(cas.is_empty());
        let stage = dir.join("stage");
        std::fs::create_dir_all(stage.join("apps/web/bin")).unwrap();
        let err = check_exec(&manifest, &stage).unwrap_err().to_string();
        assert!(err.contains("system.toml:5:"), "{err}");
        std::fs::write(stage.join("apps/web/bin/web"), b"").unwrap();
        check_exec(&manifest, &stage).unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
