//! `cairn bundle verify`: a good bundle is described; one signed by a key
//! the project does not trust, or with one byte changed, exits 2 with the
//! reason.

use std::io::Cursor;
use std::path::Path;
use std::process::{Command, Output};

use cairn_image_builder::keys::ProjectKeys;
use cairn_update::{BundleInfo, BundleWriter, PayloadName, SigningKey};

fn cairn(args: &[&str], cwd: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_cairn"))
        .args(args)
        .current_dir(cwd)
        .output()
        .unwrap()
}

/// A project with keys, and `out/update.cairn` signed by `key` (the
/// project's own when `None`).
fn project(key: Option<&SigningKey>) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let keys = ProjectKeys::at(dir.path().join(".cairn"));
    keys.ensure().unwrap();
    let own = keys.signing_key().unwrap();
    std::fs::create_dir(dir.path().join("out")).unwrap();
    let mut file = std::fs::File::create(dir.path().join("out/update.cairn")).unwrap();
    BundleWriter::new(BundleInfo {
        board: "qemu-x86_64".into(),
        version: "0123456789ab".into(),
        build: 7,
        kernel_options: "console=ttyS0".into(),
        verity_root_hash: None,
    })
    .payload(PayloadName::Bank, Cursor::new(vec![1u8; 10_000]))
    .payload(PayloadName::Linux, Cursor::new(vec![2u8; 5_000]))
    .payload(PayloadName::Initrd, Cursor::new(vec![3u8; 100]))
    .signed_by(key.unwrap_or(&own))
    .write_to(&mut file)
    .unwrap();
    dir
}

#[test]
fn a_good_bundle_is_described() {
    let dir = project(None);
    let keys = ProjectKeys::at(dir.path().join(".cairn"));
    let key_id = keys.public_key().unwrap().key_id().to_string();
    // Found from the current directory's .cairn/, and from the bundle's.
    for (args, cwd) in [
        (
            vec!["bundle", "verify", "out/update.cairn"],
            dir.path().to_path_buf(),
        ),
        (vec!["bundle", "verify", "out"], dir.path().to_path_buf()),
        (
            vec!["bundle", "verify", dir.path().join("out").to_str().unwrap()],
            std::env::temp_dir(),
        ),
    ] {
        let out = cairn(&args, &cwd);
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "{args:?}: {out:?}");
        assert!(stdout.contains("valid"), "{stdout}");
        for expected in [
            "board           qemu-x86_64",
            "version         0123456789ab",
            "build           7",
            "kernel options  console=ttyS0",
            "10000 bytes",
            "5000 bytes",
        ] {
            assert!(stdout.contains(expected), "{expected} in {stdout}");
        }
        assert!(
            stdout.contains(&format!("signed by       {key_id}")),
            "{stdout}"
        );
        let sha = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(vec![1u8; 10_000]));
        assert!(stdout.contains(&sha), "{stdout}");
    }
}

#[test]
fn a_bundle_signed_by_another_key_is_refused() {
    let stranger = SigningKey::generate().unwrap();
    let dir = project(Some(&stranger));
    let out = cairn(&["bundle", "verify", "out/update.cairn"], dir.path());
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("no signature by a trusted key"), "{stderr}");
    assert!(stderr.contains(&stranger.key_id().to_string()), "{stderr}");
    assert!(stderr.contains("update.pub"), "{stderr}");

    // With the stranger's key named, it verifies.
    let public = dir.path().join("stranger.pub");
    stranger.public_key().save(&public).unwrap();
    let out = cairn(
        &[
            "bundle",
            "verify",
            "out/update.cairn",
            "--key",
            "stranger.pub",
        ],
        dir.path(),
    );
    assert!(out.status.success(), "{out:?}");
}

#[test]
fn a_changed_byte_is_found_and_named() {
    let dir = project(None);
    let path = dir.path().join("out/update.cairn");
    let mut bytes = std::fs::read(&path).unwrap();
    let last = bytes.len() - 50;
    bytes[last] ^= 1;
    std::fs::write(&path, bytes).unwrap();
    let out = cairn(&["bundle", "verify", "out/update.cairn"], dir.path());
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("payload initrd"), "{stderr}");
    assert!(stderr.contains("sha256"), "{stderr}");
}

#[test]
fn no_key_anywhere_says_what_to_pass() {
    let dir = project(None);
    std::fs::rename(dir.path().join(".cairn"), dir.path().join("elsewhere")).unwrap();
    let out = cairn(&["bundle", "verify", "out/update.cairn"], dir.path());
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("--key PUB"), "{stderr}");
}
