//! Where packages come from, behind a small trait: the build asks it what a
//! name resolves to today and for exact versions, so tests can stand a fake
//! archive in for apt.

use std::path::{Path, PathBuf};

use crate::build::{apt, BuildError};

/// A package the build needs, as the board or the builder names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// What it is for, in messages: "kernel", "bootloader".
    pub what: &'static str,
    /// As asked for: a metapackage (`linux-image-cloud-amd64`) or a concrete name.
    pub name: String,
    /// A metapackage is followed to the dependency whose name starts with
    /// this; `None` takes the name as it is.
    pub follow: Option<&'static str>,
}

/// One exact package version as the archive lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listed {
    pub name: String,
    pub version: String,
    /// Of the .deb, as the archive's index gives it.
    pub sha256: String,
}

pub trait Archive {
    /// The concrete package and newest version `request` leads to today.
    fn newest(&self, request: &Request) -> Result<Listed, BuildError>;
    /// Exactly `name` `version`; `None` when the archive does not serve it.
    fn lookup(&self, name: &str, version: &str) -> Result<Option<Listed>, BuildError>;
    /// Downloads exactly `name` `version` into the empty `dir`; returns the .deb.
    fn download(&self, name: &str, version: &str, dir: &Path) -> Result<PathBuf, BuildError>;
}

/// Debian's archive through this machine's apt: `apt-cache` for the lists,
/// `apt-get download` for the files.
#[derive(Debug, Clone, Copy, Default)]
pub struct Apt;

impl Archive for Apt {
    fn newest(&self, request: &Request) -> Result<Listed, BuildError> {
        let info = match request.follow {
            Some(prefix) => apt::resolve_concrete(&request.name, prefix)?,
            None => apt::show(&request.name)?,
        };
        // Asked again by exact version: a metapackage's dependency gives
        // the version but not the concrete package's sha256.
        self.lookup(&info.name, &info.version)?
            .ok_or(BuildError::PackageNotFound {
                package: format!("{}={}", info.name, info.version),
            })
    }

    fn lookup(&self, name: &str, version: &str) -> Result<Option<Listed>, BuildError> {
        let Some(info) = apt::show_exact(name, version)? else {
            return Ok(None);
        };
        let sha256 = info.sha256.ok_or_else(|| {
            BuildError::Invalid(format!(
                "apt lists {name} {version} without a SHA256; refresh the lists with `apt-get update`"
            ))
        })?;
        Ok(Some(Listed {
            name: info.name,
            version: info.version,
            sha256,
        }))
    }

    fn download(&self, name: &str, version: &str, dir: &Path) -> Result<PathBuf, BuildError> {
        apt::download(name, version, dir)
    }
}
