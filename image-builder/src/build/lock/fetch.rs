//! The pinned .deb in the cache, checked against the lock before anything
//! is unpacked from it: downloaded when absent, hashed again when present.

use std::path::{Path, PathBuf};

use super::archive::Archive;
use super::error::Mismatch;
use super::file::Pin;
use super::LockError;
use crate::build::hash::sha256_file;
use crate::build::progress::Progress;
use crate::build::{apt, cache, BuildError};

/// Where the .deb of `pin` is cached.
pub fn deb_dir(cache_root: &Path, pin: &Pin) -> PathBuf {
    cache_root
        .join("debs")
        .join(cache::key(&pin.name, &pin.version))
}

/// The .deb of exactly `pin`, with the sha256 the lock names.
pub fn obtain(
    archive: &dyn Archive,
    cache_root: &Path,
    pin: &Pin,
    lock_path: &Path,
    progress: &Progress,
) -> Result<PathBuf, BuildError> {
    let dir = deb_dir(cache_root, pin);
    let mismatch = |found: String, source: String, advice: String| {
        LockError::Mismatch(Box::new(Mismatch {
            name: pin.name.clone(),
            version: pin.version.clone(),
            lock: lock_path.to_path_buf(),
            locked: pin.sha256.clone(),
            found,
            source_: source,
            advice,
        }))
    };
    if !dir.is_dir() {
        let listed =
            archive
                .lookup(&pin.name, &pin.version)?
                .ok_or_else(|| LockError::NotServed {
                    name: pin.name.clone(),
                    version: pin.version.clone(),
                    lock: lock_path.to_path_buf(),
                    cache_dir: dir.clone(),
                })?;
        let accept = format!(
            "`cairn build --update-lock` accepts what the archive serves now; restoring {} \
             from a machine that built with this lock keeps the image as it was",
            dir.display()
        );
        // Refused before downloading what would be refused after.
        if listed.sha256 != pin.sha256 {
            return Err(mismatch(listed.sha256, "package archive's listing".into(), accept).into());
        }
        cache::fill_once(&dir, |partial| {
            let step = progress.step(format!("downloading {} {}", pin.name, pin.version));
            let deb = archive.download(&pin.name, &pin.version, partial)?;
            let found = sha256_file(&deb)?;
            if found != pin.sha256 {
                // Left out of the cache: `fill_once` drops the partial directory.
                return Err(mismatch(found, "downloaded .deb".into(), accept.clone()).into());
            }
            step.done("");
            Ok(())
        })?;
        return apt::find_deb(&dir);
    }
    let deb = apt::find_deb(&dir)?;
    let found = sha256_file(&deb)?;
    if found != pin.sha256 {
        return Err(mismatch(
            found,
            format!("cached {}", deb.display()),
            format!(
                "Remove {} so the next build downloads it again; if the archive's package \
                 itself changed, `cairn build --update-lock` accepts it",
                dir.display()
            ),
        )
        .into());
    }
    Ok(deb)
}
