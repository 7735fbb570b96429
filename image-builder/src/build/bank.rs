//! Bank A: a staging tree (frozen manifest, version, inventory, keys, each
//! app's and job's tree) squashed into a read-only, reproducible squashfs.

use std::path::Path;
use std::process::Command;

use cairn_layout::bank;
use cairn_manifest::Manifest;

use super::bundle::{self, BundleKind};
use super::fsutil::{copy_file, make_dirs};
use super::host::{self, MKSQUASHFS};
use super::BuildError;

/// Bundle kinds, by tree (`/apps/web`), for the build's summary.
pub type StagedBundles = Vec<(String, BundleKind)>;

/// Fills `stage` with everything of the bank except `/cairn/version` and
/// `/cairn/inventory.json`, which depend on the version derived from it.
pub fn stage(
    stage: &Path,
    manifest: &Manifest,
    manifest_path: &Path,
) -> Result<StagedBundles, BuildError> {
    let manifest_dir = manifest_path.parent().unwrap_or(Path::new("."));
    make_dirs(&stage.join(bank::KEYS_DIR))?;
    copy_file(manifest_path, &stage.join(bank::MANIFEST), Some(0o644))?;
    let mut staged = Vec::new();
    make_dirs(&stage.join("apps"))?;
    for (name, app) in &manifest.apps {
        let tree = stage.join("apps").join(name);
        let bundle = bundle::host_path(manifest_dir, &app.bundle);
        let kind = bundle::stage(&tree, &bundle, manifest_dir, &app.paths)?;
        staged.push((format!("/apps/{name}"), kind));
    }
    make_dirs(&stage.join("jobs"))?;
    for (name, job) in &manifest.jobs {
        let tree = stage.join("jobs").join(name);
        let bundle = bundle::host_path(manifest_dir, &job.bundle);
        let kind = bundle::stage(&tree, &bundle, manifest_dir, &job.paths)?;
        staged.push((format!("/jobs/{name}"), kind));
    }
    Ok(staged)
}

/// Writes the version-dependent files into the staged bank.
pub fn seal(stage: &Path, version: &str, inventory_json: &[u8]) -> Result<(), BuildError> {
    let write = |rel: &str, bytes: &[u8]| {
        let path = stage.join(rel);
        std::fs::write(&path, bytes)
            .map_err(BuildError::io(format!("cannot write {}", path.display())))
    };
    write(bank::VERSION, format!("{version}\n").as_bytes())?;
    write(bank::INVENTORY, inventory_json)?;
    Ok(())
}

/// Squashes `stage` into `image`; fails when it would not fit in `bank_size`.
pub fn squash(stage: &Path, image: &Path, bank_size: u64, epoch: u64) -> Result<u64, BuildError> {
    let mksquashfs = host::require(MKSQUASHFS)?;
    let epoch = epoch.to_string();
    let processors = std::thread::available_parallelism().map_or(1, usize::from);
    host::run(
        Command::new(mksquashfs)
            // It refuses SOURCE_DATE_EPOCH beside -mkfs-time/-all-time, which
            // already carry the same value.
            .env_remove("SOURCE_DATE_EPOCH")
            .arg(stage)
            .arg(image)
            .args(["-noappend", "-no-progress", "-quiet", "-comp", "zstd"])
            .args(["-all-root", "-reproducible", "-no-xattrs"])
            .args(["-mkfs-time", &epoch, "-all-time", &epoch])
            .args(["-processors", &processors.to_string()]),
    )?;
    let size = std::fs::metadata(image)
        .map_err(BuildError::io(format!("cannot stat {}", image.display())))?
        .len();
    if size > bank_size {
        return Err(BuildError::BankTooLarge {
            needed: size,
            available: bank_size,
            needed_mib: size.div_ceil(1 << 20),
        });
    }
    Ok(size)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn too_large_a_bank_says_how_much_is_needed() {
        assert!(
            host::find_program("mksquashfs").is_some(),
            "mksquashfs is not installed: apt-get install squashfs-tools (scripts/test does)"
        );
        let dir = std::env::temp_dir().join(format!("cairn-bank-{}", std::process::id()));
        let stage = dir.join("stage");
        make_dirs(&stage.join("cairn")).unwrap();
        seal(&stage, "0123456789ab", b"{}\n").unwrap();
        let image = dir.join("bank.squashfs");
        let size = squash(&stage, &image, 1 << 20, 0).unwrap();
        assert_eq!(&std::fs::read(&image).unwrap()[..4], b"hsqs");
        let err = squash(&stage, &image, size - 1, 0).unwrap_err().to_string();
        assert!(
            err.contains("raise [disk] bank_size to at least 1 MiB"),
            "{err}"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
