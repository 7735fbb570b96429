//! Reading a machine's disk after QEMU has exited: the GPT and the ESP's
//! boot entries, from a raw copy of the qcow2 run disk.

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
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

    /// The ESP partition as a file of its own (for fsck.fat and cairn-fat).
    pub fn esp_image(&self) -> anyhow::Result<PathBuf> {
        let esp = self.partition(cairn_layout::partition::ESP)?.clone();
        let path = self._dir.path().join("esp.img");
        let mut raw = File::open(&self.raw)?;
        raw.seek(SeekFrom::Start(esp.first_lba * 512))?;
        let mut out = File::create(&path)?;
        io::copy(
            &mut raw.take((esp.last_lba + 1 - esp.first_lba) * 512),
            &mut out,
        )?;
        Ok(path)
    }

    /// The file names in the ESP's `loader/entries`, sorted.
    pub fn esp_entries(&self) -> anyhow::Result<Vec<String>> {
        let image = self.esp_image()?;
        let mut volume =
            cairn_fat::Volume::open(File::open(&image)?).context("cannot open the ESP as FAT")?;
        let mut names: Vec<String> = volume
            .list(cairn_layout::esp::ENTRIES_DIR)
            .context("the ESP has no loader/entries")?
            .into_iter()
            .filter(|e| !e.is_dir)
            .map(|e| e.name)
            .collect();
        names.sort();
        Ok(names)
    }

    /// `fsck.fat -n` on the ESP: Ok when it finds nothing to repair,
    /// otherwise its report.
    pub fn esp_fsck(&self) -> anyhow::Result<()> {
        let image = self.esp_image()?;
        let output = Command::new("fsck.fat")
            .arg("-n")
            .arg(&image)
            .output()
            .context("cannot run fsck.fat (apt-get install dosfstools)")?;
        if !output.status.success() {
            bail!(
                "fsck.fat -n found problems on the ESP:\n{}{}",
                String::from_utf8_lossy(&output.stdout),
                String::from_utf8_lossy(&output.stderr)
            );
        }
        Ok(())
    }
}
