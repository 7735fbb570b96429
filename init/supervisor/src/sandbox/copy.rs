//! Copying shipped content out of an app's read-only tree, for a writable
//! copy (see [`super::writable`]).
//!
//! The copy is bounded ([`Budget`]): PID 1 makes it before every start of
//! the instance, in its own loop, so a large tree would stall everything
//! else. It walks the tree with a list, not by recursion, so a deeply nested
//! tree cannot exhaust PID 1's stack. Directories and files keep their
//! permission bits (never set-uid or set-gid), symlinks are copied as
//! symlinks, and special files (devices, fifos, sockets, which the builder
//! never ships) are left out.

use std::fs;
use std::io;
use std::os::unix::fs::{lchown, symlink, PermissionsExt};
use std::path::{Component, Path, PathBuf};

/// Permission bits a copied file keeps: no set-uid or set-gid.
const FILE_BITS: u32 = 0o777;
/// Permission bits a copied directory keeps: the sticky bit too.
const DIR_BITS: u32 = 0o1777;

/// Why a copy could not be made.
#[derive(Debug, thiserror::Error)]
pub enum CopyError {
    #[error("{} is not in the app's tree", .0.display())]
    Missing(PathBuf),
    #[error("{} is a symlink in the app's tree; only what is shipped there is copied", .0.display())]
    Symlink(PathBuf),
    #[error("{} is not a file or directory", .0.display())]
    NotCopyable(PathBuf),
    #[error("the shipped content is larger than {}, the most a writable copy holds", size(.limit))]
    TooLarge { limit: u64 },
    #[error("the shipped content has more than {limit} files, directories and links, the most a writable copy holds")]
    TooMany { limit: u64 },
    #[error("cannot {what} {}: {source}", .path.display())]
    Io {
        what: &'static str,
        path: PathBuf,
        source: io::Error,
    },
}

fn size(bytes: &u64) -> String {
    cairn_manifest::format_size(*bytes)
}

fn io_error(what: &'static str, path: &Path) -> impl FnOnce(io::Error) -> CopyError {
    let path = path.to_path_buf();
    move |source| CopyError::Io { what, path, source }
}

/// What is left of the bytes and entries a copy may take.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Budget {
    pub bytes: u64,
    pub entries: u64,
    /// The bounds the budget started from, for messages.
    limits: (u64, u64),
}

impl Budget {
    pub fn new(bytes: u64, entries: u64) -> Budget {
        Budget {
            bytes,
            entries,
            limits: (bytes, entries),
        }
    }

    /// Charges one entry of `bytes` bytes.
    fn charge(&mut self, bytes: u64) -> Result<(), CopyError> {
        self.entries = self.entries.checked_sub(1).ok_or(CopyError::TooMany {
            limit: self.limits.1,
        })?;
        self.bytes = self.bytes.checked_sub(bytes).ok_or(CopyError::TooLarge {
            limit: self.limits.0,
        })?;
        Ok(())
    }
}

/// The path of `inside` (absolute, in normal form) within `tree`, refusing
/// any component that is a symlink: the tree's own symlinks may point
/// anywhere in PID 1's filesystem, which is not the app's to copy.
pub fn source_in_tree(tree: &Path, inside: &Path) -> Result<PathBuf, CopyError> {
    let mut path = tree.to_path_buf();
    for component in inside.components() {
        let Component::Normal(part) = component else {
            continue;
        };
        path.push(part);
        match fs::symlink_metadata(&path) {
            Ok(meta) if meta.file_type().is_symlink() => return Err(CopyError::Symlink(path)),
            Ok(_) => {}
            Err(err) if err.kind() == io::ErrorKind::NotFound => {
                return Err(CopyError::Missing(path))
            }
            Err(err) => return Err(io_error("read", &path)(err)),
        }
    }
    Ok(path)
}

/// Gives `path` (not following a symlink) to `owner` (uid, gid), if any.
fn give(path: &Path, owner: Option<(u32, u32)>) -> Result<(), CopyError> {
    match owner {
        Some((uid, gid)) => lchown(path, Some(uid), Some(gid)).map_err(io_error("chown", path)),
        None => Ok(()),
    }
}

fn set_mode(path: &Path, mode: u32) -> Result<(), CopyError> {
    fs::set_permissions(path, fs::Permissions::from_mode(mode)).map_err(io_error("chmod", path))
}

fn copy_file(
    from: &Path,
    to: &Path,
    mode: u32,
    owner: Option<(u32, u32)>,
) -> Result<(), CopyError> {
    fs::copy(from, to).map_err(io_error("copy", from))?;
    give(to, owner)?;
    // After the chown, which may clear permission bits.
    set_mode(to, mode & FILE_BITS)
}

/// Copies the file or directory tree `from` to `to` (which must not exist),
/// every copied entry owned by `owner` when given, within `budget`.
pub fn copy_tree(
    from: &Path,
    to: &Path,
    owner: Option<(u32, u32)>,
    budget: &mut Budget,
) -> Result<(), CopyError> {
    let meta = fs::symlink_metadata(from).map_err(io_error("read", from))?;
    let kind = meta.file_type();
    if kind.is_file() {
        budget.charge(meta.len())?;
        return copy_file(from, to, meta.permissions().mode(), owner);
    }
    if !kind.is_dir() {
        return Err(CopyError::NotCopyable(from.to_path_buf()));
    }
    budget.charge(0)?;
    // Directories get their modes last: a shipped read-only directory must
    // still take its entries (an unprivileged copier has no override).
    let mut dirs = vec![(to.to_path_buf(), meta.permissions().mode())];
    fs::create_dir(to).map_err(io_error("create", to))?;
    let mut pending = vec![(from.to_path_buf(), to.to_path_buf())];
    while let Some((source, dest)) = pending.pop() {
        for entry in fs::read_dir(&source).map_err(io_error("read", &source))? {
            let entry = entry.map_err(io_error("read", &source))?;
            let (from, to) = (entry.path(), dest.join(entry.file_name()));
            let meta = fs::symlink_metadata(&from).map_err(io_error("read", &from))?;
            let kind = meta.file_type();
            if kind.is_dir() {
                budget.charge(0)?;
                fs::create_dir(&to).map_err(io_error("create", &to))?;
                dirs.push((to.clone(), meta.permissions().mode()));
                pending.push((from, to));
            } else if kind.is_file() {
                budget.charge(meta.len())?;
                copy_file(&from, &to, meta.permissions().mode(), owner)?;
            } else if kind.is_symlink() {
                let target = fs::read_link(&from).map_err(io_error("read", &from))?;
                budget.charge(target.as_os_str().len() as u64)?;
                symlink(&target, &to).map_err(io_error("create", &to))?;
                give(&to, owner)?;
            }
            // Anything else (a device, fifo or socket) is not copied.
        }
    }
    for (dir, mode) in dirs.iter().rev() {
        give(dir, owner)?;
        set_mode(dir, mode & DIR_BITS)?;
    }
    Ok(())
}

#[cfg(test)]
#[path = "copy_tests.rs"]
mod tests;
