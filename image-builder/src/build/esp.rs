//! The EFI system partition: FAT32 holding systemd-boot, its loader config,
//! one Boot Loader Specification entry per bank, and each bank's kernel and
//! initramfs. Built in a file with fixed timestamps and volume id, so the
//! same inputs give the same bytes.

use std::io::{Cursor, Seek, SeekFrom, Write};
use std::path::Path;

use fatfs::{
    Date, DateTime, FatType, FileSystem, FormatVolumeOptions, FsOptions, Time, TimeProvider,
};

use super::hash::sha256_hex;
use super::inventory::FileRecord;
use super::BuildError;

/// systemd-boot's fallback path on removable media, found by any UEFI firmware.
pub const BOOTLOADER_PATH: &str = "EFI/BOOT/BOOTX64.EFI";
pub const LOADER_CONF_PATH: &str = "loader/loader.conf";
pub const VOLUME_LABEL: [u8; 11] = *b"CAIRN-ESP  ";
/// Tries the boot counter starts with (`+3`).
pub const BOOT_TRIES: u32 = 3;

/// Boot the default entry at once, no editor, no automatic entries (the
/// firmware's own or other OSes'), leave the console mode as the firmware set it.
pub const LOADER_CONF: &str =
    "timeout 0\neditor no\nauto-entries no\nauto-firmware no\nconsole-mode keep\n";

/// `loader/entries/cairn-<version>+3.conf`
pub fn entry_path(version: &str) -> String {
    format!("loader/entries/cairn-{version}+{BOOT_TRIES}.conf")
}

/// The Boot Loader Specification entry of one bank.
pub fn entry_text(version: &str, bank: &str, board_cmdline: &str) -> String {
    let mut options =
        format!("root=PARTLABEL=cairn-{bank} cairn.bank={bank} cairn.version={version}");
    if !board_cmdline.trim().is_empty() {
        options.push(' ');
        options.push_str(board_cmdline.trim());
    }
    format!(
        "title      Cairn {version} (bank {bank})\n\
         version    {version}\n\
         linux      /cairn/{version}/linux\n\
         initrd     /cairn/{version}/initrd\n\
         options    {options}\n"
    )
}

/// `cairn/<version>/linux` and `cairn/<version>/initrd`.
pub fn kernel_path(version: &str) -> String {
    format!("cairn/{version}/linux")
}
pub fn initrd_path(version: &str) -> String {
    format!("cairn/{version}/initrd")
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

/// FAT dates start in 1980; earlier epochs (like 0) become 1980-01-01.
fn fat_time(epoch: u64) -> DateTime {
    let days = i64::try_from(epoch / 86_400).unwrap_or(0);
    let secs = epoch % 86_400;
    let (year, month, day) = civil_from_days(days);
    let u16_of = |v: u64| u16::try_from(v).unwrap_or(0);
    if !(1980..=2107).contains(&year) {
        return DateTime {
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
        };
    }
    DateTime {
        date: Date {
            year: u16::try_from(year).unwrap_or(1980),
            month,
            day,
        },
        time: Time {
            hour: u16_of(secs / 3600),
            min: u16_of(secs % 3600 / 60),
            sec: u16_of(secs % 60),
            millis: 0,
        },
    }
}

/// Days since 1970-01-01 to (year, month, day), Howard Hinnant's algorithm.
pub(crate) fn civil_from_days(days: i64) -> (i64, u16, u16) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    (
        year,
        u16::try_from(month).unwrap_or(1),
        u16::try_from(day).unwrap_or(1),
    )
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
            entry_text(version, "a", board_cmdline).into_bytes(),
        ),
        (kernel_path(version), kernel),
        (initrd_path(version), initrd),
    ]
}

#[cfg(test)]
mod tests {
    use std::io::Read;

    use super::*;

    #[test]
    fn entry_matches_the_contract() {
        assert_eq!(
            entry_path("0123456789ab"),
            "loader/entries/cairn-0123456789ab+3.conf"
        );
        assert_eq!(
            entry_text("0123456789ab", "a", "console=ttyS0,115200 panic=10"),
            "title      Cairn 0123456789ab (bank a)\n\
             version    0123456789ab\n\
             linux      /cairn/0123456789ab/linux\n\
             initrd     /cairn/0123456789ab/initrd\n\
             options    root=PARTLABEL=cairn-a cairn.bank=a cairn.version=0123456789ab \
             console=ttyS0,115200 panic=10\n"
        );
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
        assert!(records.iter().any(|r| r.path == "/EFI/BOOT/BOOTX64.EFI"));

        let disk = std::fs::File::open(&first).unwrap();
        let fs = FileSystem::new(disk, FsOptions::new()).unwrap();
        assert_eq!(fs.fat_type(), FatType::Fat32);
        assert_eq!(fs.volume_id(), 0x1234_5678);
        assert_eq!(fs.volume_label(), "CAIRN-ESP");
        let root = fs.root_dir();
        let mut text = String::new();
        root.open_file("loader/loader.conf")
            .unwrap()
            .read_to_string(&mut text)
            .unwrap();
        assert_eq!(text, LOADER_CONF);
        let mut kernel = Vec::new();
        root.open_file("cairn/abcdef012345/linux")
            .unwrap()
            .read_to_end(&mut kernel)
            .unwrap();
        assert_eq!(kernel, b"kernel");
        let entries = root.open_dir("loader/entries").unwrap();
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
