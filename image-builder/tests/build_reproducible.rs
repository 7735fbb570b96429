//! Builds a small manifest twice, into two directories, and checks that the
//! disk images, update bundles and inventories are byte for byte the same,
//! that the image holds what the layout promises, and that a changed app
//! gets the next build number.
//!
//! Needs apt (the kernel and systemd-boot are fetched into the cache, like
//! any build); it fails and says why when `apt-get` is missing.

use cairn_layout::{bank, cmdline, data, esp, partition, users};
use cairn_update::entries::EntryName;
use cairn_update::{Bundle, Keyring, PayloadName, PublicKey};
use std::io::{Cursor, Read};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use cairn_image_builder::build::{build, BuildOptions, LockMode};
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

    let build_into = |run: &str| {
        let out_dir = root.0.join(run);
        let output = build(&BuildOptions {
            manifest: manifest.clone(),
            out_dir: out_dir.clone(),
            board: Some(board.clone()),
            init_binary: Some(root.0.join("server")),
            // Any static program stands in for the services' binary.
            control_binary: Some(root.0.join("server")),
            keys_dir: None,
            build_number: None,
            cache_dir: None,
            lock_file: None,
            lock_mode: LockMode::Follow,
            progress: false,
        })
        .unwrap_or_else(|e| panic!("build {run}: {e}"));
        assert!(!out_dir.join(".work").exists(), "scratch tree left behind");
        output
    };
    let outputs = [build_into("one"), build_into("two")];
    let (one, two) = (&outputs[0], &outputs[1]);
    let keys = root.0.join(".cairn");
    assert!(one.keys_made, "the first build makes the project's keys");
    assert!(!two.keys_made, "the second uses them");
    assert_eq!(one.keys_dir, keys);
    assert_eq!(one.version, two.version);
    assert_eq!((one.build, two.build), (1, 1), "same content, same number");
    assert_same_bytes(&one.disk_image, &two.disk_image);
    assert_same_bytes(&one.bundle, &two.bundle);
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
    assert_eq!(inventory["build"], 1);
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

    // The first build wrote cairn.lock beside the manifest, in the temporary
    // project, and both builds took exactly what it pins; the inventory
    // says the same.
    let lock_path = root.0.join("cairn.lock");
    assert_eq!((&one.lock_file, &two.lock_file), (&lock_path, &lock_path));
    let lock = std::fs::read_to_string(&lock_path).unwrap();
    assert!(lock.starts_with("# cairn.lock: "), "{lock}");
    assert!(
        !Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../cairn.lock")
            .exists()
            && !Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("cairn.lock")
                .exists(),
        "a lock in the repository"
    );
    for record in ["kernel", "bootloader"] {
        let r = &inventory[record];
        let line = format!(
            "{} {}={} sha256={}\n",
            r["requested"].as_str().unwrap(),
            r["package"].as_str().unwrap(),
            r["version"].as_str().unwrap(),
            r["deb_sha256"].as_str().unwrap()
        );
        assert!(lock.contains(&line), "{line} not in {lock}");
    }
    assert_eq!(inventory["kernel"]["requested"], "linux-image-cloud-amd64");
    assert!(!inventory["initramfs"]["modules"]
        .as_array()
        .unwrap()
        .is_empty());

    let disk = std::fs::read(&one.disk_image).unwrap();

    // The ESP: bootloader, loader config and this version's entry.
    let esp = partition_bytes(&disk, partition(&inventory, partition::ESP));
    let volume = std::cell::RefCell::new(cairn_fat::Volume::open(Cursor::new(esp)).unwrap());
    let read = |path: &str| {
        volume
            .borrow_mut()
            .read_file(path, 64 << 20)
            .unwrap_or_else(|e| panic!("{path}: {e}"))
    };
    assert!(read(esp::BOOTLOADER).starts_with(b"MZ"));
    let name = EntryName::new(1, version, 3).unwrap();
    assert_eq!(one.entry, format!("cairn-0000000001-{version}+3-0.conf"));
    assert_eq!(one.entry, name.file_name());
    let entry = String::from_utf8(read(&format!("{}/{}", esp::ENTRIES_DIR, one.entry))).unwrap();
    assert_eq!(entry.len(), esp::ENTRY_BYTES);
    let kernel_path = esp::kernel('a');
    let initrd_path = esp::initrd('a');
    assert!(
        entry.contains(&format!("linux      /{kernel_path}\n")),
        "{entry}"
    );
    assert!(entry.contains("sort-key   cairn\n"), "{entry}");
    assert!(
        entry.contains(&format!(
            "options    {} console=ttyS0",
            cmdline::entry_options('a', version)
        )),
        "{entry}"
    );
    // The slots, at their board-given sizes; bank b's entry file idle.
    let kernel = read(&kernel_path);
    let initrd = read(&initrd_path);
    assert!(initrd.starts_with(&[0x1f, 0x8b]));
    assert_eq!(kernel.len() as u64, 24 << 20);
    assert_eq!(initrd.len() as u64, 8 << 20);
    assert_eq!(read(&esp::kernel('b')).len() as u64, 24 << 20);
    assert_eq!(
        read(&format!("{}/{}", esp::ENTRIES_DIR, esp::idle_entry('b'))),
        vec![b'\n'; esp::ENTRY_BYTES]
    );
    drop(volume);

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
        in_bank(bank::CONTROL_CA),
        in_bank(bank::CONTROL_BIN),
        in_bank(bank::BUILD),
        in_bank(bank::BOARD),
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
    // The project's update key, by its key id; its CA; the services' binary.
    let update_pub = PublicKey::load(&keys.join("update.pub")).unwrap();
    let bank_file = |relative: &str| {
        inventory["banks"][0]["files"]
            .as_array()
            .unwrap()
            .iter()
            .find(|f| f["path"] == in_bank(relative).as_str())
            .unwrap_or_else(|| panic!("{relative} not in {bank_files:?}"))
            .clone()
    };
    let key_file = bank_file(&format!(
        "{}/{}.pub",
        bank::UPDATE_KEYS_DIR,
        update_pub.key_id()
    ));
    assert_eq!(key_file["mode"], "0644");
    assert_eq!(
        bank_file(bank::CONTROL_CA)["sha256"],
        sha256(&keys.join("ca.crt")).as_str()
    );
    let control = bank_file(bank::CONTROL_BIN);
    assert_eq!(control["sha256"], sha256(&root.0.join("server")).as_str());
    assert_eq!(control["mode"], "0755");
    assert_eq!(bank_file(bank::BUILD)["size"], 2, "\"1\\n\"");
    assert_eq!(
        bank_file(bank::BOARD)["size"],
        one.board.name.len() as u64 + 1
    );
    for file in &bank_files {
        assert!(!file.ends_with(".key"), "a private key in the bank: {file}");
    }

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
        for file in [
            bank::VERSION.to_string(),
            bank::BUILD.to_string(),
            bank::BOARD.to_string(),
            bank::CONTROL_BIN.to_string(),
            bank::logging_ca(1),
        ] {
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

    // The data partition holds the device's identity, the key for the
    // control API's user alone.
    let data_offset = partition(&inventory, partition::DATA)["first_lba"]
        .as_u64()
        .unwrap()
        * 512;
    let on_data = |command: &str| {
        let out = Command::new("debugfs")
            .arg("-R")
            .arg(command)
            .arg(format!("{}?offset={data_offset}", one.disk_image.display()))
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let identity = format!("/{}", data::IDENTITY);
    let key = on_data(&format!("stat {identity}/server.key"));
    assert!(key.contains("Mode:  0400"), "{key}");
    assert!(
        key.contains(&format!("User:   {}", users::CONTROL_UID)),
        "{key}"
    );
    let kept = keys.join("identities").join("repro");
    assert_eq!(
        on_data(&format!("cat {identity}/server.crt")).as_bytes(),
        std::fs::read(kept.join("server.crt")).unwrap()
    );

    // The bundle verifies with the project's key, and carries exactly the
    // bank, kernel and initramfs that the image boots.
    let trusted = Keyring::new().with(update_pub);
    let verified = Bundle::verify(
        std::io::BufReader::new(std::fs::File::open(&one.bundle).unwrap()),
        &trusted,
    )
    .unwrap();
    let manifest_of = verified.manifest();
    assert_eq!(manifest_of.board, one.board.name);
    assert_eq!(
        (manifest_of.version.as_str(), manifest_of.build),
        (version, 1)
    );
    assert_eq!(manifest_of.kernel_options, one.board.kernel.cmdline.trim());
    let bundle_bytes = std::fs::read(&one.bundle).unwrap();
    let payload = |name: PayloadName| {
        let p = manifest_of.payload(name).unwrap();
        let range = verified.bundle_range(p);
        bundle_bytes[range.start as usize..range.end as usize].to_vec()
    };
    let squashfs = payload(PayloadName::Bank);
    assert_eq!(
        squashfs.len() as u64,
        inventory["banks"][0]["squashfs_size"]
    );
    assert!(
        bank[..squashfs.len()] == squashfs[..],
        "bank payload differs"
    );
    // In the slots, padded with zeros.
    let in_slot = |payload: Vec<u8>, slot: &[u8]| {
        slot.starts_with(&payload) && slot[payload.len()..].iter().all(|&b| b == 0)
    };
    assert!(
        in_slot(payload(PayloadName::Linux), &kernel),
        "kernel payload differs"
    );
    assert!(
        in_slot(payload(PayloadName::Initrd), &initrd),
        "initrd payload differs"
    );
    drop(bundle_bytes);
    drop(disk);

    // A changed app is a new content: the next number.
    std::fs::write(root.0.join("conf/server.ini"), "greeting = hello\n").unwrap();
    let three = build_into("three");
    assert_ne!(three.version, one.version);
    assert_eq!(three.build, 2);
    let builds = std::fs::read_to_string(keys.join("builds")).unwrap();
    assert!(
        builds.ends_with(&format!("1 {}\n2 {}\n", one.version, three.version)),
        "{builds}"
    );

    // Provisioned for another device, the built disk holds that device's
    // identity instead.
    let project = cairn_image_builder::keys::ProjectKeys::at(&keys);
    let done =
        cairn_image_builder::provision::provision(&three.disk_image, "edge-07", &project).unwrap();
    assert!(done.replaced && done.made);
    let out = Command::new("debugfs")
        .arg("-R")
        .arg(format!("cat {identity}/server.crt"))
        .arg(format!(
            "{}?offset={data_offset}",
            three.disk_image.display()
        ))
        .output()
        .unwrap();
    assert_eq!(
        out.stdout,
        std::fs::read(keys.join("identities/edge-07/server.crt")).unwrap()
    );
}
