//! Reading a machine's disk after QEMU has exited: the GPT and the ESP's
//! boot entries, from a raw copy of the qcow2 run disk.

use std::fs::{File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context};

/// One GPT partition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionInfo {
    pub number: u32,
    pub name: String,
    pub first_lba: u64,
    pub last_lba: u64,
}

/// A raw copy of a run disk, read after the machine stopped.
#[derive(Debug)]
pub struct DiskSnapshot {
    _dir: tempfile::TempDir,
    raw: PathBuf,
    /// The disk's size in bytes.
    pub size: u64,
    pub partitions: Vec<PartitionInfo>,
    /// The backup GPT header is valid and sits in the disk's last sector.
    pub backup_header_at_end: bool,
}

impl DiskSnapshot {
    /// Converts `run_disk` (qcow2, or anything qemu-img reads) to a raw
    /// temporary file and reads its partition table.
    pub fn read(run_disk: &Path) -> anyhow::Result<DiskSnapshot> {
        let dir = tempfile::tempdir()?;
        let raw = dir.path().join("disk.raw");
        let output = Command::new("qemu-img")
            .args(["convert", "-O", "raw"])
            .arg(run_disk)
            .arg(&raw)
            .output()
            .context("cannot run qemu-img")?;
        if !output.status.success() {
            bail!(
                "qemu-img convert {} failed: {}",
                run_disk.display(),
                String::from_utf8_lossy(&output.stderr)
            );
        }
        let size = std::fs::metadata(&raw)?.len();
        let disk = gpt::GptConfig::new()
            .writable(false)
            .open(&raw)
            .with_context(|| format!("cannot read the GPT of {}", run_disk.display()))?;
        let partitions = disk
            .partitions()
            .iter()
            .filter(|(_, p)| p.is_used())
            .map(|(number, p)| PartitionInfo {
                number: *number,
                name: p.name.clone(),
                first_lba: p.first_lba,
                last_lba: p.last_lba,
            })
            .collect();
        let last_sector = size / 512 - 1;
        let backup_header_at_end = disk
            .backup_header()
            .map(|h| h.current_lba == last_sector)
            .unwrap_or(false);
        Ok(DiskSnapshot {
            _dir: dir,
            raw,
            size,
            partitions,
            backup_header_at_end,
        })
    }

    /// The partition with GPT name `name`.
    pub fn partition(&self, name: &str) -> anyhow::Result<&PartitionInfo> {
        self.partitions
            .iter()
            .find(|p| p.name == name)
            .with_context(|| format!("no partition named {name} in {:?}", self.partitions))
    }

    /// The file names in the ESP's `loader/entries`, sorted.
    pub fn esp_entries(&self) -> anyhow::Result<Vec<String>> {
        let esp = self.partition("esp")?.clone();
        let file = OpenOptions::new().read(true).write(true).open(&self.raw)?;
        let slice = Slice::new(
            file,
            esp.first_lba * 512,
            (esp.last_lba + 1 - esp.first_lba) * 512,
        )?;
        let fs = fatfs::FileSystem::new(slice, fatfs::FsOptions::new())
            .context("cannot open the ESP as FAT")?;
        let mut names: Vec<String> = fs
            .root_dir()
            .open_dir("loader/entries")
            .context("the ESP has no loader/entries")?
            .iter()
            .filter_map(Result::ok)
            .map(|entry| entry.file_name())
            .filter(|name| name != "." && name != "..")
            .collect();
        names.sort();
        Ok(names)
    }
}

/// A window of a file, so fatfs sees only the ESP.
struct Slice {
    file: File,
    start: u64,
    len: u64,
    pos: u64,
}

impl Slice {
    fn new(mut file: File, start: u64, len: u64) -> io::Result<Slice> {
        file.seek(SeekFrom::Start(start))?;
        Ok(Slice {
            file,
            start,
            len,
            pos: 0,
        })
    }

    fn remaining(&self, want: usize) -> usize {
        usize::try_from(self.len.saturating_sub(self.pos))
            .unwrap_or(usize::MAX)
            .min(want)
    }
}

impl Read for Slice {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.remaining(buf.len());
        let read = self.file.read(&mut buf[..n])?;
        self.pos += read as u64;
        Ok(read)
    }
}

impl Write for Slice {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.remaining(buf.len());
        let written = self.file.write(&buf[..n])?;
        self.pos += written as u64;
        Ok(written)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.file.flush()
    }
}

impl Seek for Slice {
    fn seek(&mut self, pos: SeekFrom) -> io::Result<u64> {
        let target = match pos {
            SeekFrom::Start(n) => Some(n),
            SeekFrom::End(d) => self.len.checked_add_signed(d),
            SeekFrom::Current(d) => self.pos.checked_add_signed(d),
        };
        let target = target.filter(|t| *t <= self.len).ok_or_else(|| {
            io::Error::new(io::ErrorKind::InvalidInput, "seek outside the partition")
        })?;
        self.file.seek(SeekFrom::Start(self.start + target))?;
        self.pos = target;
        Ok(target)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slice_stays_inside_its_window() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        std::fs::write(&path, b"0123456789").unwrap();
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .open(&path)
            .unwrap();
        let mut slice = Slice::new(file, 2, 5).unwrap();
        let mut out = String::new();
        slice.read_to_string(&mut out).unwrap();
        assert_eq!(out, "23456");
        slice.seek(SeekFrom::Start(1)).unwrap();
        slice.write_all(b"ab").unwrap();
        assert!(slice.seek(SeekFrom::Start(6)).is_err());
        assert_eq!(slice.seek(SeekFrom::End(-1)).unwrap(), 4);
        assert_eq!(std::fs::read(&path).unwrap(), b"012ab56789");
    }
}
