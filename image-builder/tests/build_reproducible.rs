//! Builds a small manifest twice, into two directories, and checks that the
//! disk images and inventories are byte for byte the same, and that the
//! image holds what the layout promises.
//!
//! Needs apt (the kernel and systemd-boot are fetched into the cache, like
//! any build); it fails and says why when `apt-get` is missing.

use cairn_layout::{bank, cmdline, esp, partition};
use std::io::{Cursor, Read};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use cairn_image_builder::build::{build, BuildOptions};
use serde_json::Value;
use sha2::{Digest, Sha256};

fn sha256(path: &Path) -> String {
    let bytes = std::fs::read(path).unwrap();
    hex::encode(Sha256::digest(bytes))
}

/// Compares two files chunk by chunk (hashing half a GiB twice is slow in
/// an unoptimised test build; equal bytes mean equal sha256 anyway).
fn assert_same_bytes(a: &Path, b: &Path) {
    let (mut fa, mut fb) = (
        std::fs::File::open(a).unwrap(),
        std::fs::File::open(b).unwrap(),
    );
    assert_eq!(
        fa.metadata().unwrap().len(),
        fb.metadata().unwrap().len(),
        "sizes differ"
    );
    let (mut ba, mut bb) = (vec![0u8; 1 << 20], vec![0u8; 1 << 20]);
    let mut offset = 0u64;
    loop {
        let n = fa.read(&mut ba).unwrap();
        fb.read_exact(&mut bb[..n]).unwrap();
        if n == 0 {
            break;
        }
        assert!(
            ba[..n] == bb[..n],
            "{} and {} differ near byte {offset}",
            a.display(),
            b.display()
        );
        offset += n as u64;
    }
}

fn have(program: &str) -> bool {
    Command::new("sh")
        .args(["-c", &format!("command -v {program}")])
        .output()
        .is_ok_and(|o| o.status.success())
}

struct Scratch(PathBuf);

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The smallest static x86_64 program: one PT_LOAD segment that calls
/// exit(0). Small inputs keep the test fast.
fn tiny_static_elf() -> Vec<u8> {
    const BASE: u64 = 0x40_0000;
    let code: &[u8] = &[0xb8, 0x3c, 0, 0, 0, 0x31, 0xff, 0x0f, 0x05];
    let total = 64 + 56 + code.len() as u64;
    let mut elf = Vec::new();
    elf.extend_from_slice(b"\x7fELF\x02\x01\x01\0\0\0\0\0\0\0\0\0");
    elf.extend_from_slice(&2u16.to_le_bytes()); // ET_EXEC
    elf.extend_from_slice(&62u16.to_le_bytes()); // x86_64
    elf.extend_from_slice(&1u32.to_le_bytes());
    elf.extend_from_slice(&(BASE + 120).to_le_bytes()); // entry
    elf.extend_from_slice(&64u64.to_le_bytes()); // phoff
    elf.extend_from_slice(&0u64.to_le_bytes()); // shoff
    elf.extend_from_slice(&0u32.to_le_bytes()); // flags
    for v in [64u16, 56, 1, 64, 0, 0] {
        elf.extend_from_slice(&v.to_le_bytes());
    }
    elf.extend_from_slice(&1u32.to_le_bytes()); // PT_LOAD
    elf.extend_from_slice(&5u32.to_le_bytes()); // R+X
    for v in [0, BASE, BASE, total, total, 0x1000] {
        elf.extend_from_slice(&v.to_le_bytes());
    }
    elf.extend_from_slice(code);
    elf
}

/// A CA certificate for the TLS remote, as PEM.
fn ca_pem() -> String {
    let key = rcgen::KeyPair::generate().unwrap();
    let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    params.self_signed(&key).unwrap().pem()
}

/// A manifest with one of each bundle kind: a static program, a dynamic one
/// (the host's `true`), a script, and a shipped config directory; and a
/// TLS log collector with its CA file.
fn write_inputs(dir: &Path) -> PathBuf {
    std::fs::write(dir.join("server"), tiny_static_elf()).unwrap();
    std::fs::set_permissions(dir.join("server"), std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::write(dir.join("tick.sh"), "#!/bin/sh\necho tick\n").unwrap();
    std::fs::set_permissions(dir.join("tick.sh"), std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::create_dir_all(dir.join("conf")).unwrap();
    std::fs::write(dir.join("conf/server.ini"), "greeting = hi\n").unwrap();
    std::fs::write(dir.join("logs-ca.pem"), ca_pem()).unwrap();
    let manifest = dir.join("system.toml");
    std::fs::write(
        &manifest,
        r#"version = 1

[system]
hostname = "repro"

[apps.server]
bundle = "server"
exec = ["/bin/server"]
ports.http = 8080

[apps.server.paths]
"/var/lib/server" = "state"
"/etc/server" = { bundle = "conf", readonly = true }

[apps.truth]
bundle = "/bin/true"
exec = ["/bin/true"]
restart = "never"

[jobs.tick]
schedule = "@hourly"
bundle = "tick.sh"
exec = ["/bin/tick.sh"]

[[logging.remote]]
url = "syslog+udp://10.0.0.5"

[[logging.remote]]
url = "syslog+tls://logs.example.net"
ca = "logs-ca.pem"
"#,
    )
    .unwrap();
    manifest
}

fn partition<'a>(inventory: &'a Value, name: &str) -> &'a Value {
    inventory["partitions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == name)
        .unwrap_or_else(|| panic!("no partition {name}"))
}

fn partition_bytes(disk: &[u8], part: &Value) -> Vec<u8> {
    let first = part["first_lba"].as_u64().unwrap() as usize * 512;
    let last = (part["last_lba"].as_u64().unwrap() as usize + 1) * 512;
    disk[first..last].to_vec()
}

#[test]
fn same_inputs_give_identical_images() {
    assert!(
        have("apt-get"),
        "apt-get is not available, so the kernel cannot be fetched: build on Debian or a derivative"
    );
    let root = Scratch(std::env::temp_dir().join(format!("cairn-repro-{}", std::process::id())));
    let _ = std::fs::remove_dir_all(&root.0);
    std::fs::create_dir_all(&root.0).unwrap();
    let manifest = write_inputs(&root.0);
    let board = Path::new(env!("CARGO_MANIFEST_DIR")).join("../board-configs/qemu-x86_64.toml");

    let mut outputs = Vec::new();
    for run in ["one", "two"] {
        let out_dir = root.0.join(run);
        let output = build(&BuildOptions {
            manifest: manifest.clone(),
            out_dir: out_dir.clone(),
            board: Some(board.clone()),
            init_binary: Some(root.0.join("server")),
            cache_dir: None,
            progress: false,
        })
        .unwrap_or_else(|e| panic!("build {run}: {e}"));
        assert!(!out_dir.join(".work").exists(), "scratch tree left behind");
        outputs.push(output);
    }
    let (one, two) = (&outputs[0], &outputs[1]);
    assert_eq!(one.version, two.version);
    assert_same_bytes(&one.disk_image, &two.disk_image);
    assert_eq!(
        sha256(&one.inventory),
        sha256(&two.inventory),
        "inventory.json differs"
    );
    let out = one.disk_image.parent().unwrap();
    assert_eq!(
        std::fs::read(out.join("system.toml")).unwrap(),
        std::fs::read(&manifest).unwrap()
    );
    assert_eq!(
        std::fs::read(out.join("board.toml")).unwrap(),
        std::fs::read(&board).unwrap()
    );

    let inventory: Value = serde_json::from_slice(&std::fs::read(&one.inventory).unwrap()).unwrap();
    let version = one.version.as_str();
    assert_eq!(version.len(), 12);
    assert_eq!(inventory["version"], version);
    let names: Vec<_> = inventory["partitions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, partition::ALL);
    assert!(inventory["kernel"]["package"]
        .as_str()
        .unwrap()
        .starts_with("linux-image-"));
    assert!(!inventory["initramfs"]["modules"]
        .as_array()
        .unwrap()
        .is_empty());

    let disk = std::fs::read(&one.disk_image).unwrap();

    // The ESP: bootloader, loader config and this version's entry.
    let esp = partition_bytes(&disk, partition(&inventory, partition::ESP));
    let fs = fatfs::FileSystem::new(Cursor::new(esp), fatfs::FsOptions::new()).unwrap();
    assert_eq!(fs.fat_type(), fatfs::FatType::Fat32);
    let read = |path: &str| {
        let mut bytes = Vec::new();
        fs.root_dir()
            .open_file(path)
            .unwrap_or_else(|e| panic!("{path}: {e}"))
            .read_to_end(&mut bytes)
            .unwrap();
        bytes
    };
    assert!(read(esp::BOOTLOADER).starts_with(b"MZ"));
    let entry = String::from_utf8(read(&esp::counted_entry(version, 3))).unwrap();
    assert!(
        entry.contains(&format!("linux      /{}\n", esp::kernel(version))),
        "{entry}"
    );
    assert!(
        entry.contains(&format!(
            "options    {} console=ttyS0",
            cmdline::entry_options('a', version)
        )),
        "{entry}"
    );
    assert!(read(&esp::initrd(version)).starts_with(&[0x1f, 0x8b]));

    // Bank A: a squashfs whose tree has each bundle kind in place.
    let bank = partition_bytes(&disk, partition(&inventory, partition::BANK_A));
    assert_eq!(&bank[..4], b"hsqs");
    let bank_files: Vec<&str> = inventory["banks"][0]["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["path"].as_str().unwrap())
        .collect();
    let in_bank = |relative: &str| format!("/{relative}");
    for expected in [
        in_bank(bank::MANIFEST),
        in_bank(bank::VERSION),
        in_bank(bank::INVENTORY),
        in_bank(bank::KEYS_DIR),
        "/apps/server/bin/server".to_string(),
        "/apps/server/etc/server/server.ini".to_string(),
        "/apps/server/var/lib/server".to_string(),
        "/apps/truth/bin/true".to_string(),
        "/jobs/tick/bin/tick.sh".to_string(),
    ] {
        assert!(
            bank_files.contains(&expected.as_str()),
            "{expected} missing from {bank_files:?}"
        );
    }
    assert!(
        bank_files
            .iter()
            .any(|f| f.starts_with("/apps/truth/") && f.ends_with("/libc.so.6")),
        "libc not collected: {bank_files:?}"
    );
    // The TLS remote's CA, under the remote's index, listed like any file.
    let ca = inventory["banks"][0]["files"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["path"] == in_bank(&bank::logging_ca(1)).as_str())
        .unwrap_or_else(|| panic!("no CA file in {bank_files:?}"));
    assert_eq!(ca["sha256"], sha256(&root.0.join("logs-ca.pem")).as_str());
    assert_eq!(ca["mode"], "0644");
    assert!(
        !bank_files.contains(&in_bank(&bank::logging_ca(0)).as_str()),
        "the UDP remote has no CA: {bank_files:?}"
    );
    if have("unsquashfs") {
        let image = root.0.join("bank.squashfs");
        std::fs::write(&image, &bank).unwrap();
        let listing = Command::new("unsquashfs")
            .arg("-l")
            .arg(&image)
            .output()
            .unwrap();
        let listing = String::from_utf8_lossy(&listing.stdout);
        assert!(
            listing.contains("squashfs-root/apps/truth/bin/true"),
            "{listing}"
        );
        for file in [bank::VERSION.to_string(), bank::logging_ca(1)] {
            assert!(
                listing.contains(&format!("squashfs-root/{file}")),
                "{listing}"
            );
        }
    }

    // Bank B is empty; the data partition is ext4 with its label.
    let bank_b = partition_bytes(&disk, partition(&inventory, partition::BANK_B));
    assert!(bank_b.iter().all(|b| *b == 0));
    let data = partition_bytes(&disk, partition(&inventory, partition::DATA));
    assert_eq!(&data[1024 + 0x38..1024 + 0x3a], &[0x53, 0xef], "ext4 magic");
    let label = cairn_layout::data::LABEL.as_bytes();
    assert_eq!(&data[1024 + 0x78..1024 + 0x78 + label.len()], label);
}
