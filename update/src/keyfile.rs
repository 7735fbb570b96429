//! Key files on disk: created whole, with their final mode from the first
//! instant, never replacing anything.
//!
//! A new file is written under a temporary name created with `O_EXCL` and
//! mode 0600 (the umask can only remove bits), synced, then linked to its
//! final name: the link fails if that name exists, so no key is ever
//! overwritten, and a reader sees either no file or the whole one.

use std::fs::{self, File, OpenOptions, Permissions};
use std::io::{self, Read, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};

use zeroize::Zeroizing;

use crate::keys::KeyError;

pub(crate) const PRIVATE_MODE: u32 = 0o600;
pub(crate) const PUBLIC_MODE: u32 = 0o644;

/// A PEM key is a few hundred bytes; a bound keeps a wrong path (a disk
/// image, a device) from being read whole.
const MAX_KEY_FILE_LEN: u64 = 16 * 1024;

pub(crate) fn write_new(path: &Path, contents: &[u8], mode: u32) -> Result<(), KeyError> {
    let io_error = |source| KeyError::Io {
        path: path.to_owned(),
        source,
    };
    if path.symlink_metadata().is_ok() {
        return Err(KeyError::Exists {
            path: path.to_owned(),
        });
    }
    let temp = temporary_name(path);
    let result = write_temp(&temp, contents, mode).and_then(|()| publish(&temp, path));
    // The temporary name goes in every case; after a successful link the
    // final name keeps the file.
    let _ = fs::remove_file(&temp);
    match result {
        Ok(()) => sync_parent(path).map_err(io_error),
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Err(KeyError::Exists {
            path: path.to_owned(),
        }),
        Err(e) => Err(io_error(e)),
    }
}

fn write_temp(temp: &Path, contents: &[u8], mode: u32) -> io::Result<()> {
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        // Owner-only from creation: even a public key is opened up only
        // after its content is complete.
        .mode(PRIVATE_MODE)
        .open(temp)?;
    file.write_all(contents)?;
    file.set_permissions(Permissions::from_mode(mode))?;
    file.sync_all()
}

/// Links the finished file to its name; fails if the name exists.
fn publish(temp: &Path, path: &Path) -> io::Result<()> {
    match fs::hard_link(temp, path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Err(e),
        // A file system without hard links: rename after a check, which
        // leaves a window in which another writer could be overwritten.
        Err(_) if path.symlink_metadata().is_err() => fs::rename(temp, path),
        Err(e) => Err(e),
    }
}

fn sync_parent(path: &Path) -> io::Result<()> {
    match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => File::open(dir)?.sync_all(),
        _ => File::open(".")?.sync_all(),
    }
}

fn temporary_name(path: &Path) -> PathBuf {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    path.with_file_name(format!(".{name}.{}.{n}.tmp", std::process::id()))
}

/// Reads a private key file, refusing it when group or others may read it.
/// The buffer is wiped when dropped and is never reallocated while read
/// (its capacity exceeds the bound), so no copy of the key is left behind.
pub(crate) fn read_private(path: &Path) -> Result<Zeroizing<Vec<u8>>, KeyError> {
    let file = open_bounded(path)?;
    let mode = file
        .metadata()
        .map_err(|source| KeyError::Io {
            path: path.to_owned(),
            source,
        })?
        .permissions()
        .mode()
        & 0o777;
    if mode & 0o077 != 0 {
        return Err(KeyError::ExposedPrivateKey {
            path: path.to_owned(),
            mode,
        });
    }
    let mut bytes = Zeroizing::new(Vec::with_capacity(MAX_KEY_FILE_LEN as usize + 1));
    read_all(file, &mut bytes, path)?;
    Ok(bytes)
}

pub(crate) fn read_public(path: &Path) -> Result<Vec<u8>, KeyError> {
    let file = open_bounded(path)?;
    let mut bytes = Vec::new();
    read_all(file, &mut bytes, path)?;
    Ok(bytes)
}

fn open_bounded(path: &Path) -> Result<File, KeyError> {
    let io_error = |source| KeyError::Io {
        path: path.to_owned(),
        source,
    };
    let file = File::open(path).map_err(io_error)?;
    let len = file.metadata().map_err(io_error)?.len();
    if len > MAX_KEY_FILE_LEN {
        return Err(KeyError::TooLarge {
            path: path.to_owned(),
            len,
        });
    }
    Ok(file)
}

fn read_all(file: File, bytes: &mut Vec<u8>, path: &Path) -> Result<(), KeyError> {
    file.take(MAX_KEY_FILE_LEN)
        .read_to_end(bytes)
        .map(|_| ())
        .map_err(|source| KeyError::Io {
            path: path.to_owned(),
            source,
        })
}
