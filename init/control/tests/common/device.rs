//! A device in a temporary directory: bank partitions as files, the ESP
//! as a directory with the running version's entry, trusted keys, and the
//! configuration file that points at all of it.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use cairn_control::config::Config;
use cairn_layout::esp;
use cairn_update::entries::{pad_entry, render_entry, Bank, EntryName};
use cairn_update::record::{Record, PENDING};
use cairn_update::SigningKey;
use tempfile::TempDir;

pub const BOARD: &str = "qemu-x86_64";
pub const RUNNING_VERSION: &str = "1.0.0";
pub const RUNNING_BUILD: u64 = 7;
pub const BANK_SIZE: u64 = 64 * 1024;

pub struct Device {
    pub dir: TempDir,
    pub key: SigningKey,
    pub config: Config,
}

/// Bytes of each bank's kernel and initramfs slot on the test ESP.
pub const KERNEL_SLOT: u64 = 8192;
pub const INITRD_SLOT: u64 = 8192;

impl Device {
    /// Running build 7 from bank a, blessed; bank b holds a bad build 6.
    /// The ESP is laid out as `cairn build` lays it out: per bank a kernel
    /// and an initramfs slot and one entry file.
    pub fn new() -> Device {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        let key = SigningKey::generate().unwrap();
        fs::create_dir_all(root.join("keys")).unwrap();
        key.public_key()
            .save(&root.join("keys/release.pub"))
            .unwrap();
        for bank in ["bank-a", "bank-b"] {
            fs::write(root.join(bank), vec![0xee; BANK_SIZE as usize]).unwrap();
        }
        let esp = root.join("esp-files");
        fs::create_dir_all(esp.join(esp::ENTRIES_DIR)).unwrap();
        fs::create_dir_all(esp.join(esp::BOOTLOADER).parent().unwrap()).unwrap();
        fs::write(esp.join(esp::BOOTLOADER), b"systemd-boot").unwrap();
        fs::write(esp.join(esp::LOADER_CONF), b"timeout 0\neditor no\n").unwrap();
        let running = EntryName::new(RUNNING_BUILD, RUNNING_VERSION, 3)
            .unwrap()
            .blessed();
        add_version(
            &esp,
            &running,
            Bank::A,
            b"running kernel",
            b"running initrd",
        );
        let old = EntryName::new(6, "0.9.0", 3).unwrap().marked_bad();
        add_version(&esp, &old, Bank::B, b"old kernel", b"old initrd");
        fs::create_dir_all(root.join("logs")).unwrap();
        fs::create_dir_all(root.join("jobs")).unwrap();
        fs::create_dir_all(root.join("cgroup")).unwrap();
        fs::create_dir_all(root.join("proc")).unwrap();
        let config = config_for(root);
        Device { dir, key, config }
    }

    /// [`Device::new`] with the ESP as a FAT32 image file, made from the
    /// same files as `cairn build` makes them (slots preallocated, entry
    /// files alone in their sectors), which the writer changes in place.
    pub fn with_fat_esp() -> Device {
        let mut device = Device::new();
        let image = device.root().join("esp.img");
        let files = snapshot(&device.esp());
        let mut contents = cairn_fat::Contents::new();
        for (path, bytes) in &files {
            if path.ends_with('/') {
                continue;
            }
            let spec = cairn_fat::FileSpec::new(path, bytes);
            contents.add(if path.starts_with(esp::ENTRIES_DIR) {
                spec.alone_in_sector()
            } else {
                spec
            });
        }
        let mut file = fs::File::create(&image).unwrap();
        cairn_fat::format(
            &mut file,
            &cairn_fat::FormatOptions::new(40 << 20, 0x0c0f_fee0, "CAIRN-ESP", 0),
            &contents,
        )
        .unwrap();
        let mut config = config_json(device.root());
        let writer = &mut config["writer"];
        writer.as_object_mut().unwrap().remove("esp_dir");
        writer["esp_device"] = serde_json::json!(image.to_str().unwrap());
        device.config = Config::parse(config.to_string().as_bytes()).unwrap();
        device
    }

    /// The ESP image of [`Device::with_fat_esp`].
    pub fn esp_image(&self) -> PathBuf {
        self.root().join("esp.img")
    }

    pub fn root(&self) -> &Path {
        self.dir.path()
    }

    pub fn esp(&self) -> PathBuf {
        self.root().join("esp-files")
    }

    pub fn bank(&self, letter: &str) -> Vec<u8> {
        fs::read(self.root().join(format!("bank-{letter}"))).unwrap()
    }

    pub fn entry_names(&self) -> Vec<String> {
        let mut names: Vec<String> = fs::read_dir(self.esp().join(esp::ENTRIES_DIR))
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        names.sort();
        names
    }

    /// The entry file's text, without its padding.
    pub fn entry_text(&self, file_name: &str) -> String {
        let bytes = fs::read(self.esp().join(esp::ENTRIES_DIR).join(file_name)).unwrap();
        assert_eq!(bytes.len(), esp::ENTRY_BYTES, "{file_name} keeps its size");
        String::from_utf8(bytes)
            .unwrap()
            .trim_end_matches('\n')
            .to_string()
    }

    pub fn pending(&self) -> Option<Record> {
        Record::load(&self.root().join("update").join(PENDING)).unwrap()
    }
}

/// Bank `bank`'s slots and entry file, holding `name` (written as the
/// `build`th version, so its generation is its build).
pub fn add_version(esp_dir: &Path, name: &EntryName, bank: Bank, linux: &[u8], initrd: &[u8]) {
    let letter = bank.char();
    fs::create_dir_all(esp_dir.join(esp::bank_dir(letter))).unwrap();
    let padded = |bytes: &[u8], size: u64| {
        let mut out = bytes.to_vec();
        out.resize(size as usize, 0);
        out
    };
    fs::write(
        esp_dir.join(esp::kernel(letter)),
        padded(linux, KERNEL_SLOT),
    )
    .unwrap();
    fs::write(
        esp_dir.join(esp::initrd(letter)),
        padded(initrd, INITRD_SLOT),
    )
    .unwrap();
    let text = render_entry(name, bank, name.build.unwrap(), "console=ttyS0").unwrap();
    fs::write(
        esp_dir.join(esp::ENTRIES_DIR).join(name.file_name()),
        pad_entry(&text).unwrap(),
    )
    .unwrap();
}

pub fn config_for(root: &Path) -> Config {
    let json = config_json(root);
    fs::create_dir_all(root.join("run")).unwrap();
    Config::parse(json.to_string().as_bytes()).unwrap()
}

fn config_json(root: &Path) -> serde_json::Value {
    let path = |p: &str| root.join(p).to_str().unwrap().to_owned();
    serde_json::json!({
        "hostname": "edge-01",
        "board": BOARD,
        "version": RUNNING_VERSION,
        "build": RUNNING_BUILD,
        "bank": "a",
        "control": {
            "port": 7443,
            "ca": path("tls/ca.crt"),
            "cert": path("tls/server.crt"),
            "key": path("tls/server.key"),
            "max_bundle_bytes": BANK_SIZE + 1024 * 1024,
        },
        "paths": {
            "status": path("run/status.json"),
            "system": path("run/system.json"),
            "logs": path("logs"),
            "jobs": path("jobs"),
            "cgroup_apps": path("cgroup"),
            "proc": path("proc"),
            "pid1_socket": path("run/pid1.sock"),
            "update_socket": path("run/update.sock"),
        },
        "writer": {
            "update_keys": path("keys"),
            "banks": {"a": path("bank-a"), "b": path("bank-b")},
            "bank_size": BANK_SIZE,
            "esp_dir": path("esp-files"),
            "update_dir": path("update"),
        },
    })
}

/// Every file under `dir`, by relative path, with its bytes.
pub fn snapshot(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut files = BTreeMap::new();
    let mut stack = vec![dir.to_owned()];
    while let Some(at) = stack.pop() {
        for item in fs::read_dir(&at).unwrap() {
            let item = item.unwrap();
            let path = item.path();
            if item.file_type().unwrap().is_dir() {
                files.insert(
                    format!("{}/", path.strip_prefix(dir).unwrap().display()),
                    Vec::new(),
                );
                stack.push(path);
            } else {
                let relative = path.strip_prefix(dir).unwrap().display().to_string();
                files.insert(relative, fs::read(&path).unwrap());
            }
        }
    }
    files
}

/// The files of the running version (bank a, build 7) and the loader.
pub fn running_part(snapshot: &BTreeMap<String, Vec<u8>>) -> BTreeMap<String, Vec<u8>> {
    snapshot
        .iter()
        .filter(|(path, _)| {
            path.starts_with(&esp::bank_dir('a'))
                || path.contains("0000000007-1.0.0")
                || path.starts_with(esp::BOOTLOADER)
                || path.starts_with(esp::LOADER_CONF)
        })
        .map(|(p, b)| (p.clone(), b.clone()))
        .collect()
}
