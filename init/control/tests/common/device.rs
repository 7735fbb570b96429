//! A device in a temporary directory: bank partitions as files, the ESP
//! as a directory with the running version's entry, trusted keys, and the
//! configuration file that points at all of it.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use cairn_control::config::Config;
use cairn_update::entries::{render_entry, Bank, EntryName};
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

impl Device {
    /// Running build 7 from bank a, blessed; bank b holds a bad build 6.
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
        let esp = root.join("esp");
        fs::create_dir_all(esp.join("loader/entries")).unwrap();
        fs::create_dir_all(esp.join("EFI/BOOT")).unwrap();
        fs::write(esp.join("EFI/BOOT/BOOTX64.EFI"), b"systemd-boot").unwrap();
        fs::write(esp.join("loader/loader.conf"), b"timeout 0\neditor no\n").unwrap();
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

    pub fn root(&self) -> &Path {
        self.dir.path()
    }

    pub fn esp(&self) -> PathBuf {
        self.root().join("esp")
    }

    pub fn bank(&self, letter: &str) -> Vec<u8> {
        fs::read(self.root().join(format!("bank-{letter}"))).unwrap()
    }

    pub fn entry_names(&self) -> Vec<String> {
        let mut names: Vec<String> = fs::read_dir(self.esp().join("loader/entries"))
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        names.sort();
        names
    }

    pub fn pending(&self) -> Option<Record> {
        Record::load(&self.root().join("update").join(PENDING)).unwrap()
    }
}

pub fn add_version(esp: &Path, name: &EntryName, bank: Bank, linux: &[u8], initrd: &[u8]) {
    let dir = esp.join(name.esp_dir());
    fs::create_dir_all(&dir).unwrap();
    fs::write(dir.join("linux"), linux).unwrap();
    fs::write(dir.join("initrd"), initrd).unwrap();
    let text = render_entry(name, bank, "console=ttyS0").unwrap();
    fs::write(esp.join("loader/entries").join(name.file_name()), text).unwrap();
}

pub fn config_for(root: &Path) -> Config {
    let path = |p: &str| root.join(p).to_str().unwrap().to_owned();
    let json = serde_json::json!({
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
            "esp_dir": path("esp"),
            "update_dir": path("update"),
        },
    });
    fs::create_dir_all(root.join("run")).unwrap();
    Config::parse(json.to_string().as_bytes()).unwrap()
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
            path.contains("0000000007-1.0.0")
                || path.starts_with("EFI")
                || path.starts_with("loader/loader.conf")
        })
        .map(|(p, b)| (p.clone(), b.clone()))
        .collect()
}
