//! Growing the last GPT partition to the end of its disk.
//!
//! An image is built small; the disk it is written to (or the overlay `cairn
//! run` gives QEMU) is usually bigger. On first boot, and whenever the disk was
//! enlarged, PID 1 moves the backup GPT to the disk's real end and extends the
//! data partition (the last one) up to the last usable LBA, rounded down to a
//! 1 MiB boundary. This is hand-written rather than built on a GPT library so
//! that exactly three things change: the backup's location, the last usable
//! LBA, and one partition's end; every other field, GUID and entry stays
//! byte-for-byte the same.
//!
//! Writes go backup first, primary last: until the primary header is
//! rewritten it still points at the old, intact backup, so an interruption at
//! any point leaves a valid table.

use std::io::{self, Read, Seek, SeekFrom, Write};

/// GPT header signature.
const SIGNATURE: &[u8; 8] = b"EFI PART";
/// Bytes between aligned partition ends.
const ALIGN_BYTES: u64 = 1024 * 1024;

/// Why a table could not be grown.
#[derive(Debug, thiserror::Error)]
pub enum GrowError {
    #[error("i/o: {0}")]
    Io(#[from] io::Error),
    #[error("no valid primary gpt header")]
    BadHeader,
    #[error("partition entry array checksum mismatch")]
    BadEntries,
    #[error("partition {0} is not in the table")]
    NoSuchPartition(u32),
    #[error("partition {0} is not the last partition on the disk")]
    NotLast(u32),
    #[error("the disk ({disk_lbas} sectors) is smaller than the table says")]
    DiskTooSmall { disk_lbas: u64 },
}

/// What [`grow_partition`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GrowOutcome {
    /// The partition already reaches the end and the backup is in place.
    AlreadyFull { first_lba: u64, last_lba: u64 },
    /// The table was rewritten.
    Grown {
        first_lba: u64,
        old_last_lba: u64,
        new_last_lba: u64,
    },
}

/// CRC-32 (IEEE 802.3, reflected), as GPT uses.
pub fn crc32(data: &[u8]) -> u32 {
    const TABLE: [u32; 256] = {
        let mut table = [0u32; 256];
        let mut i = 0;
        while i < 256 {
            let mut c = i as u32;
            let mut k = 0;
            while k < 8 {
                c = if c & 1 != 0 {
                    0xEDB8_8320 ^ (c >> 1)
                } else {
                    c >> 1
                };
                k += 1;
            }
            table[i] = c;
            i += 1;
        }
        table
    };
    let mut crc = 0xFFFF_FFFFu32;
    for &byte in data {
        crc = TABLE[((crc ^ u32::from(byte)) & 0xFF) as usize] ^ (crc >> 8);
    }
    !crc
}

fn le64(buf: &[u8], at: usize) -> u64 {
    let mut bytes = [0u8; 8];
    bytes.copy_from_slice(&buf[at..at + 8]);
    u64::from_le_bytes(bytes)
}

fn le32(buf: &[u8], at: usize) -> u32 {
    let mut bytes = [0u8; 4];
    bytes.copy_from_slice(&buf[at..at + 4]);
    u32::from_le_bytes(bytes)
}

fn put64(buf: &mut [u8], at: usize, value: u64) {
    buf[at..at + 8].copy_from_slice(&value.to_le_bytes());
}

fn put32(buf: &mut [u8], at: usize, value: u32) {
    buf[at..at + 4].copy_from_slice(&value.to_le_bytes());
}

/// Field offsets in a GPT header.
mod hdr {
    pub const SIZE: usize = 12;
    pub const CRC: usize = 16;
    pub const MY_LBA: usize = 24;
    pub const ALTERNATE_LBA: usize = 32;
    pub const LAST_USABLE: usize = 48;
    pub const ENTRIES_LBA: usize = 72;
    pub const ENTRY_COUNT: usize = 80;
    pub const ENTRY_SIZE: usize = 84;
    pub const ENTRIES_CRC: usize = 88;
}

/// Field offsets in a partition entry.
mod entry {
    pub const FIRST_LBA: usize = 32;
    pub const LAST_LBA: usize = 40;
}

/// The header's checksum over its first `header_size` bytes.
fn header_crc(header: &[u8]) -> Option<u32> {
    let size = usize::try_from(le32(header, hdr::SIZE)).ok()?;
    if !(92..=header.len()).contains(&size) {
        return None;
    }
    let mut copy = header[..size].to_vec();
    put32(&mut copy, hdr::CRC, 0);
    Some(crc32(&copy))
}

fn read_at(dev: &mut (impl Read + Seek), offset: u64, len: usize) -> io::Result<Vec<u8>> {
    let mut buf = vec![0u8; len];
    dev.seek(SeekFrom::Start(offset))?;
    dev.read_exact(&mut buf)?;
    Ok(buf)
}

fn write_at(dev: &mut (impl Write + Seek), offset: u64, data: &[u8]) -> io::Result<()> {
    dev.seek(SeekFrom::Start(offset))?;
    dev.write_all(data)
}

/// Extends partition `number` (1-based, as the kernel's PARTN) to the end of
/// a disk of `disk_bytes` with `lba_size`-byte sectors, moving the backup GPT
/// to the disk's last sectors. The partition must be the last on the disk.
pub fn grow_partition<D: Read + Write + Seek>(
    dev: &mut D,
    lba_size: u64,
    disk_bytes: u64,
    number: u32,
) -> Result<GrowOutcome, GrowError> {
    let lba_len = usize::try_from(lba_size).map_err(|_| GrowError::BadHeader)?;
    let mut primary = read_at(dev, lba_size, lba_len)?;
    if &primary[..8] != SIGNATURE || header_crc(&primary) != Some(le32(&primary, hdr::CRC)) {
        return Err(GrowError::BadHeader);
    }
    let count = u64::from(le32(&primary, hdr::ENTRY_COUNT));
    let entry_size = u64::from(le32(&primary, hdr::ENTRY_SIZE));
    if entry_size < 128 || count == 0 || count > 4096 {
        return Err(GrowError::BadHeader);
    }
    let entries_bytes = count * entry_size;
    let entries_len = usize::try_from(entries_bytes).map_err(|_| GrowError::BadHeader)?;
    let entries_lba = le64(&primary, hdr::ENTRIES_LBA);
    let mut entries = read_at(dev, entries_lba * lba_size, entries_len)?;
    if crc32(&entries) != le32(&primary, hdr::ENTRIES_CRC) {
        return Err(GrowError::BadEntries);
    }

    let index = u64::from(
        number
            .checked_sub(1)
            .ok_or(GrowError::NoSuchPartition(number))?,
    );
    if index >= count {
        return Err(GrowError::NoSuchPartition(number));
    }
    let esize = entry_size as usize;
    let at = index as usize * esize;
    let first_lba = le64(&entries, at + entry::FIRST_LBA);
    let old_last_lba = le64(&entries, at + entry::LAST_LBA);
    if entries[at..at + 16].iter().all(|&b| b == 0) {
        return Err(GrowError::NoSuchPartition(number));
    }
    for other in 0..count as usize {
        let o = other * esize;
        let used = entries[o..o + 16].iter().any(|&b| b != 0);
        if other != index as usize && used && le64(&entries, o + entry::FIRST_LBA) > first_lba {
            return Err(GrowError::NotLast(number));
        }
    }

    // The new end-of-disk layout: backup entries, then the backup header.
    let disk_lbas = disk_bytes / lba_size;
    let array_lbas = entries_bytes.div_ceil(lba_size);
    let backup_lba = disk_lbas.saturating_sub(1);
    let backup_entries_lba = backup_lba.saturating_sub(array_lbas);
    let last_usable = backup_entries_lba.saturating_sub(1);
    if last_usable < old_last_lba || backup_entries_lba <= entries_lba + array_lbas {
        return Err(GrowError::DiskTooSmall { disk_lbas });
    }
    let align = (ALIGN_BYTES / lba_size).max(1);
    let aligned_end = (last_usable + 1) / align * align;
    let new_last_lba = aligned_end.saturating_sub(1).max(old_last_lba);

    if le64(&primary, hdr::ALTERNATE_LBA) == backup_lba
        && le64(&primary, hdr::LAST_USABLE) == last_usable
        && new_last_lba == old_last_lba
    {
        return Ok(GrowOutcome::AlreadyFull {
            first_lba,
            last_lba: old_last_lba,
        });
    }

    put64(&mut entries, at + entry::LAST_LBA, new_last_lba);
    let entries_crc = crc32(&entries);

    put64(&mut primary, hdr::ALTERNATE_LBA, backup_lba);
    put64(&mut primary, hdr::LAST_USABLE, last_usable);
    put32(&mut primary, hdr::ENTRIES_CRC, entries_crc);
    let crc = header_crc(&primary).ok_or(GrowError::BadHeader)?;
    put32(&mut primary, hdr::CRC, crc);

    let mut backup = primary.clone();
    put64(&mut backup, hdr::MY_LBA, backup_lba);
    put64(&mut backup, hdr::ALTERNATE_LBA, 1);
    put64(&mut backup, hdr::ENTRIES_LBA, backup_entries_lba);
    let crc = header_crc(&backup).ok_or(GrowError::BadHeader)?;
    put32(&mut backup, hdr::CRC, crc);

    write_at(dev, backup_entries_lba * lba_size, &entries)?;
    write_at(dev, backup_lba * lba_size, &backup)?;
    dev.flush()?;
    write_at(dev, entries_lba * lba_size, &entries)?;
    write_at(dev, lba_size, &primary)?;
    update_protective_mbr(dev, disk_lbas)?;
    dev.flush()?;

    Ok(GrowOutcome::Grown {
        first_lba,
        old_last_lba,
        new_last_lba,
    })
}

/// Makes the protective MBR's 0xEE entry cover the whole disk again, as the
/// UEFI spec asks (capped at 2^32-1 sectors).
fn update_protective_mbr(dev: &mut (impl Read + Write + Seek), disk_lbas: u64) -> io::Result<()> {
    let mut mbr = read_at(dev, 0, 512)?;
    if mbr[510..512] != [0x55, 0xAA] {
        return Ok(());
    }
    for slot in 0..4 {
        let at = 446 + slot * 16;
        if mbr[at + 4] == 0xEE {
            let size = u32::try_from(disk_lbas.saturating_sub(1)).unwrap_or(u32::MAX);
            put32(&mut mbr, at + 12, size);
            write_at(dev, 0, &mbr)?;
            break;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use cairn_layout::partition;
    use gpt::disk::LogicalBlockSize;
    use std::fs::{File, OpenOptions};

    const MIB: u64 = 1024 * 1024;

    /// A 16 MiB image laid out like Cairn's: esp, cairn-a, cairn-b, cairn-data.
    fn make_image(path: &std::path::Path) {
        let file = File::create(path).unwrap();
        file.set_len(16 * MIB).unwrap();
        drop(file);
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .open(path)
            .unwrap();
        let mbr = gpt::mbr::ProtectiveMBR::with_lb_size(u32::try_from(16 * MIB / 512 - 1).unwrap());
        mbr.overwrite_lba0(&mut file).unwrap();
        let mut disk = gpt::GptConfig::new()
            .writable(true)
            .logical_block_size(LogicalBlockSize::Lb512)
            .create_from_device(file, None)
            .unwrap();
        for (name, size) in [
            (partition::ESP, 2),
            (partition::BANK_A, 4),
            (partition::BANK_B, 4),
            (partition::DATA, 2),
        ] {
            disk.add_partition(
                name,
                size * MIB,
                gpt::partition_types::LINUX_FS,
                0,
                Some(2048),
            )
            .unwrap();
        }
        disk.write().unwrap();
    }

    fn open_checked(path: &std::path::Path) -> gpt::GptDisk<File> {
        gpt::GptConfig::new()
            .only_valid_headers(true)
            .logical_block_size(LogicalBlockSize::Lb512)
            .open(path)
            .unwrap()
    }

    #[test]
    fn crc32_matches_the_standard_check_value() {
        assert_eq!(crc32(b"123456789"), 0xCBF4_3926);
        assert_eq!(crc32(b""), 0);
    }

    #[test]
    fn grows_the_data_partition_and_moves_the_backup_to_the_end() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("disk.img");
        make_image(&path);
        let before = open_checked(&path);
        let data_before = before.partitions()[&4].clone();
        let bank_before = before.partitions()[&2].clone();
        let guid_before = *before.guid();
        drop(before);

        // The disk is enlarged to 64 MiB.
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .open(&path)
            .unwrap();
        file.set_len(64 * MIB).unwrap();
        let mut file = file;
        let outcome = grow_partition(&mut file, 512, 64 * MIB, 4).unwrap();
        let disk_lbas = 64 * MIB / 512;
        let expected_last = 64 * MIB / 512 - 2048 - 1; // 1 MiB aligned below the backup
        assert_eq!(
            outcome,
            GrowOutcome::Grown {
                first_lba: data_before.first_lba,
                old_last_lba: data_before.last_lba,
                new_last_lba: expected_last,
            }
        );

        // Both headers (with their CRCs) and the entry array must verify.
        let after = open_checked(&path);
        let primary = after.primary_header().unwrap();
        let backup = after.backup_header().unwrap();
        assert_eq!(primary.backup_lba, disk_lbas - 1);
        assert_eq!(backup.current_lba, disk_lbas - 1);
        assert_eq!(backup.backup_lba, 1);
        assert_eq!(primary.last_usable, disk_lbas - 1 - 32 - 1);
        assert_eq!(backup.part_start, disk_lbas - 1 - 32);
        assert_eq!(primary.crc32_parts, backup.crc32_parts);
        assert_eq!(*after.guid(), guid_before);
        let data_after = &after.partitions()[&4];
        assert_eq!(data_after.first_lba, data_before.first_lba);
        assert_eq!(data_after.last_lba, expected_last);
        assert_eq!(data_after.part_guid, data_before.part_guid);
        assert_eq!(data_after.name, partition::DATA);
        assert_eq!(after.partitions()[&2], bank_before);

        // The backup array really holds the same entries.
        let mut raw = File::open(&path).unwrap();
        let primary_array = read_at(&mut raw, 2 * 512, 128 * 128).unwrap();
        let backup_array = read_at(&mut raw, backup.part_start * 512, 128 * 128).unwrap();
        assert_eq!(primary_array, backup_array);
        assert_eq!(crc32(&backup_array), backup.crc32_parts);

        // The protective MBR covers the new size.
        let mbr = read_at(&mut raw, 0, 512).unwrap();
        assert_eq!(le32(&mbr, 446 + 12), u32::try_from(disk_lbas - 1).unwrap());

        // A second run finds nothing to do.
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .open(&path)
            .unwrap();
        assert_eq!(
            grow_partition(&mut file, 512, 64 * MIB, 4).unwrap(),
            GrowOutcome::AlreadyFull {
                first_lba: data_before.first_lba,
                last_lba: expected_last
            }
        );
    }

    #[test]
    fn a_first_boot_on_an_unchanged_disk_still_fills_the_gap() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("disk.img");
        make_image(&path);
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .open(&path)
            .unwrap();
        let outcome = grow_partition(&mut file, 512, 16 * MIB, 4).unwrap();
        // 1+2+4+4+2 MiB used of 16; the data partition ends 1 MiB before the end.
        let GrowOutcome::Grown { new_last_lba, .. } = outcome else {
            panic!("expected growth, got {outcome:?}");
        };
        assert_eq!(new_last_lba, 15 * MIB / 512 - 1);
        let after = open_checked(&path);
        assert_eq!(after.partitions()[&4].last_lba, new_last_lba);
    }

    #[test]
    fn refuses_a_partition_that_is_not_last() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("disk.img");
        make_image(&path);
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .open(&path)
            .unwrap();
        assert!(matches!(
            grow_partition(&mut file, 512, 16 * MIB, 2),
            Err(GrowError::NotLast(2))
        ));
        assert!(matches!(
            grow_partition(&mut file, 512, 16 * MIB, 9),
            Err(GrowError::NoSuchPartition(9))
        ));
    }

    #[test]
    fn refuses_a_corrupt_header_without_writing() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("disk.img");
        make_image(&path);
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .open(&path)
            .unwrap();
        write_at(&mut file, 512 + 40, &[0xFF]).unwrap();
        let image = std::fs::read(&path).unwrap();
        assert!(matches!(
            grow_partition(&mut file, 512, 16 * MIB, 4),
            Err(GrowError::BadHeader)
        ));
        assert_eq!(std::fs::read(&path).unwrap(), image);
    }
}
