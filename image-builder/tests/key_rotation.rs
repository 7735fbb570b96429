//! `cairn keys rotate`: during a rotation builds trust and sign with both
//! keys, so devices on the old key accept the bundle and learn the new one;
//! after `--finish` only the new key signs, which a device that learnt it
//! accepts and one that did not refuses.

use std::io::Cursor;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Output};

use cairn_image_builder::keys::{ProjectKeys, Rotation};
use cairn_update::{Bundle, BundleInfo, BundleWriter, Keyring, PayloadName, PublicKey};

fn cairn(args: &[&str], cwd: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_cairn"))
        .args(args)
        .current_dir(cwd)
        .output()
        .unwrap()
}

/// A bundle signed the way a build signs it now.
fn build_bundle(keys: &ProjectKeys, build: u64) -> Vec<u8> {
    let signing = keys.signing_keys().unwrap();
    let mut writer = BundleWriter::new(BundleInfo {
        board: "qemu-x86_64".into(),
        version: format!("v{build}"),
        build,
        kernel_options: "console=ttyS0".into(),
        verity_root_hash: None,
    })
    .payload(PayloadName::Bank, Cursor::new(vec![1u8; 5000]))
    .payload(PayloadName::Linux, Cursor::new(vec![2u8; 3000]))
    .payload(PayloadName::Initrd, Cursor::new(vec![3u8; 100]));
    for key in &signing {
        writer = writer.signed_by(key);
    }
    let mut bytes = Vec::new();
    writer.write_to(&mut bytes).unwrap();
    bytes
}

/// What an image built now trusts.
fn image_trust(keys: &ProjectKeys) -> Keyring {
    let mut ring = Keyring::new();
    for key in keys.trusted_keys().unwrap() {
        ring.insert(key);
    }
    ring
}

fn accepts(device: &Keyring, bundle: &[u8]) -> Result<(), String> {
    Bundle::verify(Cursor::new(bundle), device)
        .map(|_| ())
        .map_err(|e| e.to_string())
}

#[test]
fn a_rotation_moves_every_device_to_the_new_key_without_a_gap() {
    let dir = tempfile::tempdir().unwrap();
    assert!(cairn(&["keys", "init"], dir.path()).status.success());
    let keys = ProjectKeys::at(dir.path().join(".cairn"));
    let old = keys.public_key().unwrap();
    let on_old_build = image_trust(&keys);
    assert_eq!(on_old_build.len(), 1);

    // Step 1.
    let out = cairn(&["keys", "rotate"], dir.path());
    assert!(out.status.success(), "{out:?}");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("--finish"), "{stdout}");
    assert_eq!(
        std::fs::metadata(keys.next_key())
            .unwrap()
            .permissions()
            .mode()
            & 0o777,
        0o600
    );
    let next = PublicKey::load(&keys.next_pub()).unwrap();
    assert_eq!(
        keys.rotation().unwrap(),
        Rotation::Started {
            current: old.key_id(),
            next: next.key_id()
        }
    );
    let bridging = build_bundle(&keys, 2);
    let on_bridging_build = image_trust(&keys);
    assert_eq!(on_bridging_build.key_ids().len(), 2);
    accepts(&on_old_build, &bridging).unwrap();
    accepts(&on_bridging_build, &bridging).unwrap();
    // `cairn bundle verify` trusts both keys of the project meanwhile.
    std::fs::create_dir(dir.path().join("out")).unwrap();
    std::fs::write(dir.path().join("out/update.cairn"), &bridging).unwrap();
    let out = cairn(&["bundle", "verify", "out/update.cairn"], dir.path());
    assert!(out.status.success(), "{out:?}");

    // A second start is refused while one is under way.
    let out = cairn(&["keys", "rotate"], dir.path());
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("already under way"));

    // Step 2.
    let out = cairn(&["keys", "rotate", "--finish"], dir.path());
    assert!(out.status.success(), "{out:?}");
    assert_eq!(
        keys.rotation().unwrap(),
        Rotation::Settled {
            current: next.key_id()
        }
    );
    assert_eq!(keys.public_key().unwrap(), next);
    assert!(!keys.next_key().exists() && !keys.next_pub().exists());
    let retired_key = keys
        .retired_dir()
        .join(format!("update-{}.key", old.key_id()));
    assert_eq!(
        std::fs::metadata(&retired_key)
            .unwrap()
            .permissions()
            .mode()
            & 0o777,
        0o600
    );
    assert!(keys
        .retired_dir()
        .join(format!("update-{}.pub", old.key_id()))
        .exists());

    let after = build_bundle(&keys, 3);
    assert_eq!(image_trust(&keys).key_ids(), vec![next.key_id()]);
    accepts(&on_bridging_build, &after).unwrap();
    let refused = accepts(&on_old_build, &after).unwrap_err();
    assert!(
        refused.contains("no signature by a trusted key"),
        "{refused}"
    );

    // Finishing again, with nothing under way, says how to start.
    let out = cairn(&["keys", "rotate", "--finish"], dir.path());
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no rotation is under way"));
}

#[test]
fn a_finish_cut_between_its_renames_is_completed_by_the_next() {
    let dir = tempfile::tempdir().unwrap();
    let keys = ProjectKeys::at(dir.path().join(".cairn"));
    keys.init().unwrap();
    let next_id = keys.start_rotation().unwrap();
    // The state a cut after the first rename leaves.
    std::fs::rename(keys.next_key(), keys.update_key()).unwrap();
    let err = keys.rotation().unwrap_err().to_string();
    assert!(
        err.contains("run `cairn keys rotate --finish` again"),
        "{err}"
    );
    assert!(keys.signing_keys().is_err(), "no build signs in between");

    assert_eq!(keys.finish_rotation().unwrap(), next_id);
    assert_eq!(
        keys.rotation().unwrap(),
        Rotation::Settled { current: next_id }
    );
}

#[test]
fn a_public_key_that_does_not_match_its_private_key_stops_the_build() {
    let dir = tempfile::tempdir().unwrap();
    let keys = ProjectKeys::at(dir.path().join(".cairn"));
    keys.init().unwrap();
    let stranger = cairn_update::SigningKey::generate().unwrap();
    std::fs::remove_file(keys.update_pub()).unwrap();
    stranger.public_key().save(&keys.update_pub()).unwrap();
    let err = keys.trusted_keys().unwrap_err().to_string();
    assert!(err.contains("is not the public half of"), "{err}");
    assert!(err.contains(&stranger.key_id().to_string()), "{err}");
}
