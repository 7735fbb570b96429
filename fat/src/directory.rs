//! Reading a directory: its sectors in order, and each entry with the exact
//! slots it occupies, which a rename needs to rewrite them in place.
//!
//! The walk is bounded: a directory's chain may be at most 2 MiB (FAT's
//! limit of 65536 slots), and it stops at the first end-of-directory slot,
//! as fsck.fat and Linux do.

use std::io::{Read, Seek};

use crate::boot_sector::{Geometry, SECTOR};
use crate::device::read_sector;
use crate::dir_entry::{kind, ShortEntry, SlotKind, SLOT, SLOTS_PER_SECTOR};
use crate::error::{FatError, Result};
use crate::fat_table;
use crate::names::{short_display, LongNameParts};

/// FAT allows a directory 65536 slots of 32 bytes.
const MAX_DIR_BYTES: u64 = 65_536 * SLOT as u64;

/// Where a slot is: a sector of the volume and the slot's index in it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct SlotAt {
    pub sector: u64,
    pub index: usize,
}

/// One file or directory found in a directory.
#[derive(Debug, Clone)]
pub(crate) struct Found {
    /// The long name, or the 8.3 name shown as Linux shows it.
    pub name: String,
    pub short: ShortEntry,
    pub short_at: SlotAt,
    /// The LFN slots that belong to the entry, in disk order; orphaned LFN
    /// slots before it are not counted.
    pub lfn_at: Vec<SlotAt>,
}

/// A directory as read.
#[derive(Debug)]
pub(crate) struct Directory {
    /// Its sectors in order, through its whole chain.
    pub sectors: Vec<u64>,
    /// Its files and directories (no `.`, `..` or volume label).
    pub entries: Vec<Found>,
    /// Every 8.3 name in it, the label's included, for unique aliases.
    pub shorts: Vec<[u8; 11]>,
}

impl Directory {
    /// The sector before `sector` in the directory's order, if any.
    pub fn sector_before(&self, sector: u64) -> Option<u64> {
        let i = self.sectors.iter().position(|&s| s == sector)?;
        self.sectors.get(i.checked_sub(1)?).copied()
    }

    /// Whether `sector` is the directory's last.
    pub fn is_last(&self, sector: u64) -> bool {
        self.sectors.last() == Some(&sector)
    }
}

/// The 32-byte slot `index` of a sector.
pub(crate) fn slot(sector: &[u8; SECTOR], index: usize) -> [u8; SLOT] {
    let mut out = [0u8; SLOT];
    if let Some(src) = sector.get(index * SLOT..(index + 1) * SLOT) {
        out.copy_from_slice(src);
    }
    out
}

/// Puts a 32-byte slot at `index` of a sector.
pub(crate) fn set_slot(sector: &mut [u8; SECTOR], index: usize, value: &[u8; SLOT]) {
    if let Some(dst) = sector.get_mut(index * SLOT..(index + 1) * SLOT) {
        dst.copy_from_slice(value);
    }
}

/// Reads the directory whose chain starts at `first`; `path` names it in
/// errors.
pub(crate) fn read<D: Read + Seek>(
    dev: &mut D,
    geometry: &Geometry,
    first: u32,
    path: &str,
) -> Result<Directory> {
    let limit = MAX_DIR_BYTES.div_ceil(u64::from(geometry.cluster_size()));
    let chain = chain(dev, geometry, first, limit, path).map_err(|e| match e {
        FatError::ChainTooLong { .. } => FatError::DirectoryTooLarge {
            path: path.to_string(),
            first,
        },
        e => e,
    })?;
    let per_cluster = u64::from(geometry.sectors_per_cluster());
    let sectors: Vec<u64> = chain
        .iter()
        .flat_map(|&c| {
            let start = geometry.cluster_sector(c);
            start..start + per_cluster
        })
        .collect();
    let mut dir = Directory {
        sectors,
        entries: Vec::new(),
        shorts: Vec::new(),
    };
    let mut parts = LongNameParts::default();
    let mut pending: Vec<SlotAt> = Vec::new();
    'sectors: for &sector in &dir.sectors {
        let data = read_sector(dev, sector, "directory")?;
        for index in 0..SLOTS_PER_SECTOR {
            let raw = slot(&data, index);
            let at = SlotAt { sector, index };
            match kind(&raw) {
                SlotKind::End => break 'sectors,
                SlotKind::Lfn => {
                    if raw[0] & 0x40 != 0 {
                        pending.clear();
                    }
                    pending.push(at);
                    parts.push(&raw);
                }
                SlotKind::Free | SlotKind::Dot => {
                    parts.clear();
                    pending.clear();
                }
                SlotKind::Label => {
                    parts.clear();
                    pending.clear();
                    dir.shorts.push(ShortEntry::decode(&raw).name);
                }
                SlotKind::Short => {
                    let short = ShortEntry::decode(&raw);
                    let long = parts.finish(&short.name);
                    let lfn_at = if long.is_some() {
                        std::mem::take(&mut pending)
                    } else {
                        pending.clear();
                        Vec::new()
                    };
                    dir.shorts.push(short.name);
                    dir.entries.push(Found {
                        name: long.unwrap_or_else(|| short_display(&short.name, short.nt_res)),
                        short,
                        short_at: at,
                        lfn_at,
                    });
                }
            }
        }
    }
    Ok(dir)
}

/// The chain from `first`, at most `limit` clusters, read from the active FAT.
pub(crate) fn chain<D: Read + Seek>(
    dev: &mut D,
    geometry: &Geometry,
    first: u32,
    limit: u64,
    what: &str,
) -> Result<Vec<u32>> {
    // Chains are mostly consecutive: keep the last FAT sector read.
    let mut cached: Option<(u64, [u8; SECTOR])> = None;
    fat_table::walk(first, geometry.cluster_end(), limit, what, |cluster| {
        let (sector, offset) = geometry.fat_entry(cluster);
        if !matches!(cached, Some((s, _)) if s == sector) {
            cached = Some((sector, read_sector(dev, sector, "FAT")?));
        }
        let bytes: [u8; 4] = cached
            .as_ref()
            .and_then(|(_, d)| d.get(offset..offset + 4))
            .and_then(|b| b.try_into().ok())
            .unwrap_or([0; 4]);
        Ok(u32::from_le_bytes(bytes))
    })
}
