//! The writer's listening socket: mode 0600 from the moment it exists,
//! owned by the control API's uid, so only that uid and root can connect.

use std::fs;
use std::io;
use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::os::unix::net::UnixListener;
use std::path::Path;

use nix::unistd::{chown, geteuid, Uid};

/// Binds `path`, replacing a stale socket (never any other kind of file).
/// Until the mode is set the socket has the umask's mode, which lets only
/// its owner (root) connect; the peer check refuses anyone else anyway.
pub fn bind(path: &Path, owner: u32) -> io::Result<UnixListener> {
    match fs::symlink_metadata(path) {
        Ok(meta) if meta.file_type().is_socket() => fs::remove_file(path)?,
        Ok(_) => {
            return Err(io::Error::new(
                io::ErrorKind::AlreadyExists,
                format!("{} exists and is not a socket", path.display()),
            ))
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    let listener = UnixListener::bind(path)?;
    fs::set_permissions(path, fs::Permissions::from_mode(0o600))?;
    // Only root can give a file away; a writer run by anyone else (tests)
    // serves its own uid.
    if geteuid().is_root() {
        chown(path, Some(Uid::from_raw(owner)), None)?;
    }
    Ok(listener)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_socket_is_private_and_a_stale_one_is_replaced() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("update.sock");
        let first = bind(&path, geteuid().as_raw()).unwrap();
        drop(first);
        let _second = bind(&path, geteuid().as_raw()).unwrap();
        let mode = fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let plain = dir.path().join("plain");
        fs::write(&plain, b"x").unwrap();
        assert!(bind(&plain, 0).is_err());
        assert_eq!(fs::read(&plain).unwrap(), b"x");
    }
}
