//! The Debian packages a build takes (the board's kernel, or its kernel
//! source, and systemd-boot): pinned by `cairn.lock`, fetched, checked and
//! unpacked into the cache.

use std::path::{Path, PathBuf};

use super::lock::{self, Archive, Mode, Outcome, Request};
use super::progress::Progress;
use super::{apt, bootloader, kernel, BuildError};
use crate::board::Board;

/// A package unpacked in the cache.
#[derive(Debug, Clone)]
pub struct UnpackedPackage {
    /// As the board or the builder asked for it (maybe a metapackage).
    pub requested: String,
    pub name: String,
    pub version: String,
    /// sha256 of the .deb, checked against the lock.
    pub deb_sha256: String,
    /// Where its files are (`root/boot/...`, `root/usr/...`).
    pub root: PathBuf,
}

pub struct Packages {
    pub kernel: UnpackedPackage,
    pub bootloader: UnpackedPackage,
    pub outcome: Outcome,
}

/// Settles, fetches and unpacks what `board` needs.
pub fn prepare(
    board: &Board,
    board_path: &Path,
    lock_path: &Path,
    mode: Mode,
    archive: &dyn Archive,
    cache_root: &Path,
    progress: &Progress,
) -> Result<Packages, BuildError> {
    let requests: [Request; 2] = [kernel::request(board, board_path)?, bootloader::request()];
    let (outcome, fetched) =
        lock::fetch_all(lock_path, mode, &requests, archive, cache_root, progress)?;
    let mut unpacked = fetched
        .into_iter()
        .map(|f| {
            let root = apt::unpack(cache_root, &f.pin.name, &f.pin.version, &f.deb, progress)?;
            Ok(UnpackedPackage {
                requested: f.request.name,
                name: f.pin.name,
                version: f.pin.version,
                deb_sha256: f.pin.sha256,
                root,
            })
        })
        .collect::<Result<Vec<_>, BuildError>>()?;
    let (Some(bootloader), Some(kernel)) = (unpacked.pop(), unpacked.pop()) else {
        return Err(BuildError::Invalid("a package went missing".into()));
    };
    Ok(Packages {
        kernel,
        bootloader,
        outcome,
    })
}
