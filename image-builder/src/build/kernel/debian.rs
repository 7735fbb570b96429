//! Debian's prebuilt kernel: the metapackage is followed to the concrete
//! `linux-image-*` package, which is downloaded and unpacked into the cache.

use super::Kernel;
use crate::build::hash::sha256_file;
use crate::build::packages::UnpackedPackage;
use crate::build::BuildError;

/// A metapackage is followed to the `linux-image-*` package that ships the files.
pub const FOLLOW: &str = "linux-image-";

pub fn prepare(unpacked: UnpackedPackage) -> Result<Kernel, BuildError> {
    let boot = unpacked.root.join("boot");
    let vmlinuz = std::fs::read_dir(&boot)
        .map_err(BuildError::io(format!(
            "package {} has no boot/ directory ({})",
            unpacked.name,
            boot.display()
        )))?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .find(|p| {
            p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with("vmlinuz-"))
        })
        .ok_or_else(|| {
            BuildError::Invalid(format!(
                "package {} ships no boot/vmlinuz-*; is it a kernel image package?",
                unpacked.name
            ))
        })?;
    let release = vmlinuz
        .file_name()
        .map(|n| {
            n.to_string_lossy()
                .trim_start_matches("vmlinuz-")
                .to_string()
        })
        .unwrap_or_default();
    // Debian 12 ships modules under lib/, later releases under usr/lib/.
    let modules_dir = ["lib/modules", "usr/lib/modules"]
        .iter()
        .map(|dir| unpacked.root.join(dir).join(&release))
        .find(|dir| dir.is_dir());
    Ok(Kernel {
        requested: unpacked.requested,
        package: unpacked.name,
        package_version: unpacked.version,
        deb_sha256: unpacked.deb_sha256,
        vmlinuz_sha256: sha256_file(&vmlinuz)?,
        release,
        vmlinuz,
        modules_dir,
    })
}
