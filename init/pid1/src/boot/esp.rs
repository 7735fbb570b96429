//! The ESP, opened for a moment: PID 1 reads the boot entries or changes
//! one (blessing, marking bad) through the FAT volume on the device, never
//! mounting it, so the volume is never left dirty by a power cut (see
//! `cairn_update::esp`).

use std::path::Path;

use cairn_update::esp::{Esp, EspError, FatFiles};

use crate::boot::partitions::Partition;

/// Opens the ESP `esp` (its node made under `dev` if need be), runs `work`
/// on it, and closes it. An error says what failed, for the caller's log.
pub fn with_esp<T>(
    esp: Option<&Partition>,
    dev: &Path,
    work: impl FnOnce(&mut Esp<FatFiles>) -> Result<T, EspError>,
) -> Result<T, String> {
    let esp = esp.ok_or("no esp partition")?;
    let node = crate::boot::partitions::ensure_node(dev, &esp.devname, esp.major, esp.minor)
        .map_err(|err| format!("no device node for the esp: {err}"))?;
    let files = FatFiles::open(&node)
        .map_err(|err| format!("cannot open the esp ({}): {err}", node.display()))?;
    let mut volume = Esp::new(files);
    work(&mut volume).map_err(|err| err.to_string())
}
