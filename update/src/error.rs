//! What can be wrong with a bundle, and where.
//!
//! Offsets in [`ReadError`] are bundle bytes counted from the start of the
//! file; offsets in [`ManifestError`] are payload offsets as the manifest
//! states them (counted from the payload area).

use std::fmt;
use std::io;

use crate::format::{MAX_MANIFEST_LEN, MAX_PAYLOAD_SIZE, MAX_SIGNATURES, SIGNATURE_ENTRY_LEN};
use crate::keys::KeyId;
use crate::manifest::PayloadName;

/// A part of the bundle, for messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Region {
    Header,
    Manifest,
    SignatureBlock,
    /// Zero bytes before a payload (or before the end, for the last).
    Padding {
        before: PayloadName,
    },
    Payload(PayloadName),
    /// Past the last payload, where the bundle must end.
    End,
}

impl fmt::Display for Region {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Region::Header => f.write_str("header"),
            Region::Manifest => f.write_str("manifest"),
            Region::SignatureBlock => f.write_str("signature block"),
            Region::Padding { before } => write!(f, "padding before payload {before}"),
            Region::Payload(name) => write!(f, "payload {name}"),
            Region::End => f.write_str("end of the bundle"),
        }
    }
}

/// The signers of a bundle, for messages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyIds(pub Vec<KeyId>);

impl fmt::Display for KeyIds {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, id) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            write!(f, "{id}")?;
        }
        Ok(())
    }
}

/// Why a bundle was refused while reading it.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error("reading the bundle at byte {offset} ({region}): {source}")]
    Io {
        offset: u64,
        region: Region,
        #[source]
        source: io::Error,
    },
    #[error("bundle ends at byte {at}, inside the {region} (bytes {start}..{end})")]
    Truncated {
        region: Region,
        start: u64,
        end: u64,
        at: u64,
    },
    #[error("not an update bundle: bytes 0..8 are {found}, expected 89434149524e0d0a")]
    BadMagic { found: String },
    #[error("bundle format {found} (bytes 8..12) is not supported; this reader knows format 1")]
    UnsupportedFormat { found: u32 },
    #[error("manifest length {len} (bytes 12..16) is outside 1..={MAX_MANIFEST_LEN}")]
    ManifestLength { len: u32 },
    #[error(
        "signature block length {len} (bytes 16..20) is not {SIGNATURE_ENTRY_LEN} times a count \
         from 1 to {MAX_SIGNATURES}"
    )]
    SignatureBlockLength { len: u32 },
    #[error("reserved header field (bytes 20..24) is {value:#x}, must be 0")]
    ReservedHeader { value: u32 },
    #[error("signature {index} (byte {offset}) repeats the key of an earlier one, {key_id}")]
    DuplicateSigner {
        index: usize,
        offset: u64,
        key_id: KeyId,
    },
    #[error("no signature by a trusted key: the manifest is signed only by {signers}")]
    UntrustedSigners { signers: KeyIds },
    #[error(
        "signature {index} (byte {offset}) by trusted key {key_id} does not verify: the manifest \
         or the signature was altered"
    )]
    BadSignature {
        index: usize,
        offset: u64,
        key_id: KeyId,
    },
    #[error("manifest (bytes {start}..{end}) does not fit the schema: {source}")]
    ManifestJson {
        start: u64,
        end: u64,
        #[source]
        source: serde_json::Error,
    },
    #[error(
        "manifest is not in canonical form (sorted keys, no spaces, no defaults written out): \
         first difference at byte {offset}"
    )]
    ManifestNotCanonical { offset: u64 },
    #[error("manifest: {0}")]
    Manifest(#[from] ManifestError),
    #[error("{region} (bytes {start}..{end}) holds a non-zero byte at byte {offset}")]
    NonZeroPadding {
        region: Region,
        start: u64,
        end: u64,
        offset: u64,
    },
    #[error(
        "payload {name} (bytes {start}..{end}) has sha256 {actual}, the manifest says {expected}"
    )]
    HashMismatch {
        name: PayloadName,
        start: u64,
        end: u64,
        expected: String,
        actual: String,
    },
    #[error(
        "writing payload {name} (bundle bytes {start}..{end}) failed after {written} bytes: {source}"
    )]
    Write {
        name: PayloadName,
        start: u64,
        end: u64,
        written: u64,
        #[source]
        source: io::Error,
    },
    #[error("unexpected data after the last payload, at byte {offset}")]
    TrailingData { offset: u64 },
    #[error("bundle is {actual} bytes long; its manifest describes {expected} bytes")]
    Length { actual: u64, expected: u64 },
    #[error("every payload has been copied already")]
    NoPayloadLeft,
    #[error("an earlier error ended this payload stream")]
    StreamFailed,
    #[error("payload {name} was not copied before finishing")]
    PayloadNotCopied { name: PayloadName },
}

/// Why a manifest's content is refused (by a reader after the signature
/// check, or by the writer before it signs).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ManifestError {
    #[error("format is {found}; this reader knows format 1")]
    Format { found: u64 },
    #[error("product is {found:?}, expected \"cairn\"")]
    Product { found: String },
    #[error(
        "board {found:?} is not a board name (1 to 64 of a-z 0-9 . _ -, starting with a letter \
         or digit)"
    )]
    Board { found: String },
    #[error(
        "version {found:?} is not a version (1 to 64 of a-z 0-9 . _ -, starting with a letter or \
         digit)"
    )]
    Version { found: String },
    #[error("build {found} is outside 1..=9999999999 (ten digits in the entry name)")]
    Build { found: u64 },
    #[error("kernel_options is {len} bytes long, more than 4096")]
    KernelOptionsLength { len: usize },
    #[error(
        "kernel_options has byte {byte:#04x} at position {at}; only printable ASCII goes on the \
         entry's options line"
    )]
    KernelOptionsByte { at: usize, byte: u8 },
    #[error(
        "kernel_options sets {option:?}, which the device sets itself (root=, {}=, {}=)",
        cairn_layout::cmdline::BANK,
        cairn_layout::cmdline::VERSION
    )]
    KernelOptionsReserved { option: String },
    #[error("verity_root_hash {found:?} is not 64 lowercase hex digits")]
    VerityRootHash { found: String },
    #[error("payload {index} has unknown name {found:?} (known: bank, linux, initrd)")]
    UnknownPayload { index: usize, found: String },
    #[error("payload {index} is {name} again; payload {first} already is")]
    DuplicatePayload {
        index: usize,
        name: PayloadName,
        first: usize,
    },
    #[error("payload {name} is missing")]
    MissingPayload { name: PayloadName },
    #[error("payload {name}: sha256 {found:?} is not 64 lowercase hex digits")]
    Sha256 { name: PayloadName, found: String },
    #[error("payload {name} is empty")]
    EmptyPayload { name: PayloadName },
    #[error("payload {name} is {size} bytes, more than the limit of {MAX_PAYLOAD_SIZE}")]
    PayloadTooLarge { name: PayloadName, size: u64 },
    #[error("payload {name} at offset {offset} is not a multiple of 4096")]
    Misaligned { name: PayloadName, offset: u64 },
    #[error("payload {name} at offset {offset} overlaps payload {previous}, which ends at {previous_end}")]
    Overlap {
        name: PayloadName,
        offset: u64,
        previous: PayloadName,
        previous_end: u64,
    },
    #[error(
        "payload {name} at offset {offset} leaves a gap: it must start at {expected}, the first \
         multiple of 4096 after the payload before it (or 0 for the first)"
    )]
    Gap {
        name: PayloadName,
        offset: u64,
        expected: u64,
    },
}

/// Why a bundle could not be written.
#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    #[error("payload {name} was given twice")]
    DuplicatePayload { name: PayloadName },
    #[error("payload {name} was not given")]
    MissingPayload { name: PayloadName },
    #[error("reading payload {name}: {source}")]
    Source {
        name: PayloadName,
        #[source]
        source: io::Error,
    },
    #[error("payload {name} changed while the bundle was written (size or content differs from the first pass)")]
    SourceChanged { name: PayloadName },
    #[error("payload {name} is {size} bytes, more than the limit of {MAX_PAYLOAD_SIZE}")]
    PayloadTooLarge { name: PayloadName, size: u64 },
    #[error("no signing key given")]
    NoSigningKey,
    #[error("{count} signing keys given; a bundle carries at most {MAX_SIGNATURES}")]
    TooManySigningKeys { count: usize },
    #[error("signing key {key_id} was given twice")]
    DuplicateSigningKey { key_id: KeyId },
    #[error("manifest: {0}")]
    Manifest(#[from] ManifestError),
    #[error("manifest is {len} bytes, more than {MAX_MANIFEST_LEN}")]
    ManifestTooLarge { len: usize },
    #[error("encoding the manifest: {0}")]
    Encode(#[source] serde_json::Error),
    #[error("writing the bundle at byte {offset}: {source}")]
    Output {
        offset: u64,
        #[source]
        source: io::Error,
    },
}
