//! Ed25519 signing and public keys, their PEM form and their short ids.
//!
//! Private keys are PKCS#8 v1 PEM (`-----BEGIN PRIVATE KEY-----`), the form
//! `openssl genpkey -algorithm ed25519` writes; public keys are
//! SubjectPublicKeyInfo PEM (`-----BEGIN PUBLIC KEY-----`), the form
//! `openssl pkey -pubout` writes. Operators can make keys with either tool.

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};

use ed25519_dalek::pkcs8::spki::der::pem::LineEnding;
use ed25519_dalek::pkcs8::{
    DecodePrivateKey, DecodePublicKey, EncodePrivateKey, EncodePublicKey, KeypairBytes,
};
use ed25519_dalek::Signer;
use rand_core::RngCore;
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use crate::keyfile;

/// Why a key could not be made, read or written. No variant carries key
/// material.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("the system's random source failed: {reason}")]
    Random { reason: String },
    #[error("not an Ed25519 private key in PEM (PKCS#8, \"BEGIN PRIVATE KEY\")")]
    PrivateKeyPem,
    #[error("not an Ed25519 public key in PEM (\"BEGIN PUBLIC KEY\")")]
    PublicKeyPem,
    #[error("encoding the key as PEM failed")]
    Encode,
    #[error("the public key is not a valid Ed25519 point")]
    InvalidPublicKey,
    #[error("the public key is a small-order point, which cannot vouch for anything")]
    WeakPublicKey,
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("{}: {source}", path.display())]
    File {
        path: PathBuf,
        #[source]
        source: Box<KeyError>,
    },
    #[error("{} already exists; keys are never overwritten", path.display())]
    Exists { path: PathBuf },
    #[error(
        "{} can be read by group or others (mode {mode:03o}); a private key file must be 0600",
        path.display()
    )]
    ExposedPrivateKey { path: PathBuf, mode: u32 },
    #[error("{} is larger than any key file ({len} bytes)", path.display())]
    TooLarge { path: PathBuf, len: u64 },
    #[error("{name:?} is not a key name (a file name without '/' that does not start with '.')")]
    BadName { name: String },
    #[error("{} holds no trusted keys (*.pub)", dir.display())]
    NoTrustedKeys { dir: PathBuf },
}

impl KeyError {
    fn in_file(self, path: &Path) -> KeyError {
        match self {
            // Already names a path.
            KeyError::Io { .. } | KeyError::Exists { .. } | KeyError::File { .. } => self,
            other => KeyError::File {
                path: path.to_owned(),
                source: Box::new(other),
            },
        }
    }
}

/// First 8 bytes of the sha256 of the 32 public key bytes, shown as 16 hex
/// digits. For people and messages; trust always compares whole keys.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct KeyId([u8; 8]);

impl KeyId {
    pub fn of(public_key: &[u8; 32]) -> KeyId {
        let digest = Sha256::digest(public_key);
        let mut id = [0u8; 8];
        id.copy_from_slice(&digest[..8]);
        KeyId(id)
    }
}

impl fmt::Display for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex::encode(self.0))
    }
}

impl fmt::Debug for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "KeyId({self})")
    }
}

/// A private key that signs bundles. Wiped from memory when dropped; its
/// `Debug` shows only the key id.
pub struct SigningKey {
    inner: ed25519_dalek::SigningKey,
}

impl SigningKey {
    /// A fresh key from the operating system's random source.
    pub fn generate() -> Result<SigningKey, KeyError> {
        let mut seed = Zeroizing::new([0u8; 32]);
        // try_fill_bytes, not fill_bytes: the latter panics when the
        // random source fails.
        rand_core::OsRng
            .try_fill_bytes(seed.as_mut())
            .map_err(|e| KeyError::Random {
                reason: e.to_string(),
            })?;
        Ok(SigningKey::from_seed(&seed))
    }

    /// The key whose RFC 8032 secret is `seed`.
    pub fn from_seed(seed: &[u8; 32]) -> SigningKey {
        SigningKey {
            inner: ed25519_dalek::SigningKey::from_bytes(seed),
        }
    }

    pub fn public_key(&self) -> PublicKey {
        PublicKey {
            inner: self.inner.verifying_key(),
        }
    }

    pub fn key_id(&self) -> KeyId {
        self.public_key().key_id()
    }

    pub fn to_pem(&self) -> Result<Zeroizing<String>, KeyError> {
        // v1 (no public key inside): what OpenSSL writes and every reader takes.
        let document = KeypairBytes {
            secret_key: self.inner.to_bytes(),
            public_key: None,
        };
        document
            .to_pkcs8_pem(LineEnding::LF)
            .map_err(|_| KeyError::Encode)
    }

    pub fn from_pem(text: &str) -> Result<SigningKey, KeyError> {
        ed25519_dalek::SigningKey::from_pkcs8_pem(text)
            .map(|inner| SigningKey { inner })
            .map_err(|_| KeyError::PrivateKeyPem)
    }

    /// Writes the key to a new file, mode 0600 from its creation on, whole
    /// or not at all; refuses to replace an existing file.
    pub fn save(&self, path: &Path) -> Result<(), KeyError> {
        let pem = self.to_pem().map_err(|e| e.in_file(path))?;
        keyfile::write_new(path, pem.as_bytes(), keyfile::PRIVATE_MODE)
    }

    /// Reads a key file, refusing one that group or others can read.
    pub fn load(path: &Path) -> Result<SigningKey, KeyError> {
        let bytes = keyfile::read_private(path)?;
        std::str::from_utf8(&bytes)
            .map_err(|_| KeyError::PrivateKeyPem)
            .and_then(SigningKey::from_pem)
            .map_err(|e| e.in_file(path))
    }

    pub(crate) fn sign(&self, message: &[u8]) -> [u8; 64] {
        self.inner.sign(message).to_bytes()
    }
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SigningKey")
            .field("key_id", &self.key_id())
            .finish_non_exhaustive()
    }
}

/// A public key that bundles may be signed with.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct PublicKey {
    inner: ed25519_dalek::VerifyingKey,
}

impl PublicKey {
    /// Refuses bytes that are no curve point, and small-order points.
    pub fn from_bytes(bytes: &[u8; 32]) -> Result<PublicKey, KeyError> {
        let inner = ed25519_dalek::VerifyingKey::from_bytes(bytes)
            .map_err(|_| KeyError::InvalidPublicKey)?;
        if inner.is_weak() {
            return Err(KeyError::WeakPublicKey);
        }
        Ok(PublicKey { inner })
    }

    pub fn to_bytes(&self) -> [u8; 32] {
        self.inner.to_bytes()
    }

    pub fn key_id(&self) -> KeyId {
        KeyId::of(&self.to_bytes())
    }

    pub fn to_pem(&self) -> Result<String, KeyError> {
        self.inner
            .to_public_key_pem(LineEnding::LF)
            .map_err(|_| KeyError::Encode)
    }

    pub fn from_pem(text: &str) -> Result<PublicKey, KeyError> {
        let inner = ed25519_dalek::VerifyingKey::from_public_key_pem(text)
            .map_err(|_| KeyError::PublicKeyPem)?;
        PublicKey::from_bytes(&inner.to_bytes())
    }

    /// Writes the key to a new file, mode 0644; refuses to replace one.
    pub fn save(&self, path: &Path) -> Result<(), KeyError> {
        let pem = self.to_pem().map_err(|e| e.in_file(path))?;
        keyfile::write_new(path, pem.as_bytes(), keyfile::PUBLIC_MODE)
    }

    pub fn load(path: &Path) -> Result<PublicKey, KeyError> {
        let bytes = keyfile::read_public(path)?;
        std::str::from_utf8(&bytes)
            .map_err(|_| KeyError::PublicKeyPem)
            .and_then(PublicKey::from_pem)
            .map_err(|e| e.in_file(path))
    }

    /// Strict verification (RFC 8032 with canonical `S` and no small-order
    /// `R`): one message, one valid signature per key.
    pub(crate) fn verifies(&self, message: &[u8], signature: &[u8; 64]) -> bool {
        let signature = ed25519_dalek::Signature::from_bytes(signature);
        self.inner.verify_strict(message, &signature).is_ok()
    }
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PublicKey({})", self.key_id())
    }
}

/// Generates a key pair and writes `<dir>/<name>.key` (0600) and
/// `<dir>/<name>.pub`. Refuses to replace either file.
pub fn write_key_pair(dir: &Path, name: &str) -> Result<SigningKey, KeyError> {
    if name.is_empty() || name.contains('/') || name.starts_with('.') {
        return Err(KeyError::BadName {
            name: name.to_owned(),
        });
    }
    let private = dir.join(format!("{name}.key"));
    let public = dir.join(format!("{name}.pub"));
    for path in [&private, &public] {
        if path.symlink_metadata().is_ok() {
            return Err(KeyError::Exists { path: path.clone() });
        }
    }
    let key = SigningKey::generate()?;
    key.save(&private)?;
    key.public_key().save(&public)?;
    Ok(key)
}

#[cfg(test)]
mod tests {
    use super::*;

    // RFC 8032, section 7.1, test 1.
    const RFC_SECRET: &str = "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60";
    const RFC_PUBLIC: &str = "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a";
    const RFC_SIGNATURE: &str = "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e06522490155\
                                 5fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b";

    fn rfc_key() -> SigningKey {
        let mut seed = [0u8; 32];
        hex::decode_to_slice(RFC_SECRET, &mut seed).unwrap();
        SigningKey::from_seed(&seed)
    }

    #[test]
    fn signs_as_rfc_8032_says() {
        let key = rfc_key();
        assert_eq!(hex::encode(key.public_key().to_bytes()), RFC_PUBLIC);
        let signature = key.sign(b"");
        assert_eq!(hex::encode(signature), RFC_SIGNATURE);
        assert!(key.public_key().verifies(b"", &signature));
        assert!(!key.public_key().verifies(b"x", &signature));
    }

    #[test]
    fn key_id_is_the_first_eight_bytes_of_the_public_keys_sha256() {
        let key = rfc_key();
        let digest = Sha256::digest(key.public_key().to_bytes());
        assert_eq!(key.key_id().to_string(), hex::encode(&digest[..8]));
        assert_eq!(key.key_id().to_string().len(), 16);
    }

    #[test]
    fn pem_round_trips() {
        let key = rfc_key();
        let pem = key.to_pem().unwrap();
        assert!(pem.starts_with("-----BEGIN PRIVATE KEY-----\n"));
        let back = SigningKey::from_pem(&pem).unwrap();
        assert_eq!(back.public_key(), key.public_key());
        let public_pem = key.public_key().to_pem().unwrap();
        assert!(public_pem.starts_with("-----BEGIN PUBLIC KEY-----\n"));
        assert_eq!(PublicKey::from_pem(&public_pem).unwrap(), key.public_key());
        assert!(matches!(
            SigningKey::from_pem(&public_pem),
            Err(KeyError::PrivateKeyPem)
        ));
        assert!(matches!(
            PublicKey::from_pem(&pem),
            Err(KeyError::PublicKeyPem)
        ));
    }

    #[test]
    fn debug_and_errors_show_no_key_material() {
        let key = rfc_key();
        let shown = format!("{key:?}");
        assert!(shown.contains(&key.key_id().to_string()), "{shown}");
        assert!(!shown.contains(RFC_SECRET), "{shown}");
        let pem = key.to_pem().unwrap();
        let body = pem.lines().nth(1).unwrap();
        assert!(!shown.contains(body));
        // A private key pasted where a public one belongs: the message names
        // the problem, not the content.
        let error = PublicKey::from_pem(&pem).unwrap_err().to_string();
        assert!(!error.contains(body), "{error}");
    }

    #[test]
    fn small_order_points_are_refused_as_public_keys() {
        // The identity point.
        let mut identity = [0u8; 32];
        identity[0] = 1;
        assert!(matches!(
            PublicKey::from_bytes(&identity),
            Err(KeyError::WeakPublicKey)
        ));
    }
}
