//! systemd-boot, from Debian's `systemd-boot-efi` package in the cache.

use std::path::{Path, PathBuf};

use super::apt;
use super::progress::Progress;
use super::BuildError;

pub const PACKAGE: &str = "systemd-boot-efi";
const EFI_BINARY: &str = "usr/lib/systemd/boot/efi/systemd-bootx64.efi";

/// The bootloader's package and its EFI binary.
#[derive(Debug, Clone)]
pub struct Bootloader {
    pub package: String,
    pub version: String,
    /// sha256 of the package's .deb as downloaded.
    pub deb_sha256: String,
    pub efi: PathBuf,
}

pub fn prepare(cache_root: &Path, progress: &Progress) -> Result<Bootloader, BuildError> {
    let info = apt::show(PACKAGE)?;
    let unpacked = apt::fetch(cache_root, &info, progress)?;
    let efi = unpacked.root.join(EFI_BINARY);
    if !efi.is_file() {
        return Err(BuildError::Invalid(format!(
            "package {PACKAGE} {} has no {EFI_BINARY}",
            unpacked.version
        )));
    }
    Ok(Bootloader {
        package: unpacked.name,
        version: unpacked.version,
        deb_sha256: unpacked.deb_sha256,
        efi,
    })
}
