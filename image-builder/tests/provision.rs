//! `cairn provision`: a built disk image gets another device's identity in
//! its data partition, read back with debugfs; nothing else on the disk
//! changes.

use std::path::Path;

use rustls::pki_types::pem::PemObject;
use std::process::Command;

use cairn_image_builder::keys::{ProjectKeys, DEVICE_NAME};
use cairn_layout::{data, partition, users};

/// A GPT disk with a small ESP-typed partition and an ext4 data partition
/// holding a first identity, laid out as `cairn build` does. Building a
/// whole image takes the kernel; the data partition is what provisioning
/// touches.
fn disk_with_identity(dir: &Path, keys: &ProjectKeys) -> std::path::PathBuf {
    let data_img = dir.join("data.img");
    let root = dir.join("root");
    for top in data::TOP_DIRS {
        std::fs::create_dir_all(root.join(top)).unwrap();
    }
    let status = Command::new("mkfs.ext4")
        .args(["-F", "-q", "-L", data::LABEL, "-d"])
        .arg(&root)
        .arg(&data_img)
        .arg("8M")
        .status()
        .expect("mkfs.ext4 is not installed: apt-get install e2fsprogs");
    assert!(status.success());
    let disk = dir.join("disk.img");
    let data = std::fs::read(&data_img).unwrap();
    let first_lba = 2048u64;
    let size = (first_lba * 512) as usize + data.len() + (1 << 20);
    std::fs::write(&disk, vec![0u8; size]).unwrap();
    let mut file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(&disk)
        .unwrap();
    let mut gpt = gptman::GPT::new_from(&mut file, 512, [7; 16]).unwrap();
    gpt[1] = gptman::GPTPartitionEntry {
        partition_type_guid: [1; 16],
        unique_partition_guid: [2; 16],
        starting_lba: first_lba,
        ending_lba: first_lba + data.len() as u64 / 512 - 1,
        attribute_bits: 0,
        partition_name: partition::DATA.into(),
    };
    gptman::GPT::write_protective_mbr_into(&mut file, 512).unwrap();
    gpt.write_into(&mut file).unwrap();
    drop(file);
    let mut bytes = std::fs::read(&disk).unwrap();
    let at = (first_lba * 512) as usize;
    bytes[at..at + data.len()].copy_from_slice(&data);
    std::fs::write(&disk, bytes).unwrap();
    // The identity a build would have put there.
    let out = Command::new(env!("CARGO_BIN_EXE_cairn"))
        .arg("provision")
        .arg(&disk)
        .args(["--hostname", "first", "--identity"])
        .arg(keys.dir())
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    disk
}

fn debugfs(disk: &Path, command: &str) -> String {
    let target = format!("{}?offset={}", disk.display(), 2048 * 512);
    let out = Command::new("debugfs")
        .arg("-R")
        .arg(command)
        .arg(target)
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn provision_replaces_the_identity_in_a_disk_image() {
    let dir = tempfile::tempdir().unwrap();
    let keys = ProjectKeys::at(dir.path().join(".cairn"));
    keys.ensure().unwrap();
    let disk = disk_with_identity(dir.path(), &keys);
    let identity = format!("/{}", data::IDENTITY);
    let first = debugfs(&disk, &format!("cat {identity}/server.crt"));
    assert_eq!(
        first.as_bytes(),
        std::fs::read(keys.device_dir("first").join("server.crt")).unwrap()
    );

    // Found from the current directory, the disk named by its directory.
    let out = Command::new(env!("CARGO_BIN_EXE_cairn"))
        .args(["provision", ".", "--hostname", "edge-07"])
        .current_dir(dir.path())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{out:?}");
    assert!(stdout.contains("replacing the one it had"), "{stdout}");

    let cert = debugfs(&disk, &format!("cat {identity}/server.crt"));
    let kept = keys.device_dir("edge-07");
    assert_eq!(
        cert.as_bytes(),
        std::fs::read(kept.join("server.crt")).unwrap()
    );
    assert_ne!(cert, first);
    let key = debugfs(&disk, &format!("cat {identity}/server.key"));
    assert_eq!(
        key.as_bytes(),
        std::fs::read(kept.join("server.key")).unwrap()
    );
    let stat = debugfs(&disk, &format!("stat {identity}/server.key"));
    assert!(stat.contains("Mode:  0400"), "{stat}");
    assert!(
        stat.contains(&format!("User:   {}", users::CONTROL_UID)),
        "{stat}"
    );
    let listing = debugfs(&disk, &format!("ls -p {identity}"));
    assert_eq!(listing.matches("/server.").count(), 2, "{listing}");
    // The certificate names the device and cairn.local.
    let text = String::from_utf8_lossy(cert.as_bytes()).into_owned();
    let der = rustls::pki_types::CertificateDer::from_pem_slice(text.as_bytes()).unwrap();
    let (_, parsed) = x509_parser::parse_x509_certificate(&der).unwrap();
    let san = parsed.subject_alternative_name().unwrap().unwrap();
    let names: Vec<String> = san
        .value
        .general_names
        .iter()
        .map(|n| n.to_string())
        .collect();
    assert_eq!(
        names,
        [
            format!("DNSName({})", "edge-07"),
            format!("DNSName({DEVICE_NAME})")
        ]
    );

    // fsck finds the filesystem clean.
    let bytes = std::fs::read(&disk).unwrap();
    let part = dir.path().join("part.img");
    std::fs::write(&part, &bytes[2048 * 512..2048 * 512 + (8 << 20)]).unwrap();
    let out = Command::new("e2fsck")
        .args(["-f", "-n"])
        .arg(&part)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
}

#[test]
fn provision_refuses_a_run_disk_and_bad_names() {
    let dir = tempfile::tempdir().unwrap();
    let keys = ProjectKeys::at(dir.path().join(".cairn"));
    keys.ensure().unwrap();
    let qcow = dir.path().join("disk.qcow2");
    std::fs::write(&qcow, b"QFI\xfb and more").unwrap();
    let run = |disk: &Path, name: &str| {
        Command::new(env!("CARGO_BIN_EXE_cairn"))
            .arg("provision")
            .arg(disk)
            .args(["--hostname", name])
            .current_dir(dir.path())
            .output()
            .unwrap()
    };
    let out = run(&qcow, "edge");
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("raw image"));
    let disk = disk_with_identity(dir.path(), &keys);
    let out = run(&disk, "Not_A_Host");
    assert!(String::from_utf8_lossy(&out.stderr).contains("not a hostname"));
}
