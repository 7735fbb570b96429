//! The GPT disk: protective MBR, primary and backup headers and entry
//! arrays (written by `gptman`), partitions 1 MiB aligned, each partition
//! image copied into place without writing its zero stretches (the file
//! stays sparse).

use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use gptman::{GPTPartitionEntry, GPT};

use super::hash::Guid;
use super::inventory::PartitionRecord;
use super::BuildError;

pub const SECTOR: u64 = 512;
const ALIGN_SECTORS: u64 = (1 << 20) / SECTOR;

pub const ESP_TYPE: &str = "C12A7328-F81F-11D2-BA4B-00A0C93EC93B";
pub const LINUX_FS_TYPE: &str = "0FC63DAF-8483-4772-8E79-3D69D8477DE4";

/// A partition to place.
#[derive(Debug, Clone)]
pub struct PartitionSpec {
    pub name: String,
    pub type_guid: Guid,
    pub unique_guid: Guid,
    /// Bytes; rounded up to whole MiB.
    pub size: u64,
    /// Its content; `None` leaves it zero.
    pub image: Option<PathBuf>,
}

/// Where everything goes.
#[derive(Debug, Clone)]
pub struct Layout {
    pub disk_guid: Guid,
    pub total_sectors: u64,
    pub partitions: Vec<(PartitionSpec, u64, u64)>,
}

impl Layout {
    /// Lays partitions out one after the other from 1 MiB, each 1 MiB
    /// aligned, and leaves 1 MiB at the end for the backup GPT.
    pub fn new(disk_guid: Guid, specs: Vec<PartitionSpec>) -> Layout {
        let mut next = ALIGN_SECTORS;
        let mut partitions = Vec::new();
        for spec in specs {
            let sectors = spec.size.div_ceil(SECTOR).div_ceil(ALIGN_SECTORS) * ALIGN_SECTORS;
            let first = next;
            let last = first + sectors - 1;
            next = last + 1;
            partitions.push((spec, first, last));
        }
        Layout {
            disk_guid,
            total_sectors: next + ALIGN_SECTORS,
            partitions,
        }
    }

    pub fn size_bytes(&self) -> u64 {
        self.total_sectors * SECTOR
    }

    /// The partition table as the inventory records it.
    pub fn records(&self) -> Vec<PartitionRecord> {
        self.partitions
            .iter()
            .zip(1u32..)
            .map(|((spec, first, last), number)| PartitionRecord {
                number,
                name: spec.name.clone(),
                first_lba: *first,
                last_lba: *last,
                size: (last - first + 1) * SECTOR,
                type_guid: spec.type_guid.to_string(),
                unique_guid: spec.unique_guid.to_string(),
            })
            .collect()
    }

    /// The partition table, for a disk of this layout's size.
    fn table(&self, disk: &mut std::fs::File) -> Result<GPT, gptman::Error> {
        let mut table = GPT::new_from(disk, SECTOR, self.disk_guid.to_gpt_bytes())?;
        for (number, (spec, first, last)) in (1u32..).zip(&self.partitions) {
            table[number] = GPTPartitionEntry {
                partition_type_guid: spec.type_guid.to_gpt_bytes(),
                unique_partition_guid: spec.unique_guid.to_gpt_bytes(),
                starting_lba: *first,
                ending_lba: *last,
                attribute_bits: 0,
                partition_name: spec.name.as_str().into(),
            };
        }
        Ok(table)
    }
}

/// Writes the disk image at `path`.
pub fn write(path: &Path, layout: &Layout) -> Result<(), BuildError> {
    let err = |what: &str| BuildError::io(format!("{what} {}", path.display()));
    if path.exists() {
        std::fs::remove_file(path).map_err(err("cannot replace"))?;
    }
    let mut disk = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)
        .map_err(err("cannot create"))?;
    disk.set_len(layout.size_bytes())
        .map_err(err("cannot size"))?;

    // The primary and backup headers and entry arrays, and the protective
    // MBR that keeps tools which know only MBR from taking the disk as empty.
    let gpt = |e: gptman::Error| {
        BuildError::Invalid(format!("cannot write the GPT of {}: {e}", path.display()))
    };
    layout
        .table(&mut disk)
        .and_then(|mut t| t.write_into(&mut disk))
        .map_err(gpt)?;
    GPT::write_protective_mbr_into(&mut disk, SECTOR).map_err(gpt)?;

    for (spec, first, last) in &layout.partitions {
        if let Some(image) = &spec.image {
            copy_sparse(
                image,
                &mut disk,
                *first * SECTOR,
                (last - first + 1) * SECTOR,
            )?;
        }
    }
    disk.sync_all().map_err(err("cannot sync"))
}

/// Copies `image` to `offset` of `disk`, skipping blocks of zeros.
fn copy_sparse(
    image: &Path,
    disk: &mut std::fs::File,
    offset: u64,
    room: u64,
) -> Result<(), BuildError> {
    let mut src = std::fs::File::open(image)
        .map_err(BuildError::io(format!("cannot open {}", image.display())))?;
    let len = src
        .metadata()
        .map_err(BuildError::io(format!("cannot stat {}", image.display())))?
        .len();
    if len > room {
        return Err(BuildError::Invalid(format!(
            "{} is {len} bytes, its partition only {room}",
            image.display()
        )));
    }
    let mut buf = vec![0u8; 1 << 20];
    let mut pos = 0u64;
    while pos < len {
        let n = usize::try_from((len - pos).min(buf.len() as u64)).unwrap_or(buf.len());
        src.read_exact(&mut buf[..n])
            .map_err(BuildError::io(format!("cannot read {}", image.display())))?;
        if buf[..n].iter().any(|b| *b != 0) {
            disk.seek(SeekFrom::Start(offset + pos))
                .and_then(|_| disk.write_all(&buf[..n]))
                .map_err(BuildError::io("cannot write the disk image"))?;
        }
        pos += n as u64;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use cairn_layout::partition;

    fn sample(dir: &Path) -> Layout {
        let esp = dir.join("esp.img");
        std::fs::write(&esp, vec![0xAB; 4096]).unwrap();
        let guid = |p: &str| Guid::derive("test", p);
        let spec = |name: &str, ty: &str, mib: u64, image: Option<PathBuf>| PartitionSpec {
            name: name.into(),
            type_guid: Guid::parse(ty).unwrap(),
            unique_guid: guid(name),
            size: mib << 20,
            image,
        };
        Layout::new(
            guid("disk"),
            vec![
                spec(partition::ESP, ESP_TYPE, 2, Some(esp)),
                spec(partition::BANK_A, LINUX_FS_TYPE, 3, None),
                spec(partition::BANK_B, LINUX_FS_TYPE, 3, None),
                spec(partition::DATA, LINUX_FS_TYPE, 1, None),
            ],
        )
    }

    #[test]
    fn layout_is_mib_aligned() {
        let dir = std::env::temp_dir();
        let layout = sample(&dir);
        let lbas: Vec<_> = layout.partitions.iter().map(|(_, f, l)| (*f, *l)).collect();
        assert_eq!(
            lbas,
            [(2048, 6143), (6144, 12287), (12288, 18431), (18432, 20479)]
        );
        assert_eq!(layout.total_sectors, 22528);
    }

    #[test]
    fn reads_back_with_an_independent_parser() {
        let dir = std::env::temp_dir().join(format!("cairn-gpt-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let layout = sample(&dir);
        let image = dir.join("disk.img");
        write(&image, &layout).unwrap();
        let bytes = std::fs::read(&image).unwrap();
        assert_eq!(bytes.len() as u64, layout.size_bytes());
        assert_eq!(&bytes[510..512], &[0x55, 0xAA]);
        assert_eq!(bytes[446 + 4], 0xEE);
        // Header CRC and entries CRC hold, primary and backup.
        for lba in [1, layout.total_sectors - 1] {
            let h = &bytes[(lba * SECTOR) as usize..(lba * SECTOR) as usize + 92];
            let mut zeroed = h.to_vec();
            zeroed[16..20].fill(0);
            assert_eq!(crc32fast::hash(&zeroed).to_le_bytes(), h[16..20]);
            let entries_lba = u64::from_le_bytes(h[72..80].try_into().unwrap());
            let start = (entries_lba * SECTOR) as usize;
            assert_eq!(
                crc32fast::hash(&bytes[start..start + 16384]).to_le_bytes(),
                h[88..92]
            );
        }
        assert_eq!(&bytes[2048 * 512..2048 * 512 + 4096], &[0xAB; 4096][..]);

        let disk = gpt::GptConfig::new().writable(false).open(&image).unwrap();
        let parts = disk.partitions();
        let names: Vec<_> = parts.values().map(|p| p.name.clone()).collect();
        assert_eq!(
            names,
            [
                partition::ESP,
                partition::BANK_A,
                partition::BANK_B,
                partition::DATA
            ]
        );
        let esp = &parts[&1];
        assert_eq!(esp.first_lba, 2048);
        assert_eq!(esp.last_lba, 6143);
        assert_eq!(esp.part_type_guid.guid.to_string().to_uppercase(), ESP_TYPE);
        assert_eq!(
            esp.part_guid.to_string().to_uppercase(),
            Guid::derive("test", partition::ESP).to_string()
        );
        assert_eq!(
            disk.guid().to_string().to_uppercase(),
            Guid::derive("test", "disk").to_string()
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
