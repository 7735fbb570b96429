//! What can go wrong with the lock; each message names the package, the
//! version and what to do.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum LockError {
    #[error("{}:{line}: {message} (or let `cairn build --update-lock` write the file afresh)", .path.display())]
    Syntax {
        path: PathBuf,
        line: usize,
        message: String,
    },
    #[error("cannot read {}: {error}", .path.display())]
    Read {
        path: PathBuf,
        error: std::io::Error,
    },
    #[error("cannot write {}: {error}", .path.display())]
    Write {
        path: PathBuf,
        error: std::io::Error,
    },
    #[error(
        "{} pins {name} {version}, which the package archive no longer serves (this machine's \
         package lists do not have that version) and which is not in the cache at {}. \
         Either move the lock to what the archive serves now with `cairn build --update-lock` \
         (and commit the new cairn.lock; the image changes), or restore that directory from \
         the cache of a machine that built with this lock. If this machine's package lists \
         are old or missing, run `apt-get update` first.",
        .lock.display(), .cache_dir.display()
    )]
    NotServed {
        name: String,
        version: String,
        lock: PathBuf,
        cache_dir: PathBuf,
    },
    #[error(
        "{}: {} no {what} package for {name}, and --locked resolves nothing itself: \
         build once without --locked (or with --update-lock) and commit the lock it writes",
        .lock.display(), if *.no_file { "there is no lock, so it pins" } else { "it pins" }
    )]
    NotPinned {
        what: &'static str,
        name: String,
        lock: PathBuf,
        no_file: bool,
    },
    /// Boxed: it carries three hashes and two paths.
    #[error(transparent)]
    Mismatch(Box<Mismatch>),
}

/// A .deb whose sha256 is not the one the lock pins.
#[derive(Debug, thiserror::Error)]
#[error(
    "{} pins {name} {version} with sha256 {locked}, but the {source_} has sha256 {found}: \
     the package was rebuilt under the same version, or the lock or the cache was changed. \
     Nothing was unpacked. {advice}",
    .lock.display()
)]
pub struct Mismatch {
    pub name: String,
    pub version: String,
    pub lock: PathBuf,
    pub locked: String,
    pub found: String,
    /// Where the other hash came from: the archive's listing, the download, a cached file.
    pub source_: String,
    pub advice: String,
}
