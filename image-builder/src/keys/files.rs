//! Files of the project's trust material: created whole, with their final
//! mode from the first instant, never replacing anything.
//!
//! A file is written under a temporary name opened with `O_EXCL` and mode
//! 0600 (a umask can only take bits away), synced, and linked to its name:
//! the link fails if the name exists, so nothing is overwritten, and a
//! reader sees no file or the whole one. A private key is therefore never
//! readable by anyone else, not even for an instant.

use std::fs::{self, File, OpenOptions, Permissions};
use std::io::{self, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};

use super::KeysError;

/// Private keys: the owner only.
pub const PRIVATE_MODE: u32 = 0o600;
/// Certificates and public keys.
pub const PUBLIC_MODE: u32 = 0o644;

/// Writes a new file at `path` with `mode`; refuses an existing one.
pub fn write_new(path: &Path, contents: &[u8], mode: u32) -> Result<(), KeysError> {
    if path.symlink_metadata().is_ok() {
        return Err(KeysError::Exists {
            path: path.to_owned(),
        });
    }
    let temp = temporary_name(path);
    let result = write_temp(&temp, contents, mode).and_then(|()| fs::hard_link(&temp, path));
    // The temporary name goes in every case; after the link the file stays
    // under its own name.
    let _ = fs::remove_file(&temp);
    match result {
        Ok(()) => {
            sync_parent(path).map_err(KeysError::io(format!("cannot sync {}", path.display())))
        }
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Err(KeysError::Exists {
            path: path.to_owned(),
        }),
        Err(e) => Err(KeysError::io(format!("cannot write {}", path.display()))(e)),
    }
}

fn write_temp(temp: &Path, contents: &[u8], mode: u32) -> io::Result<()> {
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(PRIVATE_MODE)
        .open(temp)?;
    file.write_all(contents)?;
    // Opened up (for public files) only once the content is complete.
    file.set_permissions(Permissions::from_mode(mode))?;
    file.sync_all()
}

/// Makes the entries of `dir` durable (a rename or a link in it).
pub fn sync_dir(dir: &Path) -> Result<(), KeysError> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(KeysError::io(format!("cannot sync {}", dir.display())))
}

fn sync_parent(path: &Path) -> io::Result<()> {
    match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => File::open(dir)?.sync_all(),
        _ => Ok(()),
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

/// Creates `dir` (and its parents) if missing.
pub fn make_dir(dir: &Path) -> Result<(), KeysError> {
    fs::create_dir_all(dir).map_err(KeysError::io(format!("cannot create {}", dir.display())))
}

/// Reads a private key file, refusing one that group or others may read:
/// a key that leaked that way must be replaced, not used.
pub fn read_private(path: &Path) -> Result<String, KeysError> {
    let meta =
        fs::metadata(path).map_err(KeysError::io(format!("cannot read {}", path.display())))?;
    let mode = meta.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        return Err(KeysError::ExposedKey {
            path: path.to_owned(),
            mode,
        });
    }
    read_text(path)
}

/// Reads a text file (a certificate, a PEM key).
pub fn read_text(path: &Path) -> Result<String, KeysError> {
    fs::read_to_string(path).map_err(KeysError::io(format!("cannot read {}", path.display())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn new_files_have_their_mode_and_are_never_replaced() {
        let dir = tempfile::tempdir().unwrap();
        let key = dir.path().join("x.key");
        write_new(&key, b"secret", PRIVATE_MODE).unwrap();
        let mode = fs::metadata(&key).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        assert!(matches!(
            write_new(&key, b"other", PRIVATE_MODE),
            Err(KeysError::Exists { .. })
        ));
        assert_eq!(fs::read(&key).unwrap(), b"secret");
        let names: Vec<_> = fs::read_dir(dir.path()).unwrap().collect();
        assert_eq!(names.len(), 1, "no temporary file left");
    }

    #[test]
    fn an_exposed_private_key_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let key = dir.path().join("x.key");
        write_new(&key, b"secret", 0o644).unwrap();
        let err = read_private(&key).unwrap_err().to_string();
        assert!(err.contains("chmod 600"), "{err}");
    }
}
