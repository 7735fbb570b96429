//! The kernel: Debian's prebuilt package, or one built from Debian's
//! `linux-source-6.1` with the board's config fragment.

use std::path::{Path, PathBuf};

use super::lock::Request;
use super::packages::UnpackedPackage;
use super::paths;
use super::progress::Progress;
use super::BuildError;
use crate::board::{Board, KernelSource};

mod debian;
mod source;

/// A kernel ready to go on the ESP.
#[derive(Debug, Clone)]
pub struct Kernel {
    /// What the board asked for (a metapackage, or the source package).
    pub requested: String,
    /// The Debian package it came from (the concrete one, not the metapackage).
    pub package: String,
    /// That package's exact version.
    pub package_version: String,
    /// sha256 of the package's .deb as downloaded.
    pub deb_sha256: String,
    /// `uname -r` of the kernel, the directory name under `/lib/modules`.
    pub release: String,
    pub vmlinuz: PathBuf,
    pub vmlinuz_sha256: String,
    /// `lib/modules/<release>` of the unpacked package; `None` for a kernel
    /// with everything built in.
    pub modules_dir: Option<PathBuf>,
}

/// What the board's kernel comes from, as asked of the archive.
pub fn request(board: &Board, board_path: &Path) -> Result<Request, BuildError> {
    match board.kernel.source {
        KernelSource::Debian => {
            let package = board.kernel.package.as_deref().ok_or_else(|| {
                BuildError::Invalid(format!(
                    "{}: [kernel] source = \"debian\" needs package = \"...\"",
                    board_path.display()
                ))
            })?;
            Ok(Request {
                what: "kernel",
                name: package.to_string(),
                follow: Some(debian::FOLLOW),
            })
        }
        KernelSource::Build => {
            // Before the large source package is fetched, not after.
            fragment(board, board_path)?;
            source::check_host()?;
            Ok(Request {
                what: "kernel source",
                name: source::SOURCE_PACKAGE.to_string(),
                follow: Some(source::SOURCE_PACKAGE),
            })
        }
    }
}

/// The board's kernel from its package, unpacked in the cache: Debian's
/// image as it is, or a kernel built from the source package.
pub fn prepare(
    board: &Board,
    board_path: &Path,
    unpacked: UnpackedPackage,
    cache_root: &Path,
    progress: &Progress,
) -> Result<Kernel, BuildError> {
    match board.kernel.source {
        KernelSource::Debian => debian::prepare(unpacked),
        KernelSource::Build => {
            let fragment = fragment(board, board_path)?;
            source::prepare(&fragment, unpacked, cache_root, progress)
        }
    }
}

fn fragment(board: &Board, board_path: &Path) -> Result<PathBuf, BuildError> {
    let fragment = board.kernel.fragment.as_deref().ok_or_else(|| {
        BuildError::Invalid(format!(
            "{}: [kernel] source = \"build\" needs fragment = \"kernel-config/...\"",
            board_path.display()
        ))
    })?;
    resolve_fragment(fragment, board_path)
}

/// A fragment path is relative to the workspace root: the parent of the
/// board file's directory (`board-configs/..`), else the current directory,
/// else the workspace this executable was built in.
fn resolve_fragment(fragment: &Path, board_path: &Path) -> Result<PathBuf, BuildError> {
    if fragment.is_absolute() {
        return Ok(fragment.to_path_buf());
    }
    let mut tried = Vec::new();
    if let Some(root) = board_path.parent().and_then(Path::parent) {
        tried.push(root.join(fragment));
    }
    tried.push(fragment.to_path_buf());
    if let Some(root) = std::env::current_exe()
        .ok()
        .and_then(|exe| paths::workspace_root_from_exe(&exe))
    {
        tried.push(root.join(fragment));
    }
    tried.iter().find(|p| p.is_file()).cloned().ok_or_else(|| {
        BuildError::Invalid(format!(
            "kernel config fragment {} not found (looked at {})",
            fragment.display(),
            tried
                .iter()
                .map(|p| p.display().to_string())
                .collect::<Vec<_>>()
                .join(", ")
        ))
    })
}
