//! `cairn provision DISK --hostname NAME`: gives one copy of a built disk
//! image its own device identity before it is flashed, so a fleet shares
//! one image and each box still has a certificate for its own name.
//!
//! The data partition is found in the GPT (`gptman`, as `cairn logs` does)
//! and its `cairn/identity/` rewritten with debugfs at the partition's
//! offset: no root, no mounting, nothing else on the disk touched. The
//! identity is the project's kept one for that hostname, or a new one
//! signed by the project's CA (and kept, so provisioning the same name
//! again gives the same identity).

use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::build::{self, BuildError, IdentityFound, CERT_NAME, KEY_NAME};
use crate::keys::{KeysError, ProjectKeys};
use crate::which::find_program;

/// Why a disk could not be provisioned.
#[derive(Debug, thiserror::Error)]
pub enum ProvisionError {
    #[error("{0}")]
    Disk(String),
    #[error("{0}")]
    Keys(#[from] KeysError),
    #[error("{0}")]
    Build(#[from] BuildError),
}

/// What was done.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Provisioned {
    pub disk: PathBuf,
    pub hostname: String,
    /// Whether the identity was made now (else the project's kept one).
    pub made: bool,
    /// Whether the disk had an identity that was replaced.
    pub replaced: bool,
}

/// Writes the identity of `hostname` into `disk`'s data partition.
pub fn provision(
    disk: &Path,
    hostname: &str,
    keys: &ProjectKeys,
) -> Result<Provisioned, ProvisionError> {
    let disk_error = |m: String| ProvisionError::Disk(m);
    let mut magic = [0u8; 4];
    File::open(disk)
        .and_then(|mut f| f.read_exact(&mut magic))
        .map_err(|e| disk_error(format!("cannot read {}: {e}", disk.display())))?;
    if &magic == b"QFI\xfb" {
        return Err(disk_error(format!(
            "{} is a qcow2 run disk; provision the raw image (disk.img) before it is flashed",
            disk.display()
        )));
    }
    let offset =
        crate::disk_logs::data_partition_offset(disk).map_err(|e| disk_error(format!("{e:#}")))?;
    let target = format!("{}?offset={offset}", disk.display());
    let found = what_is_there(&target)?;
    let (identity, made) = keys.device_identity(hostname)?;
    let scratch = tempfile::tempdir()
        .map_err(|e| disk_error(format!("cannot make a temporary directory: {e}")))?;
    build::install_identity(&target, &identity, scratch.path(), found)?;
    Ok(Provisioned {
        disk: disk.to_path_buf(),
        hostname: hostname.to_owned(),
        made,
        replaced: found.cert || found.key,
    })
}

/// Which of the identity's files the filesystem at `target` holds.
fn what_is_there(target: &str) -> Result<IdentityFound, ProvisionError> {
    let debugfs = find_program("debugfs").ok_or_else(|| BuildError::MissingTool {
        tool: "debugfs".into(),
        package: "e2fsprogs".into(),
    })?;
    let dir = build::identity_dir();
    let output = Command::new(debugfs)
        .arg("-R")
        .arg(format!("ls -p {dir}"))
        .arg(target)
        .output()
        .map_err(|e| ProvisionError::Disk(format!("cannot run debugfs: {e}")))?;
    let stderr = String::from_utf8_lossy(&output.stderr);
    if stderr.contains("File not found") {
        return Ok(IdentityFound::default());
    }
    if stderr.contains("Bad magic") || stderr.contains("superblock") {
        return Err(ProvisionError::Disk(format!(
            "the data partition of {target} holds no ext4 filesystem: {}",
            stderr.trim()
        )));
    }
    // `ls -p`: /inode/mode/uid/gid/name/size/ per entry.
    let names: Vec<String> = String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter_map(|l| l.split('/').nth(5).map(str::to_owned))
        .collect();
    Ok(IdentityFound {
        dir: true,
        cert: names.iter().any(|n| n == CERT_NAME),
        key: names.iter().any(|n| n == KEY_NAME),
    })
}
