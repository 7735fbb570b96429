//! The data partition: grow it, mount it at /data, count the boot.
//!
//! This is the only writable persistent place, but the system must run
//! without it: every failure here is logged loudly and boot goes on without
//! persistence, so the apps still start and an operator can see why.

use std::fs::{File, OpenOptions};
use std::io;
use std::path::{Path, PathBuf};

use cairn_layout::data as data_layout;

use crate::boot::grow::{self, GrowOutcome};
use crate::boot::mounts::{MountSpec, MountTable};
use crate::boot::partitions::Partition;
use cairn_sys::mount::{Linux, MsFlags};

/// Where the data partition is mounted.
const MOUNT_POINT: &str = data_layout::MOUNT_POINT;

const MIB: u64 = 1024 * 1024;

/// Grows the partition in the GPT and in the kernel; returns its size in
/// bytes afterwards.
fn grow_partition(part: &Partition, dev: &Path) -> Result<u64, String> {
    let disk_path = crate::boot::partitions::ensure_node(
        dev,
        &part.disk.name,
        part.disk.major,
        part.disk.minor,
    )
    .map_err(|e| format!("no device node for {}: {e}", part.disk.name))?;
    let mut disk = OpenOptions::new()
        .read(true)
        .write(true)
        .open(&disk_path)
        .map_err(|e| format!("cannot open {}: {e}", disk_path.display()))?;
    let disk_bytes = crate::sys::block::device_size(&disk).unwrap_or(part.disk.sectors * 512);
    let lba = part.disk.logical_block_size;
    let current = part.sectors * 512;
    match grow::grow_partition(&mut disk, lba, disk_bytes, part.number) {
        Ok(GrowOutcome::AlreadyFull { .. }) => Ok(current),
        Ok(GrowOutcome::Grown {
            first_lba,
            new_last_lba,
            ..
        }) => {
            disk.sync_all()
                .map_err(|e| format!("cannot flush the partition table: {e}"))?;
            let length = (new_last_lba + 1 - first_lba) * lba;
            crate::sys::block::resize_partition(&disk, part.number, first_lba * lba, length)
                .map_err(|e| {
                    format!("partition table rewritten but the kernel kept the old size: {e}")
                })?;
            tracing::info!(
                "data partition grown from {} MiB to {} MiB (disk {} MiB)",
                current / MIB,
                length / MIB,
                disk_bytes / MIB
            );
            Ok(length)
        }
        Err(err) => Err(format!("cannot grow the data partition: {err}")),
    }
}

/// Grows the mounted filesystem to fill `partition_bytes` when it is smaller.
fn grow_filesystem(before: crate::boot::ext4::Ext4Size, partition_bytes: u64, mount_point: &Path) {
    let target = partition_bytes / before.block_size;
    if target <= before.blocks {
        return;
    }
    let result =
        File::open(mount_point).and_then(|dir| crate::sys::block::ext4_resize(&dir, target));
    match result {
        Ok(()) => tracing::info!(
            "data filesystem grown from {} MiB to {} MiB",
            before.bytes() / MIB,
            target * before.block_size / MIB
        ),
        Err(err) => tracing::warn!("data filesystem not grown: {err}"),
    }
}

/// Reads, increments and durably stores the boot count in the data
/// partition mounted at `data`.
pub fn bump_boot_count(data: &Path) -> io::Result<u64> {
    let path = data.join(data_layout::BOOT_COUNT);
    let previous = match std::fs::read_to_string(&path) {
        Ok(text) => text.trim().parse::<u64>().unwrap_or_else(|_| {
            tracing::warn!("boot-count held {:?}; starting over", text.trim());
            0
        }),
        Err(err) if err.kind() == io::ErrorKind::NotFound => 0,
        Err(err) => return Err(err),
    };
    let count = previous.saturating_add(1);
    cairn_sys::fs::write_atomically(&path, format!("{count}\n").as_bytes())?;
    Ok(count)
}

/// Step 5 of boot. Returns the boot number when /data is mounted.
pub fn setup(part: Option<&Partition>, dev: &Path, mounts: &mut MountTable) -> Option<u64> {
    let Some(part) = part else {
        tracing::error!("no data partition found; running without persistence");
        return None;
    };
    let partition_bytes = match grow_partition(part, dev) {
        Ok(bytes) => bytes,
        Err(message) => {
            tracing::error!("{message}");
            part.sectors * 512
        }
    };
    let dev_path =
        match crate::boot::partitions::ensure_node(dev, &part.devname, part.major, part.minor) {
            Ok(path) => path,
            Err(err) => {
                tracing::error!(
                    "data partition unusable: no device node: {err}; running without persistence"
                );
                return None;
            }
        };
    let before = File::open(&dev_path).and_then(|mut f| crate::boot::ext4::read_size(&mut f));
    let spec = MountSpec {
        source: dev_path.to_string_lossy().into_owned(),
        target: PathBuf::from(MOUNT_POINT),
        fstype: "ext4".to_string(),
        flags: MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC | MsFlags::MS_NOATIME,
        data: String::new(),
    };
    if let Err(err) = mounts.mount(&mut Linux, &spec) {
        tracing::error!(
            "data partition {} not mounted: {err}; running without persistence",
            dev_path.display()
        );
        return None;
    }
    match before {
        Ok(size) => grow_filesystem(size, partition_bytes, Path::new(MOUNT_POINT)),
        Err(err) => tracing::warn!("cannot read the data filesystem's size: {err}"),
    }
    match bump_boot_count(Path::new(MOUNT_POINT)) {
        Ok(count) => {
            tracing::info!("data partition mounted (boot #{count})");
            Some(count)
        }
        Err(err) => {
            tracing::error!("data partition mounted but the boot count failed: {err}");
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn boot_count_starts_at_one_and_increments() {
        let tmp = tempfile::tempdir().unwrap();
        assert_eq!(bump_boot_count(tmp.path()).unwrap(), 1);
        assert_eq!(bump_boot_count(tmp.path()).unwrap(), 2);
        assert_eq!(bump_boot_count(tmp.path()).unwrap(), 3);
        let stored = std::fs::read_to_string(tmp.path().join(data_layout::BOOT_COUNT)).unwrap();
        assert_eq!(stored, "3\n");
        let dir = tmp.path().join(data_layout::SYSTEM);
        let names: Vec<_> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names.len(), 1, "{names:?}");
    }

    #[test]
    fn a_garbled_boot_count_starts_over() {
        let tmp = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(tmp.path().join(data_layout::SYSTEM)).unwrap();
        std::fs::write(tmp.path().join(data_layout::BOOT_COUNT), "seven\n").unwrap();
        assert_eq!(bump_boot_count(tmp.path()).unwrap(), 1);
    }
}
