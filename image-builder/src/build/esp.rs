//! The EFI system partition: FAT32 holding systemd-boot, its loader config,
//! one Boot Loader Specification entry per bank, and each bank's kernel and
//! initramfs. Built in a file with fixed timestamps and volume id, so the
//! same inputs give the same bytes.

use std::io::{Cursor, Seek, SeekFrom, Write};
use std::path::Path;

use cairn_layout::esp;
use cairn_update::entries::{render_entry, Bank, EntryName, DEFAULT_TRIES};
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

/// Boot the default entry at once, no editor, no automatic entries (the
/// firmware's own or other OSes'), leave the console mode as the firmware set it.
pub const LOADER_CONF: &str =
    "timeout 0\neditor no\nauto-entries no\nauto-firmware no\nconsole-mode keep\n";

/// The entry of a freshly built version: `cairn-<build>-<version>+3-0.conf`,
/// named as the update writer names the entries it writes, so systemd-boot
/// orders a built image's entry and an update's by build number alike.
pub fn entry_name(build: u64, version: &str) -> Result<EntryName, BuildError> {
    EntryName::new(build, version, DEFAULT_TRIES)
        .map_err(|e| BuildError::Invalid(format!("cannot name the boot entry: {e}")))
}

/// `loader/entries/<entry file name>`.
pub fn entry_path(name: &EntryName) -> String {
    format!("{}/{}", esp::ENTRIES_DIR, name.file_name())
}

/// `cairn/<build>-<version>/linux`.
pub fn kernel_path(name: &EntryName) -> String {
    format!("{}/{}", name.esp_dir(), esp::KERNEL)
}

/// `cairn/<build>-<version>/initrd`.
pub fn initrd_path(name: &EntryName) -> String {
    format!("{}/{}", name.esp_dir(), esp::INITRD)
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

/// The files of the ESP for bank A's version, plus the bootloader and its
/// config. Fails when the board's command line cannot go on an entry's
/// options line.
pub fn files(
    name: &EntryName,
    bootloader: Vec<u8>,
    kernel: Vec<u8>,
    initrd: Vec<u8>,
    board_cmdline: &str,
) -> Result<Vec<(String, Vec<u8>)>, BuildError> {
    let entry = render_entry(name, Bank::A, board_cmdline).map_err(|e| {
        BuildError::Invalid(format!(
            "the board's [kernel] cmdline cannot go into a boot entry: {e}"
        ))
    })?;
    Ok(vec![
        (BOOTLOADER_PATH.to_string(), bootloader),
        (
            LOADER_CONF_PATH.to_string(),
            LOADER_CONF.as_bytes().to_vec(),
        ),
        (entry_path(name), entry.into_bytes()),
        (kernel_path(name), kernel),
        (initrd_path(name), initrd),
    ])
}

#[cfg(test)]
mod tests {
    use std::io::Read;

    use super::*;
    use cairn_layout::partition;

    #[test]
    fn entry_is_named_and_written_by_build() {
        let name = entry_name(7, "0123456789ab").unwrap();
        assert_eq!(
            entry_path(&name),
            format!(
                "{}/cairn-0000000007-0123456789ab+3-0.conf",
                esp::ENTRIES_DIR
            )
        );
        assert_eq!(
            kernel_path(&name),
            format!("{}/{}", name.esp_dir(), esp::KERNEL)
        );
        let files = files(
            &name,
            vec![],
            vec![],
            vec![],
            "console=ttyS0,115200 panic=10",
        )
        .unwrap();
        let text = String::from_utf8(files[2].1.clone()).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines,
            [
                "title      Cairn 0123456789ab (build 7, bank a)".to_string(),
                "sort-key   cairn".to_string(),
                "version    0000000007-0123456789ab".to_string(),
                format!("linux      /{}", kernel_path(&name)),
                format!("initrd     /{}", initrd_path(&name)),
                format!(
                    "options    root=PARTLABEL={} {}=a {}=0123456789ab console=ttyS0,115200 panic=10",
                    partition::BANK_A,
                    cairn_layout::cmdline::BANK,
                    cairn_layout::cmdline::VERSION,
                ),
            ]
        );
        assert!(super::files(&name, vec![], vec![], vec![], "quiet\nlinux /x").is_err());
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
        let name = entry_name(1, "abcdef012345").unwrap();
        let files = files(
            &name,
            b"MZboot".to_vec(),
            b"kernel".to_vec(),
            b"initrd".to_vec(),
            "quiet",
        )
        .unwrap();
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
        root.open_file(&kernel_path(&name))
            .unwrap()
            .read_to_end(&mut kernel)
            .unwrap();
        assert_eq!(kernel, b"kernel");
        let entries = root.open_dir(esp::ENTRIES_DIR).unwrap();
        let entry = entries
            .iter()
            .map(Result::unwrap)
            .find(|e| e.file_name() == name.file_name())
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
