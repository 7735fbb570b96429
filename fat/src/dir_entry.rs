//! The 32-byte directory slot: the 8.3 entry that owns a file's cluster
//! chain and size, and how a slot's first byte and attributes say what it is
//! (free, end of directory, LFN slot, volume label, `.`/`..`).

use crate::time::FatTime;

/// Bytes in one directory slot.
pub(crate) const SLOT: usize = 32;
/// Slots in one 512-byte sector.
pub(crate) const SLOTS_PER_SECTOR: usize = 16;

pub(crate) const ATTR_READ_ONLY: u8 = 0x01;
pub(crate) const ATTR_HIDDEN: u8 = 0x02;
pub(crate) const ATTR_SYSTEM: u8 = 0x04;
pub(crate) const ATTR_VOLUME_ID: u8 = 0x08;
pub(crate) const ATTR_DIRECTORY: u8 = 0x10;
pub(crate) const ATTR_ARCHIVE: u8 = 0x20;
/// An LFN slot claims to be read-only, hidden, system and a volume label,
/// which old systems skip.
pub(crate) const ATTR_LFN: u8 = ATTR_READ_ONLY | ATTR_HIDDEN | ATTR_SYSTEM | ATTR_VOLUME_ID;
const ATTR_LFN_MASK: u8 = 0x3F;

/// First byte of a free (deleted) slot.
pub(crate) const FREE: u8 = 0xE5;
/// First byte of the end of a directory: this slot and all after it are free.
pub(crate) const END: u8 = 0x00;

/// What one slot holds, by its first byte and attributes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SlotKind {
    /// 0x00: the end of the directory.
    End,
    /// 0xE5: free.
    Free,
    /// A part of a long name.
    Lfn,
    /// The volume label (root directory only).
    Label,
    /// `.` or `..` of a subdirectory.
    Dot,
    /// A file's or directory's 8.3 entry.
    Short,
}

/// Tells what `slot` is.
pub(crate) fn kind(slot: &[u8; SLOT]) -> SlotKind {
    match slot[0] {
        END => SlotKind::End,
        FREE => SlotKind::Free,
        _ if slot[11] & ATTR_LFN_MASK == ATTR_LFN => SlotKind::Lfn,
        _ if slot[11] & ATTR_VOLUME_ID != 0 => SlotKind::Label,
        b'.' => SlotKind::Dot,
        _ => SlotKind::Short,
    }
}

/// An 8.3 directory entry, decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ShortEntry {
    pub name: [u8; 11],
    pub attr: u8,
    /// Reserved for Windows NT, which (like Linux) keeps the lowercase flags
    /// here.
    pub nt_res: u8,
    pub created_hundredths: u8,
    pub created_time: u16,
    pub created_date: u16,
    pub accessed_date: u16,
    pub first_cluster: u32,
    pub modified_time: u16,
    pub modified_date: u16,
    pub size: u32,
}

impl ShortEntry {
    /// An entry with all three timestamps at `time`.
    pub fn new(name: [u8; 11], attr: u8, nt_res: u8, time: FatTime) -> Self {
        ShortEntry {
            name,
            attr,
            nt_res,
            created_hundredths: time.hundredths,
            created_time: time.time,
            created_date: time.date,
            accessed_date: time.date,
            first_cluster: 0,
            modified_time: time.time,
            modified_date: time.date,
            size: 0,
        }
    }

    pub fn is_dir(&self) -> bool {
        self.attr & ATTR_DIRECTORY != 0
    }

    pub fn decode(b: &[u8; SLOT]) -> Self {
        let u16_at = |i: usize| {
            u16::from_le_bytes([
                b.get(i).copied().unwrap_or(0),
                b.get(i + 1).copied().unwrap_or(0),
            ])
        };
        let mut name = [0u8; 11];
        name.copy_from_slice(b.get(..11).unwrap_or(&[0; 11]));
        ShortEntry {
            name,
            attr: b[11],
            nt_res: b[12],
            created_hundredths: b[13],
            created_time: u16_at(14),
            created_date: u16_at(16),
            accessed_date: u16_at(18),
            first_cluster: (u32::from(u16_at(20)) << 16) | u32::from(u16_at(26)),
            modified_time: u16_at(22),
            modified_date: u16_at(24),
            size: u32::from_le_bytes([b[28], b[29], b[30], b[31]]),
        }
    }

    pub fn encode(&self) -> [u8; SLOT] {
        let mut b = [0u8; SLOT];
        let mut put = |at: usize, bytes: &[u8]| {
            if let Some(dst) = b.get_mut(at..at + bytes.len()) {
                dst.copy_from_slice(bytes);
            }
        };
        put(0, &self.name);
        put(11, &[self.attr, self.nt_res, self.created_hundredths]);
        put(14, &self.created_time.to_le_bytes());
        put(16, &self.created_date.to_le_bytes());
        put(18, &self.accessed_date.to_le_bytes());
        put(20, &((self.first_cluster >> 16) as u16).to_le_bytes());
        put(22, &self.modified_time.to_le_bytes());
        put(24, &self.modified_date.to_le_bytes());
        put(26, &(self.first_cluster as u16).to_le_bytes());
        put(28, &self.size.to_le_bytes());
        b
    }
}

/// A free slot as the formatter pads with it: first byte 0xE5, the rest zero.
pub(crate) fn free_slot() -> [u8; SLOT] {
    let mut b = [0u8; SLOT];
    b[0] = FREE;
    b
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let e = ShortEntry {
            name: *b"CAIRN-~1CON",
            attr: ATTR_ARCHIVE,
            nt_res: 0x18,
            created_hundredths: 100,
            created_time: 0x1234,
            created_date: 0x5678,
            accessed_date: 0x9ABC,
            first_cluster: 0x0012_3456,
            modified_time: 0xDEF0,
            modified_date: 0x1357,
            size: 0xCAFE_BABE,
        };
        let b = e.encode();
        assert_eq!(&b[20..22], &[0x12, 0x00]);
        assert_eq!(&b[26..28], &[0x56, 0x34]);
        assert_eq!(ShortEntry::decode(&b), e);
        assert_eq!(kind(&b), SlotKind::Short);
    }

    #[test]
    fn kinds() {
        let mut b = [0u8; SLOT];
        assert_eq!(kind(&b), SlotKind::End);
        b[0] = FREE;
        b[11] = ATTR_LFN;
        assert_eq!(kind(&b), SlotKind::Free);
        b[0] = 0x41;
        assert_eq!(kind(&b), SlotKind::Lfn);
        b[11] = ATTR_VOLUME_ID | ATTR_ARCHIVE;
        assert_eq!(kind(&b), SlotKind::Label);
        b[0] = b'.';
        b[11] = ATTR_DIRECTORY;
        assert_eq!(kind(&b), SlotKind::Dot);
    }
}
