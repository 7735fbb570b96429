//! File copying for staging trees: modes kept (without set-id bits), symlinks
//! kept as symlinks, directories created 0755 whatever the umask.

use std::os::unix::fs::{symlink, PermissionsExt};
use std::path::Path;

use super::BuildError;

/// Permission bits kept from a source file: no set-uid/set-gid, apps never
/// gain privileges from their tree.
const KEPT_FILE_BITS: u32 = 0o777;
/// Directories keep the sticky bit too.
const KEPT_DIR_BITS: u32 = 0o1777;

fn io(context: String) -> impl FnOnce(std::io::Error) -> BuildError {
    BuildError::io(context)
}

fn set_mode(path: &Path, mode: u32) -> Result<(), BuildError> {
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
        .map_err(io(format!("cannot chmod {}", path.display())))
}

/// Creates `dir` and its missing parents with mode 0755.
pub fn make_dirs(dir: &Path) -> Result<(), BuildError> {
    if dir.as_os_str().is_empty() || dir.is_dir() {
        return Ok(());
    }
    if let Some(parent) = dir.parent() {
        make_dirs(parent)?;
    }
    match std::fs::create_dir(dir) {
        Ok(()) => set_mode(dir, 0o755),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists && dir.is_dir() => Ok(()),
        Err(e) => Err(io(format!("cannot create {}", dir.display()))(e)),
    }
}

/// Copies one file's content (following symlinks) to `dest`, with the
/// source's permission bits or `mode` when given.
pub fn copy_file(src: &Path, dest: &Path, mode: Option<u32>) -> Result<(), BuildError> {
    if let Some(parent) = dest.parent() {
        make_dirs(parent)?;
    }
    let meta = std::fs::metadata(src).map_err(io(format!("cannot stat {}", src.display())))?;
    if dest.symlink_metadata().is_ok() {
        std::fs::remove_file(dest).map_err(io(format!("cannot replace {}", dest.display())))?;
    }
    std::fs::copy(src, dest).map_err(io(format!(
        "cannot copy {} to {}",
        src.display(),
        dest.display()
    )))?;
    set_mode(
        dest,
        mode.unwrap_or(meta.permissions().mode()) & KEPT_FILE_BITS,
    )
}

/// Copies a directory tree as it is: files with their modes, symlinks as
/// symlinks, subdirectories with their modes. Other file types are refused.
pub fn copy_tree(src: &Path, dest: &Path) -> Result<(), BuildError> {
    make_dirs(dest)?;
    let mut entries: Vec<_> = std::fs::read_dir(src)
        .map_err(io(format!("cannot read {}", src.display())))?
        .collect::<Result<_, _>>()
        .map_err(io(format!("cannot read {}", src.display())))?;
    entries.sort_by_key(|e| e.file_name());
    for entry in entries {
        let from = entry.path();
        let to = dest.join(entry.file_name());
        let meta = std::fs::symlink_metadata(&from)
            .map_err(io(format!("cannot stat {}", from.display())))?;
        let kind = meta.file_type();
        if kind.is_symlink() {
            let target =
                std::fs::read_link(&from).map_err(io(format!("cannot read {}", from.display())))?;
            symlink(&target, &to).map_err(io(format!("cannot create {}", to.display())))?;
        } else if kind.is_dir() {
            copy_tree(&from, &to)?;
        } else if kind.is_file() {
            copy_file(&from, &to, None)?;
        } else {
            return Err(BuildError::Invalid(format!(
                "{} is not a file, directory or symlink; bundles cannot ship it",
                from.display()
            )));
        }
    }
    let mode = std::fs::metadata(src)
        .map_err(io(format!("cannot stat {}", src.display())))?
        .permissions()
        .mode();
    set_mode(dest, mode & KEPT_DIR_BITS)
}

/// Copies a file or a directory tree.
pub fn copy_any(src: &Path, dest: &Path) -> Result<(), BuildError> {
    if src.is_dir() {
        copy_tree(src, dest)
    } else {
        copy_file(src, dest, None)
    }
}

/// Joins an absolute in-tree path (`/bin/web`) under `root`.
pub fn under(root: &Path, tree_path: &Path) -> std::path::PathBuf {
    root.join(tree_path.strip_prefix("/").unwrap_or(tree_path))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tree_copy_keeps_modes_and_symlinks_and_drops_setuid() {
        let base = std::env::temp_dir().join(format!("cairn-fsutil-{}", std::process::id()));
        let src = base.join("src");
        std::fs::create_dir_all(src.join("sub")).unwrap();
        std::fs::write(src.join("run.sh"), b"#!/bin/sh\n").unwrap();
        set_mode(&src.join("run.sh"), 0o4755).unwrap();
        std::fs::write(src.join("sub/data"), b"d").unwrap();
        set_mode(&src.join("sub/data"), 0o600).unwrap();
        set_mode(&src.join("sub"), 0o750).unwrap();
        symlink("sub/data", src.join("link")).unwrap();

        let dest = base.join("dest");
        copy_tree(&src, &dest).unwrap();
        let mode = |p: &str| {
            std::fs::symlink_metadata(dest.join(p))
                .unwrap()
                .permissions()
                .mode()
                & 0o7777
        };
        assert_eq!(mode("run.sh"), 0o755);
        assert_eq!(mode("sub/data"), 0o600);
        assert_eq!(mode("sub"), 0o750);
        assert_eq!(
            std::fs::read_link(dest.join("link")).unwrap(),
            Path::new("sub/data")
        );
        std::fs::remove_dir_all(&base).unwrap();
    }

    #[test]
    fn under_strips_the_root() {
        assert_eq!(
            under(Path::new("/stage/apps/web"), Path::new("/bin/web")),
            Path::new("/stage/apps/web/bin/web")
        );
    }
}
