//! Cairn's update bundles and the boot entries that activate them.
//!
//! A bundle (`update.cairn`) carries one version: the bank's squashfs, the
//! kernel and the initramfs, described by a small signed manifest. The host
//! tool makes one with [`BundleWriter`]; the device treats every bundle as
//! hostile and takes it in three steps, each refusing on the first fault:
//!
//! 1. [`Bundle::read_header`] reads the header, the manifest and its
//!    signatures, checks a signature by a trusted key ([`Keyring`]) and only
//!    then parses the manifest. Nothing has been written yet.
//! 2. [`check_policy`] refuses another board, an older build (unless asked)
//!    and the running build.
//! 3. [`PayloadStream`] copies each payload, in file order, from any reader
//!    (a file or a request body) into a writer (a block device or a file),
//!    hashing as it goes; a hash mismatch or a short read is an error, and the
//!    caller then leaves the target bank unbootable.
//!
//! [`entries`] names the Boot Loader Specification entries of each version so
//! that systemd-boot tries the newest build first, and predicts which entry
//! Debian 12's systemd-boot 252 boots next. The byte layout is specified in
//! `docs/bundle-format.md`.
#![forbid(unsafe_code)]
#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]

mod bundle;
pub mod entries;
mod error;
pub mod esp;
mod format;
mod hashing;
mod keyfile;
mod keyring;
mod keys;
mod layout;
mod manifest;
mod policy;
mod position;
pub mod record;
mod signature;
mod stream;
mod wire;
mod writer;

#[cfg(test)]
mod tests;

pub use bundle::{Bundle, VerifiedManifest};
pub use error::{ManifestError, ReadError, Region, WriteError};
pub use format::{
    FORMAT_VERSION, HEADER_LEN, MAGIC, MAX_MANIFEST_LEN, MAX_PAYLOAD_SIZE, MAX_SIGNATURES,
    PAYLOAD_ALIGN, SIGNATURE_ENTRY_LEN, SIGNING_DOMAIN,
};
pub use keyring::Keyring;
pub use keys::{write_key_pair, KeyError, KeyId, PublicKey, SigningKey};
pub use manifest::{Manifest, Payload, PayloadName, PRODUCT};
pub use policy::{check_policy, PolicyError, Running};
pub use stream::{PayloadStream, DEFAULT_CHUNK_SIZE};
pub use writer::{BundleInfo, BundleWriter, WrittenBundle};
