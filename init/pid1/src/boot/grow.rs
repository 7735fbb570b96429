//! Growing the last GPT partition to the end of its disk.
//!
//! An image is built small; the disk it is written to (or the overlay `cairn
//! run` gives QEMU) is usually bigger. On first boot, and whenever the disk was
//! enlarged, PID 1 moves the backup GPT to the disk's real end and extends the
//! data partition (the last one) up to the last usable LBA, rounded down to a
//! 1 MiB boundary. Exactly three things change: the backup's location, the
//! last usable LBA, and one partition's end; every other field, GUID and entry
//! stays as it was. The table is read and written with `gptman`, the GPT codec
//! the builder uses too.
//!
//! Writes go backup first, primary last: until the primary header is
//! rewritten it still points at the old, intact backup, so an interruption at
//! any point leaves a valid table. Only the primary table is read: a disk
//! whose primary is damaged is left alone rather than rebuilt from its backup.

use std::io::{self, Read, Seek, SeekFrom, Write};

use gptman::{GPTHeader, GPTPartitionEntry, GPT};

/// Bytes between aligned partition ends.
const ALIGN_BYTES: u64 = 1024 * 1024;

/// Why a table could not be grown.
#[derive(Debug, thiserror::Error)]
pub enum GrowError {
    #[error("i/o: {0}")]
    Io(#[from] io::Error),
    #[error("no valid primary gpt header: {0}")]
    BadHeader(gptman::Error),
    #[error("partition entry array: {0}")]
    BadEntries(gptman::Error),
    #[error("partition {0} is not in the table")]
    NoSuchPartition(u32),
    #[error("partition {0} is not the last partition on the disk")]
    NotLast(u32),
    #[error("the disk ({disk_lbas} sectors) is smaller than the table says")]
    DiskTooSmall { disk_lbas: u64 },
    #[error("cannot write the table: {0}")]
    Write(gptman::Error),
    #[error("the table has {entries} entries of {size} bytes; only 1 to 4096 of 128 are grown")]
    UnusualTable { entries: u32, size: u32 },
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

/// Extends partition `number` (1-based, as the kernel's PARTN) to the end of
/// a disk of `disk_bytes` with `lba_size`-byte sectors, moving the backup GPT
/// to the disk's last sectors. The partition must be the last on the disk.
pub fn grow_partition<D: Read + Write + Seek>(
    dev: &mut D,
    lba_size: u64,
    disk_bytes: u64,
    number: u32,
) -> Result<GrowOutcome, GrowError> {
    dev.seek(SeekFrom::Start(lba_size))?;
    let mut primary = GPTHeader::read_from(dev).map_err(GrowError::BadHeader)?;
    // gptman reads entries of 128 bytes and asserts the array is what the
    // header says: a header that says otherwise (or asks for an absurd
    // number of entries) is refused here, before it can allocate or panic.
    if primary.size_of_partition_entry != 128
        || !(1..=4096).contains(&primary.number_of_partition_entries)
    {
        return Err(GrowError::UnusualTable {
            entries: primary.number_of_partition_entries,
            size: primary.size_of_partition_entry,
        });
    }
    let mut entries: Vec<GPTPartitionEntry> = primary
        .read_partitions(dev, lba_size)
        .map_err(GrowError::BadEntries)?;
    let index = usize::try_from(number)
        .ok()
        .and_then(|n| n.checked_sub(1))
        .filter(|&i| entries.get(i).is_some_and(GPTPartitionEntry::is_used))
        .ok_or(GrowError::NoSuchPartition(number))?;
    let (first_lba, old_last_lba) = entries
        .get(index)
        .map(|e| (e.starting_lba, e.ending_lba))
        .ok_or(GrowError::NoSuchPartition(number))?;
    let later = entries
        .iter()
        .enumerate()
        .any(|(i, e)| i != index && e.is_used() && e.starting_lba > first_lba);
    if later {
        return Err(GrowError::NotLast(number));
    }

    // The new end-of-disk layout: backup entries, then the backup header.
    let entries_bytes =
        u64::from(primary.number_of_partition_entries) * u64::from(primary.size_of_partition_entry);
    let disk_lbas = disk_bytes / lba_size;
    let array_lbas = entries_bytes.div_ceil(lba_size);
    let backup_lba = disk_lbas.saturating_sub(1);
    let backup_entries_lba = backup_lba.saturating_sub(array_lbas);
    let last_usable = backup_entries_lba.saturating_sub(1);
    if last_usable < old_last_lba || backup_entries_lba <= primary.partition_entry_lba + array_lbas
    {
        return Err(GrowError::DiskTooSmall { disk_lbas });
    }
    let align = (ALIGN_BYTES / lba_size).max(1);
    let aligned_end = (last_usable + 1) / align * align;
    let new_last_lba = aligned_end.saturating_sub(1).max(old_last_lba);

    if primary.backup_lba == backup_lba
        && primary.last_usable_lba == last_usable
        && new_last_lba == old_last_lba
    {
        return Ok(GrowOutcome::AlreadyFull {
            first_lba,
            last_lba: old_last_lba,
        });
    }

    if let Some(entry) = entries.get_mut(index) {
        entry.ending_lba = new_last_lba;
    }
    primary.backup_lba = backup_lba;
    primary.last_usable_lba = last_usable;
    let mut backup = primary.clone();
    backup.primary_lba = backup_lba;
    backup.backup_lba = primary.primary_lba;
    backup.partition_entry_lba = backup_entries_lba;

    backup
        .write_into(dev, lba_size, &entries)
        .map_err(GrowError::Write)?;
    dev.flush()?;
    primary
        .write_into(dev, lba_size, &entries)
        .map_err(GrowError::Write)?;
    // The protective MBR's 0xEE entry covers the whole disk again, as the
    // UEFI spec asks (capped at 2^32-1 sectors).
    GPT::write_protective_mbr_into(dev, lba_size).map_err(GrowError::Write)?;
    dev.flush()?;

    Ok(GrowOutcome::Grown {
        first_lba,
        old_last_lba,
        new_last_lba,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use cairn_layout::partition;
    use gpt::disk::LogicalBlockSize;
    use std::fs::{File, OpenOptions};

    const MIB: u64 = 1024 * 1024;

    fn read_at(dev: &mut File, offset: u64, len: usize) -> Vec<u8> {
        use std::io::{Read, Seek, SeekFrom};
        let mut buf = vec![0u8; len];
        dev.seek(SeekFrom::Start(offset)).unwrap();
        dev.read_exact(&mut buf).unwrap();
        buf
    }

    fn write_at(dev: &mut File, offset: u64, data: &[u8]) {
        use std::io::{Seek, SeekFrom, Write};
        dev.seek(SeekFrom::Start(offset)).unwrap();
        dev.write_all(data).unwrap();
    }

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
        let primary_array = read_at(&mut raw, 2 * 512, 128 * 128);
        let backup_array = read_at(&mut raw, backup.part_start * 512, 128 * 128);
        assert_eq!(primary_array, backup_array);
        assert_eq!(crc32fast::hash(&backup_array), backup.crc32_parts);

        // The protective MBR covers the new size.
        let mbr = read_at(&mut raw, 0, 512);
        assert_eq!(mbr[446 + 4], 0xEE);
        assert_eq!(
            mbr[446 + 12..446 + 16],
            u32::try_from(disk_lbas - 1).unwrap().to_le_bytes()
        );

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
        write_at(&mut file, 512 + 40, &[0xFF]);
        let image = std::fs::read(&path).unwrap();
        assert!(matches!(
            grow_partition(&mut file, 512, 16 * MIB, 4),
            Err(GrowError::BadHeader(_))
        ));
        assert_eq!(std::fs::read(&path).unwrap(), image);
    }

    #[test]
    fn refuses_an_entry_array_it_cannot_read_safely() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("disk.img");
        make_image(&path);
        // A valid header (its CRC fixed) that claims a billion entries.
        let mut bytes = std::fs::read(&path).unwrap();
        let header = &mut bytes[512..512 + 92];
        header[80..84].copy_from_slice(&1_000_000_000u32.to_le_bytes());
        header[16..20].fill(0);
        let crc = crc32fast::hash(header);
        header[16..20].copy_from_slice(&crc.to_le_bytes());
        std::fs::write(&path, &bytes).unwrap();
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .open(&path)
            .unwrap();
        assert!(matches!(
            grow_partition(&mut file, 512, 16 * MIB, 4),
            Err(GrowError::UnusualTable {
                entries: 1_000_000_000,
                size: 128
            })
        ));
        assert_eq!(std::fs::read(&path).unwrap(), bytes);
    }
}
