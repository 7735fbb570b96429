//! Writing and reading back: payloads come out byte for byte, the same
//! inputs make the same bytes, and any reader works.

use std::io::{self, Cursor, Read, Seek, SeekFrom, Write};

use super::fixture::*;
use crate::{
    check_policy, Bundle, BundleWriter, PayloadName, PayloadStream, ReadError, Running, WriteError,
    MAX_SIGNATURES, PAYLOAD_ALIGN,
};

#[test]
fn payloads_come_out_as_they_went_in() {
    let bytes = bundle();
    let (verified, copied) = read_all(&bytes[..], &keyring(&[&key(1)])).unwrap();
    let names: Vec<PayloadName> = copied.iter().map(|(n, _)| *n).collect();
    assert_eq!(names, PayloadName::ALL);
    for (name, data) in &copied {
        assert_eq!(data, &payload(*name), "{name}");
    }
    let manifest = verified.manifest();
    assert_eq!(manifest.board, "qemu-x86_64");
    assert_eq!(manifest.version, "1.4.0");
    assert_eq!(manifest.build, 42);
    assert_eq!(manifest.kernel_options, "console=ttyS0 quiet");
    assert_eq!(verified.signed_by(), [key(1).key_id()]);
    assert_eq!(verified.bundle_len(), bytes.len() as u64);
    assert_eq!(verified.check_len(bytes.len() as u64).ok(), Some(()));
    assert_eq!(verified.payload_area_start() % PAYLOAD_ALIGN, 0);
    for p in &manifest.payloads {
        assert_eq!(
            verified.bundle_range(p).start % PAYLOAD_ALIGN,
            0,
            "{}",
            p.name
        );
    }
    let running = Running {
        board: "qemu-x86_64",
        build: 41,
    };
    assert_eq!(check_policy(manifest, &running, false), Ok(()));
}

#[test]
fn the_verity_root_hash_travels_when_given() {
    let mut with_hash = info();
    with_hash.verity_root_hash = Some([0x5a; 32]);
    let bytes = write_bundle(with_hash, &[&key(1)]);
    let verified = read_bytes(&bytes, &keyring(&[&key(1)])).unwrap();
    assert_eq!(verified.manifest().verity_root_hash, Some([0x5a; 32]));
    let r = regions(&bytes);
    let text = std::str::from_utf8(&bytes[r.manifest]).unwrap();
    assert!(
        text.contains(&format!(r#""verity_root_hash":"{}""#, "5a".repeat(32))),
        "{text}"
    );
    // Absent, the field is left out rather than written as null.
    let plain = bundle();
    let r = regions(&plain);
    let text = std::str::from_utf8(&plain[r.manifest]).unwrap();
    assert!(!text.contains("verity_root_hash"), "{text}");
}

#[test]
fn the_manifest_is_canonical_json_with_sorted_keys() {
    let bytes = bundle();
    let r = regions(&bytes);
    let text = std::str::from_utf8(&bytes[r.manifest]).unwrap();
    assert!(
        text.starts_with(r#"{"board":"qemu-x86_64","build":42,"format":1,"kernel_options":"#),
        "{text}"
    );
    assert!(
        text.contains(r#"{"name":"bank","offset":0,"sha256":""#),
        "{text}"
    );
    // Re-encoding through a sorted map changes nothing: sorted keys, no
    // whitespace outside strings.
    let value: serde_json::Value = serde_json::from_str(text).unwrap();
    assert_eq!(serde_json::to_string(&value).unwrap(), text);
}

#[test]
fn the_same_inputs_make_the_same_bytes() {
    let a = write_bundle(info(), &[&key(1), &key(2)]);
    let b = write_bundle(info(), &[&key(1), &key(2)]);
    assert_eq!(a, b);
    // Key order and payload order do not matter either.
    let c = write_bundle(info(), &[&key(2), &key(1)]);
    assert_eq!(a, c);
    let mut reversed = BundleWriter::new(info());
    for name in PayloadName::ALL.into_iter().rev() {
        reversed = reversed.payload(name, Cursor::new(payload(name)));
    }
    let mut d = Vec::new();
    reversed
        .signed_by(&key(2))
        .signed_by(&key(1))
        .write_to(&mut d)
        .unwrap();
    assert_eq!(a, d);
    // And a different input makes different bytes.
    let mut other = info();
    other.build = 43;
    assert_ne!(a, write_bundle(other, &[&key(1), &key(2)]));
}

#[test]
fn written_bundle_reports_what_it_wrote() {
    let mut out = Vec::new();
    let mut writer = BundleWriter::new(info());
    for name in PayloadName::ALL {
        writer = writer.payload(name, Cursor::new(payload(name)));
    }
    let written = writer.signed_by(&key(1)).write_to(&mut out).unwrap();
    assert_eq!(written.len, out.len() as u64);
    assert_eq!(written.signed_by, [key(1).key_id()]);
    assert_eq!(written.manifest.payloads[0].size, 10_000);
    assert_eq!(written.manifest.payloads[1].offset, 12_288);
}

/// Hands out 1 to 7 bytes per read, with an `Interrupted` now and then,
/// like a slow network body; implements only `Read`.
struct Trickle<'a> {
    data: &'a [u8],
    calls: usize,
}

impl Read for Trickle<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.calls += 1;
        if self.calls.is_multiple_of(5) {
            return Err(io::Error::new(io::ErrorKind::Interrupted, "signal"));
        }
        let n = (self.calls % 7 + 1).min(buf.len()).min(self.data.len());
        buf[..n].copy_from_slice(&self.data[..n]);
        self.data = &self.data[n..];
        Ok(n)
    }
}

/// Records the length of every write.
#[derive(Default)]
struct Recorder {
    data: Vec<u8>,
    writes: Vec<usize>,
}

impl Write for Recorder {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.writes.push(buf.len());
        self.data.extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[test]
fn streams_from_a_trickling_unseekable_reader_in_whole_pages() {
    let bytes = bundle();
    let mut body = Trickle {
        data: &bytes,
        calls: 0,
    };
    let trusted = keyring(&[&key(1)]);
    let verified = Bundle::read_header(&mut body, &trusted).unwrap();
    let mut stream = PayloadStream::new(&verified, &mut body).with_chunk_size(4096);
    let mut bank = Recorder::default();
    assert_eq!(stream.copy_next(&mut bank).unwrap().name, PayloadName::Bank);
    assert_eq!(bank.data, payload(PayloadName::Bank));
    // However small the reads, the target sees page-sized writes but the last.
    assert_eq!(bank.writes, [4096, 4096, 10_000 - 8192]);
    let mut rest = Vec::new();
    stream.copy_next(&mut rest).unwrap();
    stream.copy_next(&mut rest).unwrap();
    assert!(matches!(
        stream.copy_next(&mut rest),
        Err(ReadError::NoPayloadLeft)
    ));
    stream.finish().unwrap();
}

#[test]
fn chunk_sizes_round_up_to_pages() {
    let bytes = bundle();
    let trusted = keyring(&[&key(1)]);
    let verified = Bundle::read_header(&mut &bytes[..], &trusted).unwrap();
    let mut reader = &bytes[verified_header_end(&bytes)..];
    let mut stream = PayloadStream::new(&verified, &mut reader).with_chunk_size(5000);
    let mut bank = Recorder::default();
    stream.copy_next(&mut bank).unwrap();
    assert_eq!(bank.writes, [8192, 10_000 - 8192]);
}

fn verified_header_end(bytes: &[u8]) -> usize {
    regions(bytes).signatures.end
}

#[test]
fn verify_checks_every_byte_without_writing() {
    let bytes = bundle();
    let trusted = keyring(&[&key(1)]);
    assert!(Bundle::verify(&bytes[..], &trusted).is_ok());
    let mut flipped = bytes.clone();
    let last = flipped.len() - 1;
    flipped[last] ^= 1;
    assert!(matches!(
        Bundle::verify(&flipped[..], &trusted),
        Err(ReadError::HashMismatch {
            name: PayloadName::Initrd,
            ..
        })
    ));
}

#[test]
fn finishing_early_names_the_payload_left() {
    let bytes = bundle();
    let trusted = keyring(&[&key(1)]);
    let mut reader = &bytes[..];
    let verified = Bundle::read_header(&mut reader, &trusted).unwrap();
    let mut stream = PayloadStream::new(&verified, &mut reader);
    stream.copy_next(&mut io::sink()).unwrap();
    assert!(matches!(
        stream.finish(),
        Err(ReadError::PayloadNotCopied {
            name: PayloadName::Linux
        })
    ));
}

/// Fails every write after `budget` bytes, like a full or failing device.
struct FailingTarget {
    budget: usize,
}

impl Write for FailingTarget {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if buf.len() > self.budget {
            return Err(io::Error::other("no space left"));
        }
        self.budget -= buf.len();
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[test]
fn a_failing_target_is_named_and_ends_the_stream() {
    let bytes = bundle();
    let trusted = keyring(&[&key(1)]);
    let mut reader = &bytes[..];
    let verified = Bundle::read_header(&mut reader, &trusted).unwrap();
    let mut stream = PayloadStream::new(&verified, &mut reader).with_chunk_size(4096);
    let error = stream
        .copy_next(&mut FailingTarget { budget: 4096 })
        .unwrap_err();
    assert!(
        matches!(
            error,
            ReadError::Write {
                name: PayloadName::Bank,
                written: 4096,
                start: 4096,
                end: 14_096,
                ..
            }
        ),
        "{error}"
    );
    assert!(error.to_string().contains("payload bank"), "{error}");
    assert!(stream.next_payload().is_none());
    assert!(matches!(
        stream.copy_next(&mut io::sink()),
        Err(ReadError::StreamFailed)
    ));
    assert!(matches!(stream.finish(), Err(ReadError::StreamFailed)));
}

#[test]
fn the_writer_refuses_incomplete_or_inconsistent_inputs() {
    let sources = |names: &[PayloadName]| {
        let mut writer = BundleWriter::new(info());
        for &name in names {
            writer = writer.payload(name, Cursor::new(payload(name)));
        }
        writer
    };
    let all = PayloadName::ALL;
    let k1 = key(1);
    let result = sources(&all[..2]).signed_by(&k1).write_to(io::sink());
    assert!(matches!(
        result,
        Err(WriteError::MissingPayload {
            name: PayloadName::Initrd
        })
    ));
    let twice = [all[0], all[1], all[2], all[1]];
    let result = sources(&twice).signed_by(&k1).write_to(io::sink());
    assert!(matches!(
        result,
        Err(WriteError::DuplicatePayload {
            name: PayloadName::Linux
        })
    ));
    assert!(matches!(
        sources(&all).write_to(io::sink()),
        Err(WriteError::NoSigningKey)
    ));
    assert!(matches!(
        sources(&all)
            .signed_by(&k1)
            .signed_by(&k1)
            .write_to(io::sink()),
        Err(WriteError::DuplicateSigningKey { .. })
    ));
    let many: Vec<_> = (0..=MAX_SIGNATURES as u8).map(key).collect();
    let mut writer = sources(&all);
    for k in &many {
        writer = writer.signed_by(k);
    }
    assert!(matches!(
        writer.write_to(io::sink()),
        Err(WriteError::TooManySigningKeys { count: 9 })
    ));
    let mut bad = info();
    bad.board = "Not A Board".into();
    let mut writer = BundleWriter::new(bad);
    for name in all {
        writer = writer.payload(name, Cursor::new(payload(name)));
    }
    assert!(matches!(
        writer.signed_by(&k1).write_to(io::sink()),
        Err(WriteError::Manifest(crate::ManifestError::Board { .. }))
    ));
    let mut writer = sources(&all[1..]).payload(PayloadName::Bank, Cursor::new(Vec::new()));
    writer = writer.signed_by(&k1);
    assert!(matches!(
        writer.write_to(io::sink()),
        Err(WriteError::Manifest(crate::ManifestError::EmptyPayload {
            name: PayloadName::Bank
        }))
    ));
}

/// Gives other bytes on every pass, like a file rewritten while the bundle
/// is made.
struct Shifting {
    pass: u8,
    inner: Cursor<Vec<u8>>,
}

impl Read for Shifting {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        for b in &mut buf[..n] {
            *b = b.wrapping_add(self.pass);
        }
        Ok(n)
    }
}

impl Seek for Shifting {
    fn seek(&mut self, to: SeekFrom) -> io::Result<u64> {
        if to == SeekFrom::Start(0) {
            self.pass += 1;
        }
        self.inner.seek(to)
    }
}

#[test]
fn a_source_that_changes_between_passes_is_caught() {
    let shifting = Shifting {
        pass: 0,
        inner: Cursor::new(payload(PayloadName::Linux)),
    };
    let result = BundleWriter::new(info())
        .payload(PayloadName::Bank, Cursor::new(payload(PayloadName::Bank)))
        .payload(PayloadName::Linux, shifting)
        .payload(
            PayloadName::Initrd,
            Cursor::new(payload(PayloadName::Initrd)),
        )
        .signed_by(&key(1))
        .write_to(io::sink());
    assert!(matches!(
        result,
        Err(WriteError::SourceChanged {
            name: PayloadName::Linux
        })
    ));
}
