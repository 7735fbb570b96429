//! The FAT32 boot sector (its BIOS parameter block) and the FSInfo sector.
//!
//! Parsing trusts nothing: the volume may be damaged, and everything later
//! (which sector a cluster is at, how far a FAT reaches) is computed from
//! these fields, so each one used is checked, and the derived layout must fit
//! inside the volume before anything else is read.

use crate::error::{FatError, Result};

pub(crate) const SECTOR: usize = 512;
/// The only sector size handled: the unit of atomic writes, and what every
/// ESP has in practice.
pub(crate) const SECTOR_U64: u64 = SECTOR as u64;
/// FAT32 below this many clusters is, by the specification's rule, FAT16.
pub(crate) const FAT32_MIN_CLUSTERS: u32 = 65_525;
/// The largest cluster count whose cluster numbers stay below the
/// reserved values 0x0FFFFFF7 and up.
const FAT32_MAX_CLUSTERS: u32 = 0x0FFF_FFF5;

/// Offset of the state byte whose bit 0 Linux sets while the volume is
/// mounted ("dirty").
pub(crate) const STATE_OFFSET: usize = 0x41;
pub(crate) const STATE_DIRTY: u8 = 0x01;

/// Where the formatter puts the FSInfo sector and the backup boot sector;
/// the same as mkfs.fat and Windows.
pub(crate) const FSINFO_SECTOR: u16 = 1;
pub(crate) const BACKUP_BOOT_SECTOR: u16 = 6;

/// Where the volume's parts are, from a checked boot sector.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Geometry {
    total_sectors: u64,
    sectors_per_cluster: u32,
    reserved_sectors: u32,
    fat_count: u32,
    fat_sectors: u32,
    active_fat: u32,
    root_cluster: u32,
    cluster_count: u32,
    data_start: u64,
    volume_id: u32,
    label: [u8; 11],
}

fn le16(b: &[u8; SECTOR], at: usize) -> u16 {
    u16::from_le_bytes([
        b.get(at).copied().unwrap_or(0),
        b.get(at + 1).copied().unwrap_or(0),
    ])
}

fn le32(b: &[u8; SECTOR], at: usize) -> u32 {
    u32::from_le_bytes([
        b.get(at).copied().unwrap_or(0),
        b.get(at + 1).copied().unwrap_or(0),
        b.get(at + 2).copied().unwrap_or(0),
        b.get(at + 3).copied().unwrap_or(0),
    ])
}

fn bad(field: &'static str, value: impl Into<u64>, why: &'static str) -> FatError {
    FatError::BootSector {
        field,
        value: value.into(),
        why,
    }
}

impl Geometry {
    /// Checks a boot sector and works out the volume's layout from it.
    pub fn parse(b: &[u8; SECTOR]) -> Result<Geometry> {
        if b[510] != 0x55 || b[511] != 0xAA {
            return Err(bad("signature", le16(b, 510), "not 0xAA55"));
        }
        if b[0] != 0xEB && b[0] != 0xE9 {
            return Err(bad("BS_jmpBoot", b[0], "not a jump: no FAT boot sector"));
        }
        let bytes_per_sector = le16(b, 11);
        if usize::from(bytes_per_sector) != SECTOR {
            return Err(bad(
                "BPB_BytsPerSec",
                bytes_per_sector,
                "only 512-byte sectors are handled",
            ));
        }
        let sectors_per_cluster = b[13];
        if !sectors_per_cluster.is_power_of_two() {
            return Err(bad(
                "BPB_SecPerClus",
                sectors_per_cluster,
                "not a power of two",
            ));
        }
        let reserved = le16(b, 14);
        if reserved == 0 {
            return Err(bad("BPB_RsvdSecCnt", reserved, "must be at least 1"));
        }
        let fat_count = b[16];
        if !(1..=4).contains(&fat_count) {
            return Err(bad("BPB_NumFATs", fat_count, "must be 1 to 4"));
        }
        let root_entries = le16(b, 17);
        if root_entries != 0 {
            return Err(bad("BPB_RootEntCnt", root_entries, "not 0: not FAT32"));
        }
        let fat16_size = le16(b, 22);
        if fat16_size != 0 {
            return Err(bad("BPB_FATSz16", fat16_size, "not 0: not FAT32"));
        }
        let total16 = le16(b, 19);
        let total32 = le32(b, 32);
        let total_sectors = if total16 != 0 {
            u64::from(total16)
        } else {
            u64::from(total32)
        };
        if total_sectors == 0 {
            return Err(bad("BPB_TotSec32", total32, "the volume has no sectors"));
        }
        let fat_sectors = le32(b, 36);
        if fat_sectors == 0 {
            return Err(bad("BPB_FATSz32", fat_sectors, "the FAT has no sectors"));
        }
        let ext_flags = le16(b, 40);
        // Bit 7: only one FAT is active (the one in bits 0-3); otherwise all
        // are mirrors and FAT 0 is read.
        let active_fat = if ext_flags & 0x80 != 0 {
            u32::from(ext_flags & 0x0F)
        } else {
            0
        };
        if active_fat >= u32::from(fat_count) {
            return Err(bad(
                "BPB_ExtFlags",
                ext_flags,
                "the active FAT does not exist",
            ));
        }
        let version = le16(b, 42);
        if version != 0 {
            return Err(bad("BPB_FSVer", version, "unknown FAT32 version"));
        }
        let data_start = u64::from(reserved) + u64::from(fat_count) * u64::from(fat_sectors);
        if data_start >= total_sectors {
            return Err(bad(
                "BPB_FATSz32",
                fat_sectors,
                "the reserved sectors and FATs fill the whole volume",
            ));
        }
        let clusters = (total_sectors - data_start) / u64::from(sectors_per_cluster);
        if clusters < u64::from(FAT32_MIN_CLUSTERS) {
            return Err(bad(
                "cluster count",
                clusters,
                "fewer than 65525 clusters: not FAT32",
            ));
        }
        if clusters > u64::from(FAT32_MAX_CLUSTERS) {
            return Err(bad(
                "cluster count",
                clusters,
                "more clusters than FAT32 can number",
            ));
        }
        // Checked just above, so it fits.
        let cluster_count = clusters as u32;
        // Each FAT sector holds 128 entries; entries 0 and 1 are reserved.
        if u64::from(fat_sectors) * 128 < clusters + 2 {
            return Err(bad(
                "BPB_FATSz32",
                fat_sectors,
                "the FAT is too small for the volume's clusters",
            ));
        }
        let root_cluster = le32(b, 44);
        if root_cluster < 2 || root_cluster >= cluster_count + 2 {
            return Err(bad(
                "BPB_RootClus",
                root_cluster,
                "not a data cluster of the volume",
            ));
        }
        let mut label = [0u8; 11];
        label.copy_from_slice(b.get(71..82).unwrap_or(&[b' '; 11]));
        Ok(Geometry {
            total_sectors,
            sectors_per_cluster: u32::from(sectors_per_cluster),
            reserved_sectors: u32::from(reserved),
            fat_count: u32::from(fat_count),
            fat_sectors,
            active_fat,
            root_cluster,
            cluster_count,
            data_start,
            volume_id: if b[66] == 0x29 { le32(b, 67) } else { 0 },
            label,
        })
    }

    /// Bytes per cluster.
    pub fn cluster_size(&self) -> u32 {
        self.sectors_per_cluster * SECTOR as u32
    }

    /// Sectors per cluster.
    pub fn sectors_per_cluster(&self) -> u32 {
        self.sectors_per_cluster
    }

    /// Data clusters: valid cluster numbers are `2..cluster_count() + 2`.
    pub fn cluster_count(&self) -> u32 {
        self.cluster_count
    }

    /// The volume's size in sectors.
    pub fn total_sectors(&self) -> u64 {
        self.total_sectors
    }

    /// The first cluster of the root directory.
    pub fn root_cluster(&self) -> u32 {
        self.root_cluster
    }

    /// The volume id (serial number), 0 if the boot sector has none.
    pub fn volume_id(&self) -> u32 {
        self.volume_id
    }

    /// The label of the boot sector, trimmed.
    pub fn label(&self) -> String {
        String::from_utf8_lossy(&self.label).trim_end().to_string()
    }

    /// One past the last valid cluster number.
    pub(crate) fn cluster_end(&self) -> u32 {
        self.cluster_count + 2
    }

    /// The first sector of a cluster; the caller has checked it is valid.
    pub(crate) fn cluster_sector(&self, cluster: u32) -> u64 {
        self.data_start + u64::from(cluster.saturating_sub(2)) * u64::from(self.sectors_per_cluster)
    }

    /// The sector of the active FAT holding `cluster`'s entry, and the
    /// entry's byte offset in it.
    pub(crate) fn fat_entry(&self, cluster: u32) -> (u64, usize) {
        let byte = u64::from(cluster) * 4;
        let sector = u64::from(self.reserved_sectors)
            + u64::from(self.active_fat) * u64::from(self.fat_sectors)
            + byte / SECTOR_U64;
        (sector, (byte % SECTOR_U64) as usize)
    }
}

/// What the formatter puts in a boot sector.
#[derive(Debug, Clone)]
pub(crate) struct BootParams {
    pub total_sectors: u32,
    pub sectors_per_cluster: u8,
    pub reserved_sectors: u16,
    pub fat_count: u8,
    pub fat_sectors: u32,
    pub hidden_sectors: u32,
    pub volume_id: u32,
    pub label: [u8; 11],
}

/// Media descriptor for fixed disks; `FAT[0]` repeats it.
pub(crate) const MEDIA: u8 = 0xF8;

/// A FAT32 boot sector for `p`, clean (state byte 0), root at cluster 2.
pub(crate) fn boot_sector(p: &BootParams) -> [u8; SECTOR] {
    let mut b = [0u8; SECTOR];
    let mut put = |at: usize, bytes: &[u8]| {
        if let Some(dst) = b.get_mut(at..at + bytes.len()) {
            dst.copy_from_slice(bytes);
        }
    };
    // A jump over the BPB, as every FAT boot sector starts.
    put(0, &[0xEB, 0x58, 0x90]);
    put(3, b"CAIRN   ");
    put(11, &(SECTOR as u16).to_le_bytes());
    put(13, &[p.sectors_per_cluster]);
    put(14, &p.reserved_sectors.to_le_bytes());
    put(16, &[p.fat_count]);
    // Root entries, 16-bit total, media, 16-bit FAT size.
    put(17, &[0, 0, 0, 0, MEDIA, 0, 0]);
    // Sectors per track and heads: only BIOS CHS addressing reads them.
    put(24, &63u16.to_le_bytes());
    put(26, &255u16.to_le_bytes());
    put(28, &p.hidden_sectors.to_le_bytes());
    put(32, &p.total_sectors.to_le_bytes());
    put(36, &p.fat_sectors.to_le_bytes());
    // ExtFlags 0: the FATs are mirrors. FSVer 0.
    put(44, &2u32.to_le_bytes());
    put(48, &FSINFO_SECTOR.to_le_bytes());
    put(50, &BACKUP_BOOT_SECTOR.to_le_bytes());
    put(64, &[0x80, 0, 0x29]);
    put(67, &p.volume_id.to_le_bytes());
    put(71, &p.label);
    put(82, b"FAT32   ");
    put(510, &[0x55, 0xAA]);
    b
}

/// "Not known" for both FSInfo counts.
pub(crate) const FSINFO_UNKNOWN: u32 = 0xFFFF_FFFF;

/// An FSInfo sector with the free cluster count and the next free cluster.
pub(crate) fn fsinfo(free: u32, next_free: u32) -> [u8; SECTOR] {
    let mut b = [0u8; SECTOR];
    let mut put = |at: usize, bytes: &[u8]| {
        if let Some(dst) = b.get_mut(at..at + bytes.len()) {
            dst.copy_from_slice(bytes);
        }
    };
    put(0, &0x4161_5252u32.to_le_bytes());
    put(484, &0x6141_7272u32.to_le_bytes());
    put(488, &free.to_le_bytes());
    put(492, &next_free.to_le_bytes());
    put(508, &0xAA55_0000u32.to_le_bytes());
    b
}

#[cfg(test)]
mod tests {
    use super::*;

    fn good() -> [u8; SECTOR] {
        boot_sector(&BootParams {
            total_sectors: 80_000,
            sectors_per_cluster: 1,
            reserved_sectors: 32,
            fat_count: 2,
            fat_sectors: 620,
            hidden_sectors: 0,
            volume_id: 0x1234_5678,
            label: *b"CAIRN-ESP  ",
        })
    }

    #[test]
    fn parses_what_it_writes() {
        let g = Geometry::parse(&good()).unwrap();
        assert_eq!(g.cluster_size(), 512);
        assert_eq!(g.data_start, 32 + 2 * 620);
        assert_eq!(g.cluster_count(), 80_000 - 1272);
        assert_eq!(g.root_cluster(), 2);
        assert_eq!(g.volume_id(), 0x1234_5678);
        assert_eq!(g.label(), "CAIRN-ESP");
        assert_eq!(g.cluster_sector(2), 1272);
        assert_eq!(g.fat_entry(130), (33, 8));
    }

    /// Each damaged field is refused, naming the field.
    #[test]
    fn damaged_fields() {
        type Damage = fn(&mut [u8; SECTOR]);
        let cases: &[(&str, Damage)] = &[
            ("signature", |b| b[511] = 0),
            ("BS_jmpBoot", |b| b[0] = 0),
            ("BPB_BytsPerSec", |b| b[12] = 4),
            ("BPB_SecPerClus", |b| b[13] = 3),
            ("BPB_SecPerClus", |b| b[13] = 0),
            ("BPB_RsvdSecCnt", |b| b[14..16].fill(0)),
            ("BPB_NumFATs", |b| b[16] = 0),
            ("BPB_NumFATs", |b| b[16] = 9),
            ("BPB_RootEntCnt", |b| b[17] = 1),
            ("BPB_FATSz16", |b| b[22] = 1),
            ("BPB_TotSec32", |b| b[32..36].fill(0)),
            ("BPB_FATSz32", |b| b[36..40].fill(0)),
            // The FATs take more than the whole volume.
            ("BPB_FATSz32", |b| {
                b[36..40].copy_from_slice(&50_000u32.to_le_bytes())
            }),
            // A FAT too small for the clusters.
            ("BPB_FATSz32", |b| {
                b[36..40].copy_from_slice(&500u32.to_le_bytes())
            }),
            ("BPB_ExtFlags", |b| b[40] = 0x83),
            ("BPB_FSVer", |b| b[42] = 1),
            ("BPB_RootClus", |b| b[44..48].fill(0)),
            ("BPB_RootClus", |b| {
                b[44..48].copy_from_slice(&90_000u32.to_le_bytes())
            }),
            // Too few clusters for FAT32.
            ("cluster count", |b| {
                b[32..36].copy_from_slice(&60_000u32.to_le_bytes())
            }),
        ];
        for (field, damage) in cases {
            let mut b = good();
            damage(&mut b);
            match Geometry::parse(&b) {
                Err(FatError::BootSector { field: f, .. }) => assert_eq!(f, *field),
                other => panic!("{field}: {other:?}"),
            }
        }
    }

    #[test]
    fn fsinfo_signatures() {
        let s = fsinfo(7, 9);
        assert_eq!(&s[0..4], b"RRaA");
        assert_eq!(&s[484..488], b"rrAa");
        assert_eq!(&s[488..492], &7u32.to_le_bytes());
        assert_eq!(&s[492..496], &9u32.to_le_bytes());
        assert_eq!(&s[508..512], &[0, 0, 0x55, 0xAA]);
    }
}
