//! The EFI system partition: FAT32 holding systemd-boot, its loader config,
//! one Boot Loader Specification entry per bank, and each bank's kernel and
//! initramfs. Built in a file with fixed timestamps and volume id, so the
//! same inputs give the same bytes.

use std::io::{Cursor, Seek, SeekFrom, Write};
use std::path::Path;

use cairn_layout::{cmdline, esp};
use fatfs::{
    Date, DateTime, FatType, FileSystem, FormatVolumeOptions, FsOptions, Time, TimeProvider,
};

use super::hash::sha256_hex;
use super::inventory::FileRecord;
use super::BuildError;

/// systemd-boot's fallback path on removable media, found by any UEFI firmware.
pub const BOOTLOADER_PATH: &str = esp::BOOTLOADER;
pub const LOADER_CONF_PATH: &str = esp::LOADER_CONF;
pub const VOLUME_LABEL: [u8; 11] = *b"CAIRN-ESP  ";
/// Tries the boot counter starts with (`+3`).
pub const BOOT_TRIES: u32 = 3;

/// Boot the default entry at once, no editor, no automatic entries (the
/// firmware's own or other OSes'), leave the console mode as the firmware set it.
pub const LOADER_CONF: &str =
    "timeout 0\neditor no\nauto-entries no\nauto-firmware no\nconsole-mode keep\n";

/// `loader/entries/cairn-<version>+3.conf`
pub fn entry_path(version: &str) -> String {
    esp::counted_entry(version, BOOT_TRIES)
}

/// The Boot Loader Specification entry of bank `bank` (`a` or `b`).
pub fn entry_text(version: &str, bank: char, board_cmdline: &str) -> String {
    let mut options = cmdline::entry_options(bank, version);
    if !board_cmdline.trim().is_empty() {
        options.push(' ');
        options.push_str(board_cmdline.trim());
    }
    format!(
        "title      Cairn {version} (bank {bank})\n\
         version    {version}\n\
         linux      /{}\n\
         initrd     /{}\n\
         options    {options}\n",
        esp::kernel(version),
        esp::initrd(version),
    )
}

/// `cairn/<version>/linux` and `cairn/<version>/initrd`.
pub fn kernel_path(version: &str) -> String {
    esp::kernel(version)
}
pub fn initrd_path(version: &str) -> String {
    esp::initrd(version)
}

/// The timestamp every file and directory on the ESP gets.
#[derive(Debug)]
struct FixedTime(DateTime);

impl TimeProvider for FixedTime {
    fn get_current_date(&self) -> Date {
        self.0.date
    }
    fn get_current_date_time(&self) -> DateTime {
        self.0
    }
}

/// FAT dates start in 1980 (and end in 2107); other epochs (like 0) become
/// 1980-01-01.
fn fat_time(epoch: u64) -> DateTime {
    let at = cairn_logging::record::utc(std::time::Duration::from_secs(epoch));
    let field = |v: i8| u16::try_from(v).unwrap_or(0);
    match u16::try_from(at.year()) {
        Ok(year) if (1980..=2107).contains(&year) => DateTime {
            date: Date {
                year,
                month: field(at.month()),
                day: field(at.day()),
            },
            time: Time {
                hour: field(at.hour()),
                min: field(at.minute()),
                sec: field(at.second()),
                millis: 0,
            },
        },
        _ => DateTime {
            date: Date {
                year: 1980,
                month: 1,
                day: 1,
            },
            time: Time {
                hour: 0,
                min: 0,
                sec: 0,
                millis: 0,
            },
        },
    }
}

fn esp_error(context: &str) -> impl Fn(std::io::Error) -> BuildError + '_ {
    move |e| BuildError::Esp(format!("{context}: {e}"))
}

/// Writes a FAT32 image of `size` bytes at `image` holding `files`
/// (path with `/` separators, content). Returns the ESP's inventory.
pub fn build(
    image: &Path,
    size: u64,
    volume_id: u32,
    epoch: u64,
    files: &[(String, Vec<u8>)],
) -> Result<Vec<FileRecord>, BuildError> {
    // Built in memory: fatfs writes cluster by cluster, far too many small
    // writes for a file. The ESP is tens of MiB.
    let len = usize::try_from(size)
        .map_err(|_| BuildError::Esp(format!("esp_size {size} is too large")))?;
    let mut disk = Cursor::new(vec![0u8; len]);
    // FAT32 needs at least 65525 clusters: 512-byte clusters reach that from 32 MiB.
    let options = FormatVolumeOptions::new()
        .fat_type(FatType::Fat32)
        .bytes_per_cluster(512)
        .volume_id(volume_id)
        .volume_label(VOLUME_LABEL);
    fatfs::format_volume(&mut disk, options).map_err(esp_error(
        "cannot format FAT32 (is esp_size at least 33MiB?)",
    ))?;
    disk.seek(SeekFrom::Start(0))
        .map_err(esp_error("cannot rewind"))?;

    let time: &'static FixedTime = Box::leak(Box::new(FixedTime(fat_time(epoch))));
    let fs = FileSystem::new(&mut disk, FsOptions::new().time_provider(time))
        .map_err(esp_error("cannot open the new FAT32 volume"))?;
    let mut sorted: Vec<&(String, Vec<u8>)> = files.iter().collect();
    sorted.sort_by(|a, b| a.0.cmp(&b.0));
    let mut records = Vec::new();
    let mut dirs_made = std::collections::BTreeSet::new();
    for (path, content) in sorted {
        let root = fs.root_dir();
        let mut prefix = String::new();
        let parts: Vec<&str> = path.split('/').collect();
        for part in &parts[..parts.len() - 1] {
            if !prefix.is_empty() {
                prefix.push('/');
            }
            prefix.push_str(part);
            if dirs_made.insert(prefix.clone()) {
                root.create_dir(&prefix).map_err(esp_error(&prefix))?;
                records.push(FileRecord {
                    path: format!("/{prefix}"),
                    kind: "dir",
                    mode: "0755".into(),
                    size: 0,
                    sha256: String::new(),
                    target: None,
                });
            }
        }
        let mut file = root.create_file(path).map_err(esp_error(path))?;
        file.write_all(content).map_err(esp_error(path))?;
        file.flush().map_err(esp_error(path))?;
        records.push(FileRecord {
            path: format!("/{path}"),
            kind: "file",
            mode: "0755".into(),
            size: content.len() as u64,
            sha256: sha256_hex(content),
            target: None,
        });
    }
    fs.unmount()
        .map_err(esp_error("cannot close the FAT32 volume"))?;
    std::fs::write(image, disk.into_inner())
        .map_err(BuildError::io(format!("cannot write {}", image.display())))?;
    records.sort();
    Ok(records)
}

/// The files of the ESP for one bank, plus the bootloader and its config.
pub fn files(
    version: &str,
    bootloader: Vec<u8>,
    kernel: Vec<u8>,
    initrd: Vec<u8>,
    board_cmdline: &str,
) -> Vec<(String, Vec<u8>)> {
    vec![
        (BOOTLOADER_PATH.to_string(), bootloader),
        (
            LOADER_CONF_PATH.to_string(),
            LOADER_CONF.as_bytes().to_vec(),
        ),
        (
            entry_path(version),
            entry_text(version, 'a', board_cmdline).into_bytes(),
        ),
        (kernel_path(version), kernel),
        (initrd_path(version), initrd),
    ]
}

#[cfg(test)]
mod tests {
    use std::io::Read;

    use super::*;
    use cairn_layout::partition;

    #[test]
    fn entry_matches_the_contract() {
        assert_eq!(
            entry_path("0123456789ab"),
            format!("{}/cairn-0123456789ab+3.conf", esp::ENTRIES_DIR)
        );
        let text = entry_text("0123456789ab", 'a', "console=ttyS0,115200 panic=10");
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines,
            [
                "title      Cairn 0123456789ab (bank a)".to_string(),
                "version    0123456789ab".to_string(),
                format!("linux      /{}", esp::kernel("0123456789ab")),
                format!("initrd     /{}", esp::initrd("0123456789ab")),
                format!(
                    "options    {} console=ttyS0,115200 panic=10",
                    cmdline::entry_options('a', "0123456789ab")
                ),
            ]
        );
        assert!(text.contains(&format!("PARTLABEL={} ", partition::BANK_A)));
    }

    #[test]
    fn dates_from_epochs() {
        let t = fat_time(0);
        assert_eq!((t.date.year, t.date.month, t.date.day), (1980, 1, 1));
        // 2024-02-29 12:34:56 UTC
        let t = fat_time(1_709_210_096);
        assert_eq!((t.date.year, t.date.month, t.date.day), (2024, 2, 29));
        assert_eq!((t.time.hour, t.time.min, t.time.sec), (12, 34, 56));
    }

    #[test]
    fn reads_back_with_fixed_times_and_same_bytes() {
        let dir = std::env::temp_dir().join(format!("cairn-esp-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let files = files(
            "abcdef012345",
            b"MZboot".to_vec(),
            b"kernel".to_vec(),
            b"initrd".to_vec(),
            "quiet",
        );
        let first = dir.join("esp1.img");
        let second = dir.join("esp2.img");
        let records = build(&first, 40 << 20, 0x1234_5678, 0, &files).unwrap();
        build(&second, 40 << 20, 0x1234_5678, 0, &files).unwrap();
        assert_eq!(
            std::fs::read(&first).unwrap(),
            std::fs::read(&second).unwrap()
        );
        assert!(records
            .iter()
            .any(|r| r.path == format!("/{}", esp::BOOTLOADER)));

        let disk = std::fs::File::open(&first).unwrap();
        let fs = FileSystem::new(disk, FsOptions::new()).unwrap();
        assert_eq!(fs.fat_type(), FatType::Fat32);
        assert_eq!(fs.volume_id(), 0x1234_5678);
        assert_eq!(fs.volume_label(), "CAIRN-ESP");
        let root = fs.root_dir();
        let mut text = String::new();
        root.open_file(esp::LOADER_CONF)
            .unwrap()
            .read_to_string(&mut text)
            .unwrap();
        assert_eq!(text, LOADER_CONF);
        let mut kernel = Vec::new();
        root.open_file(&esp::kernel("abcdef012345"))
            .unwrap()
            .read_to_end(&mut kernel)
            .unwrap();
        assert_eq!(kernel, b"kernel");
        let entries = root.open_dir(esp::ENTRIES_DIR).unwrap();
        let entry = entries
            .iter()
            .map(Result::unwrap)
            .find(|e| e.file_name() == "cairn-abcdef012345+3.conf")
            .unwrap();
        let modified = entry.modified();
        assert_eq!(
            (modified.date.year, modified.date.month, modified.date.day),
            (1980, 1, 1)
        );
        assert_eq!(entry.created().time.hour, 0);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
