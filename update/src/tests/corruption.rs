//! Damaged bundles: flipped bytes, foreign signatures, truncation, bad
//! lengths, trailing data. Each must be refused, with the right reason.

use super::fixture::*;
use crate::{Bundle, PayloadName, ReadError, Region, HEADER_LEN, MAX_MANIFEST_LEN};

fn flipped(bytes: &[u8], at: usize) -> Vec<u8> {
    let mut out = bytes.to_vec();
    out[at] ^= 0x01;
    out
}

fn set_u32(bytes: &mut [u8], at: usize, value: u32) {
    bytes[at..at + 4].copy_from_slice(&value.to_le_bytes());
}

#[test]
fn a_flipped_byte_in_any_payload_is_a_hash_mismatch_naming_it() {
    let bytes = bundle();
    let trusted = keyring(&[&key(1)]);
    for (name, range) in regions(&bytes).payloads {
        for at in [range.start, (range.start + range.end) / 2, range.end - 1] {
            let error = read_bytes(&flipped(&bytes, at), &trusted).unwrap_err();
            match &error {
                ReadError::HashMismatch {
                    name: n,
                    start,
                    end,
                    expected,
                    actual,
                } => {
                    assert_eq!(*n, name);
                    assert_eq!((*start as usize, *end as usize), (range.start, range.end));
                    assert_ne!(expected, actual);
                }
                other => panic!("{name} at {at}: {other}"),
            }
            assert!(error.to_string().contains(&format!("payload {name}")));
        }
    }
}

#[test]
fn a_flipped_byte_in_the_manifest_breaks_the_signature() {
    let bytes = bundle();
    let trusted = keyring(&[&key(1)]);
    let manifest = regions(&bytes).manifest;
    for at in [manifest.start, manifest.start + 30, manifest.end - 1] {
        let error = read_bytes(&flipped(&bytes, at), &trusted).unwrap_err();
        assert!(
            matches!(error, ReadError::BadSignature { index: 0, .. }),
            "{at}: {error}"
        );
    }
}

#[test]
fn a_flipped_byte_in_the_signature_breaks_it() {
    let bytes = bundle();
    let trusted = keyring(&[&key(1)]);
    let signatures = regions(&bytes).signatures;
    // In the signature itself: the trusted key no longer verifies.
    for at in [
        signatures.start + 32,
        signatures.start + 64,
        signatures.end - 1,
    ] {
        let error = read_bytes(&flipped(&bytes, at), &trusted).unwrap_err();
        assert!(
            matches!(error, ReadError::BadSignature { index: 0, offset, .. } if offset == signatures.start as u64),
            "{at}: {error}"
        );
    }
    // In the public key: the signer is no longer one the device knows.
    let error = read_bytes(&flipped(&bytes, signatures.start), &trusted).unwrap_err();
    assert!(
        matches!(error, ReadError::UntrustedSigners { .. }),
        "{error}"
    );
}

#[test]
fn a_bundle_signed_by_another_key_is_refused_naming_that_key() {
    let bytes = write_bundle(info(), &[&key(9)]);
    let error = read_bytes(&bytes, &keyring(&[&key(1)])).unwrap_err();
    assert!(
        matches!(error, ReadError::UntrustedSigners { .. }),
        "{error}"
    );
    assert!(
        error.to_string().contains(&key(9).key_id().to_string()),
        "{error}"
    );
}

#[test]
fn during_a_rotation_either_trusted_key_suffices() {
    let (old, new) = (key(1), key(2));
    let bytes = write_bundle(info(), &[&old, &new]);
    for trusted in [&[&old][..], &[&new], &[&old, &new]] {
        let verified = read_bytes(&bytes, &keyring(trusted)).unwrap();
        let mut expected: Vec<_> = trusted.iter().map(|k| k.key_id()).collect();
        let mut got = verified.signed_by().to_vec();
        expected.sort();
        got.sort();
        assert_eq!(got, expected);
    }
}

#[test]
fn a_bad_signature_by_a_trusted_key_is_refused_even_beside_a_good_one() {
    let (old, new) = (key(1), key(2));
    let bytes = write_bundle(info(), &[&old, &new]);
    let signatures = regions(&bytes).signatures;
    // Damage the second entry's signature.
    let damaged = flipped(&bytes, signatures.start + 96 + 40);
    // The block is ordered by public key.
    let (first, second) = if old.public_key().to_bytes() < new.public_key().to_bytes() {
        (&old, &new)
    } else {
        (&new, &old)
    };
    let error = read_bytes(&damaged, &keyring(&[&old, &new])).unwrap_err();
    assert!(
        matches!(&error, ReadError::BadSignature { index: 1, key_id, .. } if *key_id == second.key_id()),
        "{error}"
    );
    // A device that trusts only the undamaged key never looks at the other.
    assert!(read_bytes(&damaged, &keyring(&[first])).is_ok());
}

#[test]
fn a_repeated_signer_is_refused() {
    let bytes = bundle();
    let r = regions(&bytes);
    let manifest = &bytes[r.manifest.clone()];
    let entry = &bytes[r.signatures.clone()];
    let mut doubled = Vec::new();
    let mut header = bytes[..HEADER_LEN].to_vec();
    set_u32(&mut header, 16, 192);
    doubled.extend_from_slice(&header);
    doubled.extend_from_slice(manifest);
    doubled.extend_from_slice(entry);
    doubled.extend_from_slice(entry);
    doubled.resize(r.area, 0);
    doubled.extend_from_slice(&payload_area(&bytes));
    let error = read_bytes(&doubled, &keyring(&[&key(1)])).unwrap_err();
    assert!(
        matches!(error, ReadError::DuplicateSigner { index: 1, .. }),
        "{error}"
    );
}

#[test]
fn header_fields_are_checked_before_anything_is_allocated() {
    let bytes = bundle();
    let trusted = keyring(&[&key(1)]);
    let with = |at: usize, value: u32| {
        let mut b = bytes.clone();
        set_u32(&mut b, at, value);
        read_bytes(&b, &trusted).unwrap_err()
    };
    assert!(matches!(
        read_bytes(&flipped(&bytes, 0), &trusted),
        Err(ReadError::BadMagic { .. })
    ));
    assert!(matches!(
        with(8, 2),
        ReadError::UnsupportedFormat { found: 2 }
    ));
    for len in [0, MAX_MANIFEST_LEN + 1, u32::MAX] {
        assert!(matches!(with(12, len), ReadError::ManifestLength { len: l } if l == len));
    }
    for len in [0, 95, 97, 96 * 9, u32::MAX] {
        assert!(
            matches!(with(16, len), ReadError::SignatureBlockLength { len: l } if l == len),
            "{len}"
        );
    }
    assert!(matches!(
        with(20, 1),
        ReadError::ReservedHeader { value: 1 }
    ));
    // A manifest length past the real manifest: the signature block is then
    // read from the zero padding, and no trusted key signed anything.
    let real = regions(&bytes).manifest.len() as u32;
    assert!(matches!(
        with(12, real + 96),
        ReadError::UntrustedSigners { .. }
    ));
    // Beyond the end of the file: truncated inside the manifest.
    assert!(matches!(
        with(12, MAX_MANIFEST_LEN),
        ReadError::Truncated {
            region: Region::Manifest,
            ..
        }
    ));
    let plain_text = b"#!/bin/sh\necho this is no bundle\n".to_vec();
    assert!(matches!(
        read_bytes(&plain_text, &trusted),
        Err(ReadError::BadMagic { .. })
    ));
}

/// Every boundary between regions, one byte on either side, and points in
/// the middle of each.
fn cut_points(bytes: &[u8]) -> Vec<(usize, Region)> {
    let r = regions(bytes);
    let mut cuts = vec![
        (0, Region::Header),
        (1, Region::Header),
        (8, Region::Header),
        (HEADER_LEN - 1, Region::Header),
    ];
    let mut add = |range: std::ops::Range<usize>, region: Region| {
        cuts.push((range.start, region));
        cuts.push((range.start + 1, region));
        cuts.push(((range.start + range.end) / 2, region));
        cuts.push((range.end - 1, region));
    };
    add(r.manifest.clone(), Region::Manifest);
    add(r.signatures.clone(), Region::SignatureBlock);
    add(
        r.signatures.end..r.area,
        Region::Padding {
            before: PayloadName::Bank,
        },
    );
    let mut previous_end = None;
    for (name, range) in &r.payloads {
        if let Some(end) = previous_end {
            if end < range.start {
                add(end..range.start, Region::Padding { before: *name });
            }
        }
        add(range.clone(), Region::Payload(*name));
        previous_end = Some(range.end);
    }
    cuts
}

#[test]
fn truncation_anywhere_is_refused_naming_the_region() {
    let bytes = bundle();
    let trusted = keyring(&[&key(1)]);
    let cuts = cut_points(&bytes);
    assert!(cuts.len() > 30);
    for (cut, region) in cuts {
        let error = read_bytes(&bytes[..cut], &trusted).unwrap_err();
        match error {
            ReadError::Truncated { region: r, at, .. } => {
                assert_eq!(r, region, "cut at {cut}");
                assert_eq!(at, cut as u64, "cut at {cut}");
            }
            other => panic!("cut at {cut}: {other}"),
        }
    }
    assert!(read_bytes(&bytes, &trusted).is_ok());
}

#[test]
fn a_known_length_refuses_truncation_before_any_payload_is_written() {
    let bytes = bundle();
    let verified = Bundle::read_header(&mut &bytes[..], &keyring(&[&key(1)])).unwrap();
    let short = bytes.len() as u64 - 100;
    let error = verified.check_len(short).unwrap_err();
    assert!(
        matches!(error, ReadError::Length { actual, expected } if actual == short && expected == bytes.len() as u64),
        "{error}"
    );
}

#[test]
fn trailing_data_is_refused() {
    let bytes = bundle();
    let trusted = keyring(&[&key(1)]);
    for extra in [&[0u8][..], &[0xff; 4096][..]] {
        let mut longer = bytes.clone();
        longer.extend_from_slice(extra);
        let error = read_bytes(&longer, &trusted).unwrap_err();
        assert!(
            matches!(error, ReadError::TrailingData { offset } if offset == bytes.len() as u64),
            "{error}"
        );
    }
}

#[test]
fn padding_must_be_zero() {
    let bytes = bundle();
    let trusted = keyring(&[&key(1)]);
    let r = regions(&bytes);
    let after_signatures = r.signatures.end + 5;
    let error = read_bytes(&flipped(&bytes, after_signatures), &trusted).unwrap_err();
    assert!(
        matches!(
            error,
            ReadError::NonZeroPadding { region: Region::Padding { before: PayloadName::Bank }, offset, .. }
                if offset == after_signatures as u64
        ),
        "{error}"
    );
    let after_bank = r.payloads[0].1.end;
    let error = read_bytes(&flipped(&bytes, after_bank), &trusted).unwrap_err();
    assert!(
        matches!(
            error,
            ReadError::NonZeroPadding {
                region: Region::Padding {
                    before: PayloadName::Linux
                },
                ..
            }
        ),
        "{error}"
    );
}

#[test]
fn messages_say_what_and_where() {
    let bytes = bundle();
    let trusted = keyring(&[&key(1)]);
    let cut = regions(&bytes).payloads[1].1.start + 10;
    let message = read_bytes(&bytes[..cut], &trusted).unwrap_err().to_string();
    assert_eq!(
        message,
        format!("bundle ends at byte {cut}, inside the payload linux (bytes 16384..20480)")
    );
}
