//! systemd-boot, from Debian's `systemd-boot-efi` package in the cache.

use std::path::PathBuf;

use super::lock::Request;
use super::packages::UnpackedPackage;
use super::BuildError;

pub const PACKAGE: &str = "systemd-boot-efi";
const EFI_BINARY: &str = "usr/lib/systemd/boot/efi/systemd-bootx64.efi";

/// The bootloader's package and its EFI binary.
#[derive(Debug, Clone)]
pub struct Bootloader {
    /// As asked of the archive.
    pub requested: String,
    pub package: String,
    pub version: String,
    /// sha256 of the package's .deb as downloaded.
    pub deb_sha256: String,
    pub efi: PathBuf,
}

/// What the build asks the archive for: the package as it is named.
pub fn request() -> Request {
    Request {
        what: "bootloader",
        name: PACKAGE.to_string(),
        follow: None,
    }
}

pub fn prepare(unpacked: UnpackedPackage) -> Result<Bootloader, BuildError> {
    let efi = unpacked.root.join(EFI_BINARY);
    if !efi.is_file() {
        return Err(BuildError::Invalid(format!(
            "package {PACKAGE} {} has no {EFI_BINARY}",
            unpacked.version
        )));
    }
    Ok(Bootloader {
        requested: unpacked.requested,
        package: unpacked.name,
        version: unpacked.version,
        deb_sha256: unpacked.deb_sha256,
        efi,
    })
}
