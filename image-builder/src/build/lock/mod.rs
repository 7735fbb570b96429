//! `cairn.lock` beside `system.toml`: the exact kernel and bootloader
//! packages (name, version, sha256 of the .deb) the project's images are
//! built from. A metapackage such as `linux-image-cloud-amd64` resolves to
//! whatever the archive has that day; the lock is what makes a build next
//! week, or on another machine, take the same kernel.

use std::path::{Path, PathBuf};

mod archive;
mod error;
mod fetch;
mod file;
mod settle;
#[cfg(test)]
mod tests;

pub use archive::{Apt, Archive, Listed, Request};
pub use error::LockError;
pub use file::{Lock, Pin, FILE_NAME};
pub use settle::{report, Change, Mode, Outcome, Settled};

use crate::build::progress::Progress;
use crate::build::BuildError;

/// `cairn.lock` in the manifest's directory.
pub fn path_beside(manifest: &Path) -> PathBuf {
    manifest.with_file_name(FILE_NAME)
}

/// A pinned package's .deb in the cache, its sha256 checked against the lock.
#[derive(Debug, Clone)]
pub struct Fetched {
    pub request: Request,
    pub pin: Pin,
    pub deb: PathBuf,
}

/// Settles `requests` against the lock, fetches exactly the pinned
/// versions, each checked before use, and only then writes the lock when
/// that changed it: a failed build leaves the lock as it was.
pub fn fetch_all(
    lock_path: &Path,
    mode: Mode,
    requests: &[Request],
    archive: &dyn Archive,
    cache_root: &Path,
    progress: &Progress,
) -> Result<(Outcome, Vec<Fetched>), BuildError> {
    let outcome = settle::settle(lock_path, mode, requests, archive)?;
    let fetched = outcome
        .packages
        .iter()
        .map(|s| {
            Ok(Fetched {
                request: s.request.clone(),
                pin: s.pin.clone(),
                deb: fetch::obtain(archive, cache_root, &s.pin, lock_path, progress)?,
            })
        })
        .collect::<Result<Vec<_>, BuildError>>()?;
    if outcome.changed {
        outcome.lock.write(lock_path)?;
    }
    Ok((outcome, fetched))
}
