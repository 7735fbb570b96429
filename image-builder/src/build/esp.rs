//! The EFI system partition: FAT32 holding systemd-boot, its loader config,
//! and per bank a kernel slot, an initramfs slot and one entry file (see
//! `cairn_layout::esp`). Made with `cairn-fat` from fixed timestamps and
//! volume id, so the same inputs give the same bytes, and so that the
//! running system changes it in place: the slots are preallocated at their
//! board-given sizes, and each entry file's directory slots are alone in a
//! sector of their own.

use std::fs::File;
use std::path::Path;

use cairn_fat::{Contents, FileSpec, FormatOptions};
use cairn_layout::esp;
use cairn_update::entries::{pad_entry, render_entry, Bank, EntryName, DEFAULT_TRIES};

use super::hash::sha256_hex;
use super::inventory::FileRecord;
use super::BuildError;

/// systemd-boot's fallback path on removable media, found by any UEFI firmware.
pub const BOOTLOADER_PATH: &str = esp::BOOTLOADER;
pub const LOADER_CONF_PATH: &str = esp::LOADER_CONF;
pub const VOLUME_LABEL: &str = "CAIRN-ESP";

/// Boot the default entry at once, no editor, no automatic entries (the
/// firmware's own or other OSes'), leave the console mode as the firmware set it.
pub const LOADER_CONF: &str =
    "timeout 0\neditor no\nauto-entries no\nauto-firmware no\nconsole-mode keep\n";

/// The generation of a built image's entry: the first version its device
/// holds.
pub const FIRST_GENERATION: u64 = 1;

/// Room the ESP needs beyond the four slots: systemd-boot, the loader
/// config, the entry files, the directories and the FATs.
const OVERHEAD: u64 = 8 << 20;

/// The entry of a freshly built version: `cairn-<build>-<version>+3-0.conf`,
/// named as the update writer names the entries it writes, so systemd-boot
/// orders a built image's entry and an update's alike.
pub fn entry_name(build: u64, version: &str) -> Result<EntryName, BuildError> {
    EntryName::new(build, version, DEFAULT_TRIES)
        .map_err(|e| BuildError::Invalid(format!("cannot name the boot entry: {e}")))
}

/// `loader/entries/<entry file name>`.
pub fn entry_path(name: &EntryName) -> String {
    format!("{}/{}", esp::ENTRIES_DIR, name.file_name())
}

/// The sizes of each bank's kernel and initramfs slots.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Slots {
    pub kernel: u64,
    pub initrd: u64,
}

/// What goes on the ESP.
#[derive(Debug)]
pub struct EspInputs<'a> {
    pub entry: &'a EntryName,
    pub bootloader: &'a [u8],
    pub kernel: &'a [u8],
    pub initrd: &'a [u8],
    pub board_cmdline: &'a str,
    pub slots: Slots,
}

/// Checks that the kernel and initramfs fit their slots and the slots the
/// ESP, saying which board key to raise.
pub fn check_sizes(inputs: &EspInputs<'_>, esp_size: u64, board: &Path) -> Result<(), BuildError> {
    let board = board.display();
    for (what, key, len, slot) in [
        (
            "kernel",
            "kernel_slot",
            inputs.kernel.len() as u64,
            inputs.slots.kernel,
        ),
        (
            "initramfs",
            "initrd_slot",
            inputs.initrd.len() as u64,
            inputs.slots.initrd,
        ),
    ] {
        if len > slot {
            return Err(BuildError::Invalid(format!(
                "the {what} is {len} bytes, more than {board}: [disk] {key} ({slot} bytes); raise {key} (and esp_size, which holds two of each)"
            )));
        }
    }
    let needed = 2 * (inputs.slots.kernel + inputs.slots.initrd) + OVERHEAD;
    if needed > esp_size {
        return Err(BuildError::Invalid(format!(
            "{board}: [disk] esp_size ({esp_size} bytes) cannot hold two kernel_slot and two initrd_slot and room for the boot loader ({needed} bytes); raise esp_size or lower the slots"
        )));
    }
    Ok(())
}

/// The text of bank a's entry, padded to its file's size. Fails when the
/// board's command line cannot go on an entry's options line.
pub fn entry_file(inputs: &EspInputs<'_>) -> Result<Vec<u8>, BuildError> {
    let text = render_entry(
        inputs.entry,
        Bank::A,
        FIRST_GENERATION,
        inputs.board_cmdline,
    )
    .map_err(|e| {
        BuildError::Invalid(format!(
            "the board's [kernel] cmdline cannot go into a boot entry: {e}"
        ))
    })?;
    pad_entry(&text).map_err(|e| BuildError::Invalid(format!("the boot entry: {e}")))
}

/// Writes a FAT32 volume of `size` bytes at `image` holding bank a's
/// version and bank b's empty slots. Returns the ESP's inventory.
pub fn build(
    image: &Path,
    size: u64,
    volume_id: u32,
    epoch: u64,
    inputs: &EspInputs<'_>,
) -> Result<Vec<FileRecord>, BuildError> {
    let entry = entry_file(inputs)?;
    let idle = vec![b'\n'; esp::ENTRY_BYTES];
    let idle_path = format!("{}/{}", esp::ENTRIES_DIR, esp::idle_entry('b'));
    let a_entry = entry_path(inputs.entry);
    let (kernel_a, initrd_a) = (esp::kernel('a'), esp::initrd('a'));
    let (kernel_b, initrd_b) = (esp::kernel('b'), esp::initrd('b'));
    let slots = inputs.slots;
    let mut contents = Contents::new();
    contents
        .file(BOOTLOADER_PATH, inputs.bootloader)
        .file(LOADER_CONF_PATH, LOADER_CONF.as_bytes())
        .add(FileSpec::new(&a_entry, &entry).alone_in_sector())
        .add(FileSpec::new(&idle_path, &idle).alone_in_sector())
        .add(FileSpec::new(&kernel_a, inputs.kernel).reserve(slots.kernel))
        .add(FileSpec::new(&initrd_a, inputs.initrd).reserve(slots.initrd))
        .add(FileSpec::new(&kernel_b, &[]).reserve(slots.kernel))
        .add(FileSpec::new(&initrd_b, &[]).reserve(slots.initrd));
    let mut file = File::create(image)
        .map_err(BuildError::io(format!("cannot create {}", image.display())))?;
    cairn_fat::format(
        &mut file,
        &FormatOptions::new(size, volume_id, VOLUME_LABEL, epoch),
        &contents,
    )
    .map_err(|e| BuildError::Esp(format!("cannot make the FAT32 volume: {e}")))?;

    // The inventory lists each file as it is on the ESP: slots padded to
    // their sizes, entry files to theirs.
    let padded = |bytes: &[u8], size: u64| {
        let mut out = bytes.to_vec();
        out.resize(usize::try_from(size).unwrap_or(0).max(bytes.len()), 0);
        out
    };
    let files: Vec<(String, Vec<u8>)> = vec![
        (BOOTLOADER_PATH.to_string(), inputs.bootloader.to_vec()),
        (
            LOADER_CONF_PATH.to_string(),
            LOADER_CONF.as_bytes().to_vec(),
        ),
        (a_entry, entry.clone()),
        (idle_path, idle.clone()),
        (kernel_a, padded(inputs.kernel, slots.kernel)),
        (initrd_a, padded(inputs.initrd, slots.initrd)),
        (kernel_b, padded(&[], slots.kernel)),
        (initrd_b, padded(&[], slots.initrd)),
    ];
    let mut records = Vec::new();
    let mut dirs = std::collections::BTreeSet::new();
    for (path, content) in &files {
        let mut prefix = String::new();
        for part in path
            .split('/')
            .take(path.split('/').count().saturating_sub(1))
        {
            if !prefix.is_empty() {
                prefix.push('/');
            }
            prefix.push_str(part);
            if dirs.insert(prefix.clone()) {
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
        records.push(FileRecord {
            path: format!("/{path}"),
            kind: "file",
            mode: "0755".into(),
            size: content.len() as u64,
            sha256: sha256_hex(content),
            target: None,
        });
    }
    records.sort();
    Ok(records)
}

#[cfg(test)]
mod tests {
    use super::*;
    use cairn_layout::partition;
    use cairn_update::esp::{Esp, FatFiles};

    fn inputs<'a>(name: &'a EntryName, cmdline: &'a str) -> EspInputs<'a> {
        EspInputs {
            entry: name,
            bootloader: b"MZboot",
            kernel: b"kernel",
            initrd: b"initrd",
            board_cmdline: cmdline,
            slots: Slots {
                kernel: 1 << 20,
                initrd: 1 << 20,
            },
        }
    }

    #[test]
    fn the_entry_is_named_by_build_and_boots_bank_a_from_its_slots() {
        let name = entry_name(7, "0123456789ab").unwrap();
        assert_eq!(
            entry_path(&name),
            format!(
                "{}/cairn-0000000007-0123456789ab+3-0.conf",
                esp::ENTRIES_DIR
            )
        );
        let file = entry_file(&inputs(&name, "console=ttyS0,115200 panic=10")).unwrap();
        assert_eq!(file.len(), esp::ENTRY_BYTES);
        let text = String::from_utf8(file).unwrap();
        let lines: Vec<&str> = text.lines().take_while(|l| !l.is_empty()).collect();
        assert_eq!(
            lines,
            [
                "title      Cairn 0123456789ab (build 7, bank a)".to_string(),
                "sort-key   cairn".to_string(),
                "version    0000000001-0000000007-0123456789ab".to_string(),
                format!("linux      /{}", esp::kernel('a')),
                format!("initrd     /{}", esp::initrd('a')),
                format!(
                    "options    root=PARTLABEL={} {}=a {}=0123456789ab console=ttyS0,115200 panic=10",
                    partition::BANK_A,
                    cairn_layout::cmdline::BANK,
                    cairn_layout::cmdline::VERSION,
                ),
            ]
        );
        assert!(entry_file(&inputs(&name, "quiet\nlinux /x")).is_err());
    }

    #[test]
    fn sizes_are_checked_against_the_slots_and_the_esp() {
        let name = entry_name(1, "abcdef012345").unwrap();
        let board = Path::new("board.toml");
        let mut big = inputs(&name, "");
        let kernel = vec![0u8; (1 << 20) + 1];
        big.kernel = &kernel;
        let err = check_sizes(&big, 64 << 20, board).unwrap_err().to_string();
        assert!(err.contains("raise kernel_slot"), "{err}");
        let err = check_sizes(&inputs(&name, ""), 9 << 20, board)
            .unwrap_err()
            .to_string();
        assert!(err.contains("raise esp_size"), "{err}");
        check_sizes(&inputs(&name, ""), 64 << 20, board).unwrap();
    }

    #[test]
    fn the_volume_is_the_same_every_time_and_holds_both_banks_files() {
        let dir = tempfile::tempdir().unwrap();
        let name = entry_name(1, "abcdef012345").unwrap();
        let first = dir.path().join("esp1.img");
        let second = dir.path().join("esp2.img");
        let records = build(&first, 40 << 20, 0x1234_5678, 0, &inputs(&name, "quiet")).unwrap();
        build(&second, 40 << 20, 0x1234_5678, 0, &inputs(&name, "quiet")).unwrap();
        assert_eq!(
            std::fs::read(&first).unwrap(),
            std::fs::read(&second).unwrap()
        );
        assert!(records
            .iter()
            .any(|r| r.path == format!("/{}", esp::BOOTLOADER)));

        // As the running system reads it: bank a's entry, bank b idle, the
        // slots at their sizes with what was built at their start.
        let mut volume = Esp::new(FatFiles::open(&first).unwrap());
        let entries = volume.entries().unwrap();
        let a = Esp::<FatFiles>::bank_file(&entries, Bank::A).unwrap();
        assert_eq!(a.name.as_ref(), Some(&name));
        assert!(Esp::<FatFiles>::bank_file(&entries, Bank::B)
            .unwrap()
            .is_idle());
        assert_eq!(volume.slot_sizes(Bank::B).unwrap(), (1 << 20, 1 << 20));
        let mut files = volume.into_files();
        use cairn_update::esp::EspFiles;
        let kernel = files.read(&esp::kernel('a'), 2 << 20).unwrap();
        assert_eq!(&kernel[..6], b"kernel");
        assert!(kernel[6..].iter().all(|&b| b == 0));
        assert!(!files.is_dirty().unwrap());
    }
}
