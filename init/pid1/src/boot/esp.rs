//! Mounting the ESP for a moment: PID 1 changes a boot entry (blessing,
//! marking bad) or reads them, then unmounts at once, so the ESP is never
//! mounted, let alone dirty, when the power goes.

use std::path::{Path, PathBuf};

use cairn_sys::mount::{Linux, MsFlags};

use crate::boot::mounts::{MountSpec, MountTable};
use crate::boot::partitions::Partition;

/// Where the ESP is mounted while PID 1 works on it.
pub const MOUNT_POINT: &str = cairn_layout::run::ESP_MOUNT;

/// Mounts the ESP, runs `work` on its entries directory, syncs and unmounts.
/// An error says what failed, for the caller's log line.
pub fn with_entries<T>(
    esp: Option<&Partition>,
    dev: &Path,
    mounts: &mut MountTable,
    work: impl FnOnce(&Path) -> std::io::Result<T>,
) -> Result<T, String> {
    let esp = esp.ok_or("no esp partition")?;
    let dev_path = crate::boot::partitions::ensure_node(dev, &esp.devname, esp.major, esp.minor)
        .map_err(|err| format!("no device node for the esp: {err}"))?;
    let target = PathBuf::from(MOUNT_POINT);
    let spec = MountSpec {
        source: dev_path.to_string_lossy().into_owned(),
        target: target.clone(),
        fstype: "vfat".to_string(),
        flags: MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC,
        data: String::new(),
    };
    mounts
        .mount(&mut Linux, &spec)
        .map_err(|err| format!("cannot mount the esp: {err}"))?;
    let result = work(&target.join(cairn_layout::esp::ENTRIES_DIR)).map_err(|err| err.to_string());
    crate::sys::power::sync();
    if let Err(err) = mounts.unmount(&mut Linux, &target) {
        tracing::warn!("esp stays mounted: {err}");
    }
    result
}
