//! The build's record: `inventory.json` beside `disk.img`, and the summary
//! printed at the end.

use std::time::Duration;

use cairn_layout::partition;

use super::hash::{sha256_file, sha256_hex};
use super::inventory::{
    BankRecord, BlobRecord, BoardRecord, DataRecord, DiskRecord, InitramfsRecord, Inventory,
    KernelRecord, PackageRecord,
};
use super::progress::Progress;
use super::{data, disk, esp, initramfs, mib, Assembled, BankA, BootParts, BuildError, Inputs};

fn file_size(path: &std::path::Path) -> u64 {
    std::fs::metadata(path).map(|m| m.len()).unwrap_or(0)
}

/// Everything that went into the image.
pub(super) fn inventory(
    inputs: &Inputs,
    boot: &BootParts,
    bank: &BankA,
    assembled: &Assembled,
) -> Result<Inventory, BuildError> {
    let kernel = &boot.kernel;
    Ok(Inventory {
        version: bank.version.clone(),
        build: bank.build.build,
        board: BoardRecord {
            name: inputs.board.name.clone(),
            sha256: sha256_hex(&inputs.board_bytes),
        },
        manifest_sha256: sha256_hex(&inputs.manifest_bytes),
        kernel: KernelRecord {
            source: format!("{:?}", inputs.board.kernel.source).to_lowercase(),
            requested: kernel.requested.clone(),
            package: kernel.package.clone(),
            version: kernel.package_version.clone(),
            release: kernel.release.clone(),
            deb_sha256: kernel.deb_sha256.clone(),
            vmlinuz_sha256: kernel.vmlinuz_sha256.clone(),
            vmlinuz_size: file_size(&kernel.vmlinuz),
        },
        bootloader: PackageRecord {
            requested: boot.bootloader.requested.clone(),
            package: boot.bootloader.package.clone(),
            version: boot.bootloader.version.clone(),
            deb_sha256: boot.bootloader.deb_sha256.clone(),
            file: format!("/{}", esp::BOOTLOADER_PATH),
            sha256: boot.bootloader_sha256.clone(),
        },
        init: BlobRecord {
            sha256: sha256_file(&inputs.init)?,
            size: file_size(&inputs.init),
        },
        initramfs: InitramfsRecord {
            sha256: boot.initrd_sha256.clone(),
            size: boot.initrd.len() as u64,
            modules: boot
                .modules
                .iter()
                .map(|m| initramfs::module_path(&kernel.release, m))
                .collect(),
        },
        banks: vec![
            BankRecord {
                name: partition::BANK_A.into(),
                squashfs_sha256: sha256_file(&bank.squashfs)?,
                squashfs_size: bank.squashfs_size,
                files: bank.files.clone(),
            },
            BankRecord {
                name: partition::BANK_B.into(),
                squashfs_sha256: String::new(),
                squashfs_size: 0,
                files: Vec::new(),
            },
        ],
        esp: assembled.esp_files.clone(),
        data: DataRecord {
            label: data::LABEL.into(),
            uuid: assembled.data_uuid.to_string().to_lowercase(),
        },
        partitions: assembled.layout.records(),
        disk: DiskRecord {
            guid: assembled.layout.disk_guid.to_string(),
            size: assembled.layout.size_bytes(),
            sector_size: disk::SECTOR,
        },
    })
}

/// The image, its size, the version and what each partition holds.
pub(super) fn summary(
    progress: &Progress,
    inventory: &Inventory,
    assembled: &Assembled,
    took: Duration,
) {
    progress.summary(&format!(
        "built {} ({}) in {:.1}s",
        assembled.disk_image.display(),
        mib(assembled.layout.size_bytes()),
        took.as_secs_f64()
    ));
    progress.summary(&format!(
        "version {}, build {}, board {}",
        inventory.version, inventory.build, inventory.board.name
    ));
    for p in &inventory.partitions {
        let holds = match p.name.as_str() {
            partition::ESP => format!(
                ", kernel {} + initramfs {}",
                mib(inventory.kernel.vmlinuz_size),
                mib(inventory.initramfs.size)
            ),
            partition::BANK_A => format!(", squashfs {}", mib(inventory.banks[0].squashfs_size)),
            partition::BANK_B => ", empty".to_string(),
            _ => String::new(),
        };
        progress.summary(&format!("  {:<11} {}{holds}", p.name, mib(p.size)));
    }
}
