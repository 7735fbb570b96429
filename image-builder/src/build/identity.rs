//! A device's own identity on its data partition: `cairn/identity/server.crt`
//! (0644, root) and `server.key` (0400, the control API's user), written
//! with debugfs into the filesystem the build makes, or into a built disk
//! image by `cairn provision`.

use std::path::Path;

use cairn_layout::{data, users};

use super::debugfs;
use super::BuildError;
use crate::keys::DeviceIdentity;

pub const CERT_NAME: &str = "server.crt";
pub const KEY_NAME: &str = "server.key";

/// Regular-file and directory type bits, for debugfs's `sif mode`.
const FILE: u32 = 0o100_000;
const DIR: u32 = 0o040_000;

/// `/cairn/identity`, from the filesystem's root.
pub fn dir() -> String {
    format!("/{}", data::IDENTITY)
}

/// What of an identity a filesystem already holds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Found {
    pub dir: bool,
    pub cert: bool,
    pub key: bool,
}

/// Writes `identity` under `/cairn/identity` of the ext4 at `target`,
/// replacing the files `found` says are there. `scratch` is a private
/// directory for the files debugfs copies in (the key is written there
/// 0600 and removed after).
pub fn install(
    target: &str,
    identity: &DeviceIdentity,
    scratch: &Path,
    clock: &str,
    found: Found,
) -> Result<(), BuildError> {
    let cert = scratch.join(CERT_NAME);
    let key = scratch.join(KEY_NAME);
    write_private(&cert, identity.cert_pem.as_bytes())?;
    write_private(&key, identity.key_pem.as_bytes())?;
    let dir = dir();
    let mut script = String::new();
    // debugfs complains of an rm of a missing file and a mkdir of an
    // existing one, so only what is (not) there is removed (made).
    if !found.dir {
        script.push_str(&format!("mkdir {dir}\n"));
    }
    if found.cert {
        script.push_str(&format!("rm {dir}/{CERT_NAME}\n"));
    }
    if found.key {
        script.push_str(&format!("rm {dir}/{KEY_NAME}\n"));
    }
    script.push_str(&format!("cd {dir}\n"));
    script.push_str(&format!("write {} {CERT_NAME}\n", quoted(&cert)?));
    script.push_str(&format!("write {} {KEY_NAME}\n", quoted(&key)?));
    script.push_str("cd /\n");
    script.push_str(&debugfs::pin(&dir, clock, 0, 0, Some(DIR | 0o755)));
    script.push_str(&debugfs::pin(
        &format!("{dir}/{CERT_NAME}"),
        clock,
        0,
        0,
        Some(FILE | 0o644),
    ));
    script.push_str(&debugfs::pin(
        &format!("{dir}/{KEY_NAME}"),
        clock,
        users::CONTROL_UID,
        users::CONTROL_UID,
        Some(FILE | 0o400),
    ));
    let result = debugfs::run(target, &script, clock);
    let _ = std::fs::remove_file(&key);
    let _ = std::fs::remove_file(&cert);
    result.map(drop)
}

/// debugfs splits its arguments at blanks; a path with one cannot be given.
fn quoted(path: &Path) -> Result<String, BuildError> {
    let text = path.to_string_lossy();
    if text.contains(char::is_whitespace) || text.contains('"') {
        return Err(BuildError::Invalid(format!(
            "{} has a blank in its path, which debugfs cannot take; build somewhere else",
            path.display()
        )));
    }
    Ok(text.into_owned())
}

fn write_private(path: &Path, bytes: &[u8]) -> Result<(), BuildError> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let _ = std::fs::remove_file(path);
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .and_then(|mut f| f.write_all(bytes))
        .map_err(BuildError::io(format!("cannot write {}", path.display())))
}
