//! The kernel: Debian's prebuilt package, or one built from Debian's
//! `linux-source-6.1` with the board's config fragment.

use std::path::{Path, PathBuf};

use super::paths;
use super::progress::Progress;
use super::BuildError;
use crate::board::{Board, KernelSource};

mod debian;
mod source;

/// A kernel ready to go on the ESP.
#[derive(Debug, Clone)]
pub struct Kernel {
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

/// Gets the board's kernel into the cache (or finds it there).
pub fn prepare(
    board: &Board,
    board_path: &Path,
    cache_root: &Path,
    progress: &Progress,
) -> Result<Kernel, BuildError> {
    match board.kernel.source {
        KernelSource::Debian => {
            let package = board.kernel.package.as_deref().ok_or_else(|| {
                BuildError::Invalid(format!(
                    "{}: [kernel] source = \"debian\" needs package = \"...\"",
                    board_path.display()
                ))
            })?;
            debian::prepare(package, cache_root, progress)
        }
        KernelSource::Build => {
            let fragment = board.kernel.fragment.as_deref().ok_or_else(|| {
                BuildError::Invalid(format!(
                    "{}: [kernel] source = \"build\" needs fragment = \"kernel-config/...\"",
                    board_path.display()
                ))
            })?;
            let fragment = resolve_fragment(fragment, board_path)?;
            source::prepare(&fragment, cache_root, progress)
        }
    }
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
