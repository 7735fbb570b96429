//! An app's (or job's) tree in the bank: its bundle, the runtime a dynamic
//! program needs, the files its path grants ship, and mount points for the
//! grants PID 1 fills at run time.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use cairn_manifest::PathGrant;

use super::elf;
use super::fsutil::{copy_any, copy_file, make_dirs, under};
use super::BuildError;

/// What a bundle turned out to be (reported in the inventory).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BundleKind {
    Directory,
    StaticElf,
    DynamicElf,
    Script,
}

/// Fills `tree` from the bundle at `bundle` (a host path) and the grants.
pub fn stage(
    tree: &Path,
    bundle: &Path,
    manifest_dir: &Path,
    paths: &BTreeMap<String, PathGrant>,
) -> Result<BundleKind, BuildError> {
    make_dirs(tree)?;
    let kind = stage_bundle(tree, bundle)?;
    for (path, grant) in paths {
        let target = under(tree, Path::new(path));
        match grant {
            PathGrant::Bundle { source, .. } => copy_any(&manifest_dir.join(source), &target)?,
            PathGrant::State | PathGrant::Tmpfs => make_dirs(&target)?,
        }
    }
    Ok(kind)
}

fn stage_bundle(tree: &Path, bundle: &Path) -> Result<BundleKind, BuildError> {
    let meta = std::fs::metadata(bundle).map_err(BuildError::io(format!(
        "cannot read bundle {}",
        bundle.display()
    )))?;
    if meta.is_dir() {
        copy_any(bundle, tree)?;
        return Ok(BundleKind::Directory);
    }
    let name = bundle.file_name().ok_or_else(|| {
        BuildError::Invalid(format!("bundle {} has no file name", bundle.display()))
    })?;
    let exe_tree = Path::new("/bin").join(name);
    copy_file(bundle, &under(tree, &exe_tree), None)?;
    let Some(info) = elf::inspect(bundle)? else {
        return Ok(BundleKind::Script);
    };
    if !info.is_dynamic() {
        return Ok(BundleKind::StaticElf);
    }
    for placed in elf::collect_runtime(bundle, &exe_tree, &info)? {
        copy_file(&placed.host_path, &under(tree, &placed.tree_path), None)?;
    }
    Ok(BundleKind::DynamicElf)
}

/// The host path of a bundle written in a manifest.
pub fn host_path(manifest_dir: &Path, bundle: &Path) -> PathBuf {
    manifest_dir.join(bundle)
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    fn temp(tag: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("cairn-bundle-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn script_lands_in_bin_and_grants_are_placed() {
        let dir = temp("script");
        std::fs::write(dir.join("hello.sh"), b"#!/bin/sh\necho hi\n").unwrap();
        std::fs::set_permissions(dir.join("hello.sh"), std::fs::Permissions::from_mode(0o755))
            .unwrap();
        std::fs::create_dir_all(dir.join("conf")).unwrap();
        std::fs::write(dir.join("conf/app.ini"), b"x=1\n").unwrap();
        let mut paths = BTreeMap::new();
        paths.insert("/var/lib/app".to_string(), PathGrant::State);
        paths.insert("/tmp".to_string(), PathGrant::Tmpfs);
        paths.insert(
            "/etc/app".to_string(),
            PathGrant::Bundle {
                source: "conf".into(),
                readonly: true,
            },
        );
        let tree = dir.join("tree");
        let kind = stage(&tree, &dir.join("hello.sh"), &dir, &paths).unwrap();
        assert_eq!(kind, BundleKind::Script);
        assert!(tree.join("bin/hello.sh").is_file());
        assert!(tree.join("var/lib/app").is_dir());
        assert!(tree.join("tmp").is_dir());
        assert_eq!(
            std::fs::read(tree.join("etc/app/app.ini")).unwrap(),
            b"x=1\n"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn dynamic_program_brings_its_libraries() {
        let dir = temp("dynamic");
        let tree = dir.join("tree");
        let kind = stage(&tree, Path::new("/bin/true"), &dir, &BTreeMap::new()).unwrap();
        assert_eq!(kind, BundleKind::DynamicElf);
        assert!(tree.join("bin/true").is_file());
        let interp = elf::inspect(Path::new("/bin/true"))
            .unwrap()
            .unwrap()
            .interpreter
            .unwrap();
        assert!(under(&tree, Path::new(&interp)).is_file(), "{interp}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn static_program_is_alone() {
        let dir = temp("static");
        let tree = dir.join("tree");
        let exe = std::env::current_exe().unwrap();
        let kind = stage(&tree, &exe, &dir, &BTreeMap::new()).unwrap();
        assert_eq!(kind, BundleKind::StaticElf);
        let entries: Vec<_> = std::fs::read_dir(&tree).unwrap().collect();
        assert_eq!(entries.len(), 1, "only bin/");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
