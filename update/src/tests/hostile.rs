//! Manifests that carry a valid signature and are still refused: the
//! content rules hold even against a signer's mistake or a stolen key
//! trying to confuse the parser.

use serde_json::{json, Value};

use super::fixture::*;
use crate::{check_policy, ManifestError, PayloadName, PolicyError, ReadError, Running};

fn refused(edit: impl FnOnce(&mut Value)) -> ReadError {
    let bytes = with_manifest(&bundle(), edit);
    read_bytes(&bytes, &keyring(&[&key(1)])).unwrap_err()
}

fn manifest_error(edit: impl FnOnce(&mut Value)) -> ManifestError {
    match refused(edit) {
        ReadError::Manifest(e) => e,
        other => panic!("expected a manifest error, got: {other}"),
    }
}

fn payload_mut(json: &mut Value, index: usize) -> &mut Value {
    &mut json["payloads"][index]
}

#[test]
fn the_unchanged_manifest_passes_through_the_same_path() {
    let bytes = with_manifest(&bundle(), |_| {});
    assert!(read_bytes(&bytes, &keyring(&[&key(1)])).is_ok());
}

#[test]
fn unknown_fields_are_refused() {
    let error = refused(|m| m["channel"] = json!("beta"));
    assert!(matches!(error, ReadError::ManifestJson { .. }), "{error}");
    assert!(
        error.to_string().contains("unknown field `channel`"),
        "{error}"
    );
    let error = refused(|m| payload_mut(m, 1)["mode"] = json!(420));
    assert!(
        error.to_string().contains("unknown field `mode`"),
        "{error}"
    );
}

#[test]
fn duplicate_keys_are_refused() {
    let base = bundle();
    let text = String::from_utf8(serde_json::to_vec(&manifest_json(&base)).unwrap()).unwrap();
    let doubled = text.replacen("\"build\":42,", "\"build\":42,\"build\":43,", 1);
    assert_ne!(doubled, text);
    let bytes = assemble(doubled.as_bytes(), &[&key(1)], &payload_area(&base));
    let error = read_bytes(&bytes, &keyring(&[&key(1)])).unwrap_err();
    assert!(
        error.to_string().contains("duplicate field `build`"),
        "{error}"
    );
}

#[test]
fn a_non_canonical_encoding_is_refused() {
    let base = bundle();
    let json = manifest_json(&base);
    let spaced = serde_json::to_vec_pretty(&json).unwrap();
    let bytes = assemble(&spaced, &[&key(1)], &payload_area(&base));
    let error = read_bytes(&bytes, &keyring(&[&key(1)])).unwrap_err();
    assert!(
        matches!(error, ReadError::ManifestNotCanonical { offset: 25 }),
        "{error}"
    );
    // An absent field spelled as null is another encoding of the same content.
    let error = refused(|m| m["verity_root_hash"] = Value::Null);
    assert!(
        matches!(error, ReadError::ManifestNotCanonical { .. }),
        "{error}"
    );
    // So is a string with a needless escape.
    let text = String::from_utf8(serde_json::to_vec(&json).unwrap()).unwrap();
    let escaped = text.replacen("qemu", "\\u0071emu", 1);
    let bytes = assemble(escaped.as_bytes(), &[&key(1)], &payload_area(&base));
    let error = read_bytes(&bytes, &keyring(&[&key(1)])).unwrap_err();
    assert!(
        matches!(error, ReadError::ManifestNotCanonical { .. }),
        "{error}"
    );
}

#[test]
fn wrong_types_and_numbers_are_refused() {
    for edit in [
        (|m: &mut Value| m["build"] = json!("42")) as fn(&mut Value),
        |m| m["build"] = json!(-1),
        |m| m["build"] = json!(42.0),
        |m| payload_mut(m, 0)["size"] = json!(1e3),
        |m| m["payloads"] = json!({}),
    ] {
        let error = refused(edit);
        assert!(matches!(error, ReadError::ManifestJson { .. }), "{error}");
    }
}

#[test]
fn payload_names_come_from_the_fixed_set_each_once() {
    assert_eq!(
        manifest_error(|m| payload_mut(m, 2)["name"] = json!("rootfs")),
        ManifestError::UnknownPayload {
            index: 2,
            found: "rootfs".into()
        }
    );
    assert_eq!(
        manifest_error(|m| payload_mut(m, 2)["name"] = json!("linux")),
        ManifestError::DuplicatePayload {
            index: 2,
            name: PayloadName::Linux,
            first: 1
        }
    );
    assert_eq!(
        manifest_error(|m| {
            m["payloads"].as_array_mut().unwrap().pop();
        }),
        ManifestError::MissingPayload {
            name: PayloadName::Initrd
        }
    );
}

#[test]
fn offsets_must_follow_the_one_layout() {
    assert_eq!(
        manifest_error(|m| payload_mut(m, 1)["offset"] = json!(8192)),
        ManifestError::Overlap {
            name: PayloadName::Linux,
            offset: 8192,
            previous: PayloadName::Bank,
            previous_end: 10_000
        }
    );
    assert_eq!(
        manifest_error(|m| payload_mut(m, 1)["offset"] = json!(16_384)),
        ManifestError::Gap {
            name: PayloadName::Linux,
            offset: 16_384,
            expected: 12_288
        }
    );
    assert_eq!(
        manifest_error(|m| payload_mut(m, 1)["offset"] = json!(12_289)),
        ManifestError::Misaligned {
            name: PayloadName::Linux,
            offset: 12_289
        }
    );
    let far = u64::MAX - u64::MAX % 4096;
    assert_eq!(
        manifest_error(|m| payload_mut(m, 2)["offset"] = json!(far)),
        ManifestError::Gap {
            name: PayloadName::Initrd,
            offset: far,
            expected: 16_384
        }
    );
    assert_eq!(
        manifest_error(|m| payload_mut(m, 0)["size"] = json!(u64::MAX)),
        ManifestError::PayloadTooLarge {
            name: PayloadName::Bank,
            size: u64::MAX
        }
    );
    assert_eq!(
        manifest_error(|m| payload_mut(m, 2)["size"] = json!(0)),
        ManifestError::EmptyPayload {
            name: PayloadName::Initrd
        }
    );
}

#[test]
fn a_size_beyond_the_file_is_a_truncation_of_that_payload() {
    let bytes = with_manifest(&bundle(), |m| payload_mut(m, 2)["size"] = json!(5000));
    let error = read_bytes(&bytes, &keyring(&[&key(1)])).unwrap_err();
    assert!(
        matches!(
            error,
            ReadError::Truncated {
                region: crate::Region::Payload(PayloadName::Initrd),
                ..
            }
        ),
        "{error}"
    );
}

#[test]
fn hashes_and_identity_fields_are_checked() {
    assert!(matches!(
        manifest_error(|m| {
            let upper = payload_mut(m, 0)["sha256"].as_str().unwrap().to_uppercase();
            payload_mut(m, 0)["sha256"] = json!(upper);
        }),
        ManifestError::Sha256 {
            name: PayloadName::Bank,
            ..
        }
    ));
    assert!(matches!(
        manifest_error(|m| payload_mut(m, 1)["sha256"] = json!("00")),
        ManifestError::Sha256 {
            name: PayloadName::Linux,
            ..
        }
    ));
    assert!(matches!(
        manifest_error(|m| m["verity_root_hash"] = json!("xyz")),
        ManifestError::VerityRootHash { .. }
    ));
    assert_eq!(
        manifest_error(|m| m["product"] = json!("other")),
        ManifestError::Product {
            found: "other".into()
        }
    );
    assert_eq!(
        manifest_error(|m| m["format"] = json!(2)),
        ManifestError::Format { found: 2 }
    );
    assert_eq!(
        manifest_error(|m| m["build"] = json!(0)),
        ManifestError::Build { found: 0 }
    );
    assert!(matches!(
        manifest_error(|m| m["version"] = json!("1.0+evil")),
        ManifestError::Version { .. }
    ));
    assert!(matches!(
        manifest_error(|m| m["board"] = json!("../x")),
        ManifestError::Board { .. }
    ));
    assert!(matches!(
        manifest_error(|m| m["kernel_options"] = json!("quiet\nlinux /evil.efi")),
        ManifestError::KernelOptionsByte { at: 5, .. }
    ));
    assert!(matches!(
        manifest_error(
            |m| m["kernel_options"] = json!(format!("{}=a", cairn_layout::cmdline::BANK))
        ),
        ManifestError::KernelOptionsReserved { .. }
    ));
}

#[test]
fn another_board_and_older_builds_pass_the_signature_and_fail_the_policy() {
    let trusted = keyring(&[&key(1)]);
    let running = Running {
        board: "qemu-x86_64",
        build: 50,
    };
    let other_board = with_manifest(&bundle(), |m| m["board"] = json!("rpi4"));
    let verified = read_bytes(&other_board, &trusted).unwrap();
    assert!(matches!(
        check_policy(verified.manifest(), &running, true),
        Err(PolicyError::Board { .. })
    ));
    let verified = read_bytes(&bundle(), &trusted).unwrap();
    assert_eq!(
        check_policy(verified.manifest(), &running, false),
        Err(PolicyError::Downgrade {
            bundle: 42,
            running: 50
        })
    );
    assert_eq!(check_policy(verified.manifest(), &running, true), Ok(()));
}
