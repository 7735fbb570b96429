//! What a bank holds for deploying to it: the update keys it trusts, the
//! CA its control API trusts for clients, the services' binary, its board
//! and (sealed with the version) its build number.

use std::path::Path;

use cairn_layout::bank;

use super::fsutil::{copy_file, make_dirs};
use super::BuildError;
use crate::keys::ProjectKeys;

fn write(stage: &Path, relative: &str, bytes: &[u8]) -> Result<(), BuildError> {
    let path = stage.join(relative);
    if let Some(parent) = path.parent() {
        make_dirs(parent)?;
    }
    std::fs::write(&path, bytes).map_err(BuildError::io(format!("cannot write {}", path.display())))
}

/// Stages the project's public update keys (two during a key rotation),
/// its CA certificate, the services' binary and the board name. No private
/// key is used here.
pub fn stage(
    stage: &Path,
    keys: &ProjectKeys,
    control: &Path,
    board: &str,
) -> Result<(), BuildError> {
    for update in keys.trusted_keys()? {
        let pem = update
            .to_pem()
            .map_err(|e| BuildError::Invalid(format!("update key {}: {e}", update.key_id())))?;
        write(
            stage,
            &format!("{}/{}.pub", bank::UPDATE_KEYS_DIR, update.key_id()),
            pem.as_bytes(),
        )?;
    }
    write(stage, bank::CONTROL_CA, keys.ca_pem()?.as_bytes())?;
    copy_file(control, &stage.join(bank::CONTROL_BIN), Some(0o755))?;
    write(stage, bank::BOARD, format!("{board}\n").as_bytes())
}

/// The build number file, written once the number is known.
pub fn seal(stage: &Path, build: u64) -> Result<(), BuildError> {
    write(stage, bank::BUILD, format!("{build}\n").as_bytes())
}
