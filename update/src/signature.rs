//! The signature block: one or more (public key, signature) pairs over
//! [`SIGNING_DOMAIN`] followed by the manifest's exact bytes.
//!
//! Several signatures let a bundle be accepted by devices that trust the old
//! key and by devices that already trust the new one during a rotation.

use crate::error::{KeyIds, ReadError};
use crate::format::{SIGNATURE_ENTRY_LEN, SIGNING_DOMAIN};
use crate::keyring::Keyring;
use crate::keys::{KeyId, SigningKey};

const ENTRY_LEN: usize = SIGNATURE_ENTRY_LEN as usize;

pub(crate) struct SignatureEntry {
    pub public_key: [u8; 32],
    pub signature: [u8; 64],
}

/// The message every signature covers.
fn signed_message(manifest: &[u8]) -> Vec<u8> {
    let mut message = Vec::with_capacity(SIGNING_DOMAIN.len() + manifest.len());
    message.extend_from_slice(SIGNING_DOMAIN);
    message.extend_from_slice(manifest);
    message
}

/// The block for these keys, ordered by public key so that the same set of
/// keys gives the same bytes in whatever order it was given. Ed25519
/// signatures are deterministic, so the whole block is.
pub(crate) fn sign(manifest: &[u8], keys: &[&SigningKey]) -> Vec<u8> {
    let message = signed_message(manifest);
    let mut entries: Vec<([u8; 32], [u8; 64])> = keys
        .iter()
        .map(|key| (key.public_key().to_bytes(), key.sign(&message)))
        .collect();
    entries.sort_by_key(|entry| entry.0);
    let mut block = Vec::with_capacity(entries.len() * ENTRY_LEN);
    for (public_key, signature) in entries {
        block.extend_from_slice(&public_key);
        block.extend_from_slice(&signature);
    }
    block
}

/// Splits a block whose length the header check bounded. `start` is the
/// block's position in the bundle.
pub(crate) fn parse(block: &[u8], start: u64) -> Result<Vec<SignatureEntry>, ReadError> {
    let mut entries: Vec<SignatureEntry> = Vec::with_capacity(block.len() / ENTRY_LEN);
    for (index, chunk) in block.chunks_exact(ENTRY_LEN).enumerate() {
        let mut public_key = [0u8; 32];
        let mut signature = [0u8; 64];
        public_key.copy_from_slice(&chunk[..32]);
        signature.copy_from_slice(&chunk[32..]);
        // A repeated key adds nothing and would make the signer count lie.
        if entries.iter().any(|e| e.public_key == public_key) {
            return Err(ReadError::DuplicateSigner {
                index,
                offset: entry_offset(start, index),
                key_id: KeyId::of(&public_key),
            });
        }
        entries.push(SignatureEntry {
            public_key,
            signature,
        });
    }
    Ok(entries)
}

/// Checks the signatures against the trusted keys and returns who signed.
///
/// Signatures by keys the device does not trust are skipped (a newer key
/// during a rotation). Every signature by a trusted key must verify: one
/// that does not is a sign of tampering, and a valid bundle never has one.
/// At least one trusted signature must exist.
pub(crate) fn verify(
    manifest: &[u8],
    entries: &[SignatureEntry],
    start: u64,
    trusted: &Keyring,
) -> Result<Vec<KeyId>, ReadError> {
    let message = signed_message(manifest);
    let mut signers = Vec::new();
    for (index, entry) in entries.iter().enumerate() {
        let Some(key) = trusted.get(&entry.public_key) else {
            continue;
        };
        if !key.verifies(&message, &entry.signature) {
            return Err(ReadError::BadSignature {
                index,
                offset: entry_offset(start, index),
                key_id: key.key_id(),
            });
        }
        signers.push(key.key_id());
    }
    if signers.is_empty() {
        return Err(ReadError::UntrustedSigners {
            signers: KeyIds(entries.iter().map(|e| KeyId::of(&e.public_key)).collect()),
        });
    }
    Ok(signers)
}

fn entry_offset(start: u64, index: usize) -> u64 {
    start + (index * ENTRY_LEN) as u64
}
