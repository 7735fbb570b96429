//! Reading the size of an ext4 filesystem from its superblock.
//!
//! PID 1 compares the filesystem's block count with its partition's size to
//! decide whether to grow it online. Reading the superblock (rather than
//! statfs after mounting) gives the exact count, and works for the case where
//! a previous boot grew the partition but stopped before growing the
//! filesystem.

use std::io::{self, Read, Seek, SeekFrom};

/// Where the primary superblock starts.
const SUPERBLOCK_OFFSET: u64 = 1024;
const MAGIC: u16 = 0xEF53;
const INCOMPAT_64BIT: u32 = 0x80;

/// The two numbers PID 1 needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ext4Size {
    pub blocks: u64,
    pub block_size: u64,
}

impl Ext4Size {
    pub fn bytes(&self) -> u64 {
        self.blocks.saturating_mul(self.block_size)
    }
}

/// Parses the 1024-byte superblock.
pub fn parse_superblock(sb: &[u8]) -> Option<Ext4Size> {
    let u32_at = |at: usize| -> Option<u32> {
        Some(u32::from_le_bytes(sb.get(at..at + 4)?.try_into().ok()?))
    };
    let magic = u16::from_le_bytes(sb.get(0x38..0x3A)?.try_into().ok()?);
    if magic != MAGIC {
        return None;
    }
    let log_block_size = u32_at(0x18)?;
    if log_block_size > 6 {
        return None;
    }
    let mut blocks = u64::from(u32_at(0x04)?);
    if u32_at(0x60)? & INCOMPAT_64BIT != 0 {
        blocks |= u64::from(u32_at(0x150)?) << 32;
    }
    Some(Ext4Size {
        blocks,
        block_size: 1024u64 << log_block_size,
    })
}

/// Reads the superblock of the filesystem on `dev`.
pub fn read_size(dev: &mut (impl Read + Seek)) -> io::Result<Ext4Size> {
    let mut sb = vec![0u8; 1024];
    dev.seek(SeekFrom::Start(SUPERBLOCK_OFFSET))?;
    dev.read_exact(&mut sb)?;
    parse_superblock(&sb)
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "not an ext4 filesystem"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn superblock(blocks_lo: u32, blocks_hi: u32, log: u32, bit64: bool) -> Vec<u8> {
        let mut sb = vec![0u8; 1024];
        sb[0x04..0x08].copy_from_slice(&blocks_lo.to_le_bytes());
        sb[0x18..0x1C].copy_from_slice(&log.to_le_bytes());
        sb[0x38..0x3A].copy_from_slice(&MAGIC.to_le_bytes());
        let incompat: u32 = if bit64 { INCOMPAT_64BIT | 0x2 } else { 0x2 };
        sb[0x60..0x64].copy_from_slice(&incompat.to_le_bytes());
        sb[0x150..0x154].copy_from_slice(&blocks_hi.to_le_bytes());
        sb
    }

    #[test]
    fn reads_block_count_and_size() {
        let size = parse_superblock(&superblock(16384, 0, 2, false)).unwrap();
        assert_eq!(
            size,
            Ext4Size {
                blocks: 16384,
                block_size: 4096
            }
        );
        assert_eq!(size.bytes(), 64 * 1024 * 1024);
    }

    #[test]
    fn high_bits_count_only_with_the_64bit_feature() {
        assert_eq!(
            parse_superblock(&superblock(1, 1, 2, true)).unwrap().blocks,
            (1 << 32) + 1
        );
        assert_eq!(
            parse_superblock(&superblock(1, 1, 2, false))
                .unwrap()
                .blocks,
            1
        );
    }

    #[test]
    fn rejects_what_is_not_ext4() {
        assert_eq!(parse_superblock(&[0u8; 1024]), None);
        assert_eq!(parse_superblock(&[0u8; 10]), None);
        let mut cursor = std::io::Cursor::new(vec![0u8; 4096]);
        assert!(read_size(&mut cursor).is_err());
    }

    #[test]
    fn reads_a_real_image_when_mkfs_is_available() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("fs.img");
        std::fs::File::create(&path)
            .unwrap()
            .set_len(8 * 1024 * 1024)
            .unwrap();
        let made = std::process::Command::new("mkfs.ext4")
            .args(["-q", "-F", "-b", "4096"])
            .arg(&path)
            .status();
        if !matches!(made, Ok(status) if status.success()) {
            eprintln!("mkfs.ext4 not available; covered by the synthetic superblocks");
            return;
        }
        let size = read_size(&mut std::fs::File::open(&path).unwrap()).unwrap();
        assert_eq!(
            size,
            Ext4Size {
                blocks: 2048,
                block_size: 4096
            }
        );
    }
}
