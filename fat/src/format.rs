//! Formatting a FAT32 volume with its contents in one pass.
//!
//! Everything is laid out in memory first (directory slots, cluster
//! allocation, the FAT), then written in volume order with few, large
//! writes. Nothing comes from the host: timestamps, volume id and label are
//! the caller's, directories are sorted by name, so the same input gives the
//! same bytes.
//!
//! The target need not be zeroed: the reserved sectors, both FATs, every
//! directory cluster and every file cluster (data, then zeros to the end of
//! its last cluster) are written whole. Free clusters are not written at
//! all: a new file or `Vec` reads them as zeros (and stays sparse), and no
//! reader looks at them on a reused disk; only then do the bytes of free
//! space differ between two targets. The last sector of the volume is
//! written so a new file or `Vec` gets the volume's full length.

use std::io::{Seek, SeekFrom, Write};

use crate::boot_sector::{
    boot_sector, fsinfo, BootParams, Geometry, BACKUP_BOOT_SECTOR, FAT32_MIN_CLUSTERS,
    FSINFO_SECTOR, FSINFO_UNKNOWN, MEDIA, SECTOR, SECTOR_U64,
};
use crate::contents::Contents;
use crate::dir_entry::SLOT;
use crate::dir_layout::{encode_dir, plan_dir, DirPlan};
use crate::error::{FatError, Result};
use crate::fat_table;
use crate::time::FatTime;
use crate::tree::{preorder, tree, Kind};

/// Reserved sectors before the first FAT, as mkfs.fat and Windows use for
/// FAT32: boot sector, FSInfo, backup boot sector and backup FSInfo, room.
const RESERVED_SECTORS: u16 = 32;
const FAT_COUNT: u8 = 2;
/// FAT32 needs at least 65525 clusters; readers that count slightly
/// differently (rounding, or not subtracting a sector or two) must still
/// see FAT32, so the formatter keeps a margin above it.
pub const MIN_CLUSTERS: u32 = FAT32_MIN_CLUSTERS + 1024;
/// Cluster sizes tried, largest first, in sectors: the largest that still
/// gives FAT32 enough clusters keeps the FAT small.
const SECTORS_PER_CLUSTER: [u8; 4] = [8, 4, 2, 1];

/// How to format.
#[derive(Debug, Clone)]
pub struct FormatOptions {
    /// The volume's size in bytes: whole 512-byte sectors.
    pub size: u64,
    /// The volume id (serial number).
    pub volume_id: u32,
    /// The label, up to 11 characters of an 8.3 name (uppercase); empty for
    /// none.
    pub label: String,
    /// Every timestamp, in seconds since 1970 (clamped into 1980..=2107).
    pub epoch: u64,
    /// Sectors before the volume on its disk (the partition's start), which
    /// the boot sector records for BIOS-era readers; 0 for an image.
    pub hidden_sectors: u32,
}

impl FormatOptions {
    /// Options with no hidden sectors.
    pub fn new(size: u64, volume_id: u32, label: &str, epoch: u64) -> Self {
        FormatOptions {
            size,
            volume_id,
            label: label.to_string(),
            epoch,
            hidden_sectors: 0,
        }
    }
}

/// What the formatter made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Formatted {
    /// Bytes per cluster chosen.
    pub cluster_size: u32,
    /// Data clusters of the volume.
    pub clusters: u32,
    /// Clusters left free.
    pub free_clusters: u32,
}

/// Formats `target` (from its byte 0 to `options.size`) as FAT32 holding
/// `contents`: the largest cluster size from 512 to 4096 bytes that leaves
/// at least [`MIN_CLUSTERS`], files contiguous, directories sorted by name.
///
/// The target need not be zeroed: the reserved sectors, both FATs, every
/// directory cluster and every file cluster are written whole. Free clusters
/// are left as they are (a hole in a new file), which no reader looks at;
/// the same input gives the same bytes on any target that starts zeroed,
/// such as a new file or an empty `Vec`, which also get the volume's full
/// length.
pub fn format<W: Write + Seek>(
    target: &mut W,
    options: &FormatOptions,
    contents: &Contents<'_>,
) -> Result<Formatted> {
    let label = label_bytes(&options.label)?;
    let params = choose_geometry(options, label)?;
    let boot = boot_sector(&params);
    // The formatter's own boot sector goes through the same checks as any
    // other: one definition of the layout.
    let geometry = Geometry::parse(&boot)?;
    let cluster_size = geometry.cluster_size();
    let time = FatTime::from_unix(options.epoch);

    let mut nodes = tree(contents)?;
    let order = preorder(&nodes);
    let mut plans: Vec<Option<DirPlan>> = (0..nodes.len()).map(|_| None).collect();
    for &i in &order {
        if let Some(Kind::Dir(children)) = nodes.get(i).map(|n| &n.kind) {
            let plan = plan_dir(&nodes, i, children, label.is_some())?;
            let bytes = plan.used as u64 * SLOT as u64;
            let clusters = bytes.div_ceil(u64::from(cluster_size)).max(1);
            if let (Some(node), Some(p)) = (nodes.get_mut(i), plans.get_mut(i)) {
                node.clusters = clusters as u32;
                *p = Some(plan);
            }
        }
    }
    // Directories first, then files, each contiguous, in tree order.
    let mut next: u64 = 2;
    for pass_dirs in [true, false] {
        for &i in &order {
            if let Some(node) = nodes.get_mut(i) {
                let is_dir = matches!(node.kind, Kind::Dir(_));
                if is_dir != pass_dirs {
                    continue;
                }
                if let Kind::File { size, .. } = node.kind {
                    node.clusters = u64::from(size).div_ceil(u64::from(cluster_size)) as u32;
                }
                if node.clusters > 0 {
                    node.first_cluster = u32::try_from(next).unwrap_or(u32::MAX);
                    next += u64::from(node.clusters);
                }
            }
        }
    }
    let used = next - 2;
    let available = u64::from(geometry.cluster_count());
    if used > available {
        return Err(FatError::VolumeFull {
            needed: used,
            available,
            cluster_size,
        });
    }
    let free = (available - used) as u32;

    // Reserved region: boot sector and FSInfo, and their backups.
    let next_free = if free > 0 {
        next as u32
    } else {
        FSINFO_UNKNOWN
    };
    let info = fsinfo(free, next_free);
    let mut reserved = vec![0u8; usize::from(RESERVED_SECTORS) * SECTOR];
    for (sector, data) in [
        (0, &boot),
        (FSINFO_SECTOR, &info),
        (BACKUP_BOOT_SECTOR, &boot),
        (BACKUP_BOOT_SECTOR + 1, &info),
    ] {
        let at = usize::from(sector) * SECTOR;
        if let Some(dst) = reserved.get_mut(at..at + SECTOR) {
            dst.copy_from_slice(data);
        }
    }
    write_at(target, 0, &reserved)?;

    let runs: Vec<(u32, u32)> = order
        .iter()
        .filter_map(|&i| nodes.get(i))
        .filter(|n| n.clusters > 0)
        .map(|n| (n.first_cluster, n.clusters))
        .collect();
    let fat = fat_table::build(params.fat_sectors, MEDIA, &runs);
    for copy in 0..u64::from(FAT_COUNT) {
        let sector = u64::from(RESERVED_SECTORS) + copy * u64::from(params.fat_sectors);
        write_at(target, sector, &fat)?;
    }

    for &i in &order {
        let Some(node) = nodes.get(i) else { continue };
        let sector = geometry.cluster_sector(node.first_cluster);
        match &node.kind {
            Kind::Dir(_) => {
                let plan = plans.get(i).and_then(Option::as_ref);
                let bytes = encode_dir(&nodes, i, plan, label, time, cluster_size);
                write_at(target, sector, &bytes)?;
            }
            Kind::File { data, .. } if node.clusters > 0 => {
                write_at(target, sector, data)?;
                let total = u64::from(node.clusters) * u64::from(cluster_size);
                write_zeros(target, total - data.len() as u64)?;
            }
            Kind::File { .. } => {}
        }
    }

    let last = geometry.total_sectors() - 1;
    let written_to = geometry.cluster_sector(u32::try_from(next).unwrap_or(u32::MAX));
    if written_to <= last {
        write_at(target, last, &[0u8; SECTOR])?;
    }
    Ok(Formatted {
        cluster_size,
        clusters: geometry.cluster_count(),
        free_clusters: free,
    })
}

/// The label as 11 bytes, or `None` for no label; refuses what an 8.3 name
/// could not hold.
fn label_bytes(label: &str) -> Result<Option<[u8; 11]>> {
    let bad = |why| FatError::InvalidLabel {
        label: label.to_string(),
        why,
    };
    if label.is_empty() {
        return Ok(None);
    }
    if label.len() > 11 {
        return Err(bad("longer than 11 characters"));
    }
    if label.starts_with(' ') {
        return Err(bad("starts with a space"));
    }
    let ok = |c: u8| {
        c.is_ascii_uppercase()
            || c.is_ascii_digit()
            || c == b' '
            || b"!#$%&'()-@^_`{}~".contains(&c)
    };
    if !label.bytes().all(ok) {
        return Err(bad(
            "only uppercase letters, digits, spaces and ! # $ % & ' ( ) - @ ^ _ ` { } ~",
        ));
    }
    let mut out = [b' '; 11];
    for (slot, c) in out.iter_mut().zip(label.bytes()) {
        *slot = c;
    }
    Ok(Some(out))
}

/// The largest cluster size that leaves at least [`MIN_CLUSTERS`], and the
/// FAT size for it.
fn choose_geometry(options: &FormatOptions, label: Option<[u8; 11]>) -> Result<BootParams> {
    let size = options.size;
    if !size.is_multiple_of(SECTOR_U64) {
        return Err(FatError::BadVolumeSize {
            size,
            why: "not a whole number of 512-byte sectors",
        });
    }
    let total = u32::try_from(size / SECTOR_U64).map_err(|_| FatError::BadVolumeSize {
        size,
        why: "more than 2^32 sectors",
    })?;
    let reserved = u64::from(RESERVED_SECTORS);
    let fats = u64::from(FAT_COUNT);
    let total64 = u64::from(total);
    let fat_sectors_for = |clusters: u64| (clusters + 2).saturating_mul(4).div_ceil(SECTOR_U64);
    let clusters_with = |fat: u64, spc: u64| {
        total64
            .checked_sub(reserved + fats * fat)
            .map_or(0, |data| data / spc)
    };
    for spc in SECTORS_PER_CLUSTER {
        let s = u64::from(spc);
        // A FAT for every sector's cluster is too big; one sized for the
        // clusters that remain beside it is usually exact.
        let upper = fat_sectors_for(total64.saturating_sub(reserved) / s);
        let tight = fat_sectors_for(clusters_with(upper, s));
        let fat = if fat_sectors_for(clusters_with(tight, s)) <= tight {
            tight
        } else {
            upper
        };
        let clusters = clusters_with(fat, s);
        if clusters < u64::from(MIN_CLUSTERS) {
            continue;
        }
        if clusters >= 0x0FFF_FFF5 {
            return Err(FatError::BadVolumeSize {
                size,
                why: "too large for FAT32 with 4096-byte clusters",
            });
        }
        return Ok(BootParams {
            total_sectors: total,
            sectors_per_cluster: spc,
            reserved_sectors: RESERVED_SECTORS,
            fat_count: FAT_COUNT,
            fat_sectors: fat as u32,
            hidden_sectors: options.hidden_sectors,
            volume_id: options.volume_id,
            label: label.unwrap_or(*b"NO NAME    "),
        });
    }
    let min = u64::from(MIN_CLUSTERS);
    let minimum = (reserved + fats * fat_sectors_for(min) + min) * SECTOR_U64;
    Err(FatError::VolumeTooSmall { size, minimum })
}

fn write_at<W: Write + Seek>(target: &mut W, sector: u64, data: &[u8]) -> Result<()> {
    target
        .seek(SeekFrom::Start(sector * SECTOR_U64))
        .map_err(|e| FatError::io(sector, "format", e))?;
    target
        .write_all(data)
        .map_err(|e| FatError::io(sector, "format", e))
}

/// Writes `len` zeros at the current position.
fn write_zeros<W: Write + Seek>(target: &mut W, mut len: u64) -> Result<()> {
    let zeros = [0u8; 64 * 1024];
    while len > 0 {
        let n = usize::try_from(len).unwrap_or(zeros.len()).min(zeros.len());
        target
            .write_all(zeros.get(..n).unwrap_or(&[]))
            .map_err(|e| FatError::io(0, "format", e))?;
        len -= n as u64;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cluster_size_grows_with_the_volume() {
        let spc = |mib: u64| {
            choose_geometry(&FormatOptions::new(mib << 20, 1, "", 0), None)
                .map(|p| p.sectors_per_cluster)
        };
        assert_eq!(spc(34).unwrap(), 1);
        assert_eq!(spc(128).unwrap(), 2);
        assert_eq!(spc(256).unwrap(), 4);
        assert_eq!(spc(1024).unwrap(), 8);
        assert!(matches!(spc(32), Err(FatError::VolumeTooSmall { .. })));
    }

    #[test]
    fn fat_is_large_enough_and_tight() {
        for mib in [34u64, 100, 128, 300, 2048] {
            let p = choose_geometry(&FormatOptions::new(mib << 20, 1, "", 0), None).unwrap();
            let g = Geometry::parse(&boot_sector(&p)).unwrap();
            let needed = (u64::from(g.cluster_count()) + 2) * 4;
            let fat = u64::from(p.fat_sectors) * 512;
            assert!(fat >= needed && fat - needed < 2 * 512, "{mib} MiB");
            assert!(g.cluster_count() >= MIN_CLUSTERS);
        }
    }

    #[test]
    fn labels() {
        assert_eq!(label_bytes("CAIRN-ESP").unwrap(), Some(*b"CAIRN-ESP  "));
        assert_eq!(label_bytes("").unwrap(), None);
        for bad in ["lower", "TWELVE CHARS", " LEAD", "A.B", "É"] {
            assert!(label_bytes(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn sizes_refused() {
        let err = |size| choose_geometry(&FormatOptions::new(size, 1, "", 0), None);
        assert!(matches!(
            err(64 << 20 | 1),
            Err(FatError::BadVolumeSize { .. })
        ));
        assert!(matches!(err(1 << 45), Err(FatError::BadVolumeSize { .. })));
    }
}
