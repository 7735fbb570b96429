//! The public keys a device trusts: on the device, a directory of `*.pub`
//! PEM files in the running bank.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use crate::keys::{KeyError, KeyId, PublicKey};

/// A set of trusted public keys, compared by their whole 32 bytes.
#[derive(Debug, Clone, Default)]
pub struct Keyring {
    keys: BTreeMap<[u8; 32], PublicKey>,
}

impl Keyring {
    pub fn new() -> Keyring {
        Keyring::default()
    }

    pub fn insert(&mut self, key: PublicKey) {
        self.keys.insert(key.to_bytes(), key);
    }

    pub fn with(mut self, key: PublicKey) -> Keyring {
        self.insert(key);
        self
    }

    /// The trusted key with these bytes, if any.
    pub fn get(&self, bytes: &[u8; 32]) -> Option<&PublicKey> {
        self.keys.get(bytes)
    }

    pub fn len(&self) -> usize {
        self.keys.len()
    }

    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    pub fn key_ids(&self) -> Vec<KeyId> {
        self.keys.values().map(PublicKey::key_id).collect()
    }

    /// Loads every `*.pub` file of `dir` (not hidden files, not
    /// subdirectories). Any unreadable or malformed key file is an error
    /// naming it: a device must not silently trust fewer keys than its image
    /// says. An empty directory is an error too, since it would refuse every
    /// bundle.
    pub fn load_dir(dir: &Path) -> Result<Keyring, KeyError> {
        let io_error = |source| KeyError::Io {
            path: dir.to_owned(),
            source,
        };
        let mut paths: Vec<PathBuf> = Vec::new();
        for entry in fs::read_dir(dir).map_err(io_error)? {
            let entry = entry.map_err(io_error)?;
            let name = entry.file_name();
            let name = name.to_string_lossy();
            if name.starts_with('.') || !name.ends_with(".pub") {
                continue;
            }
            let path = entry.path();
            // Follows symlinks: an image may link its keys from elsewhere.
            if path.is_file() {
                paths.push(path);
            }
        }
        paths.sort();
        let mut keyring = Keyring::new();
        for path in paths {
            keyring.insert(PublicKey::load(&path)?);
        }
        if keyring.is_empty() {
            return Err(KeyError::NoTrustedKeys {
                dir: dir.to_owned(),
            });
        }
        Ok(keyring)
    }
}

impl FromIterator<PublicKey> for Keyring {
    fn from_iter<I: IntoIterator<Item = PublicKey>>(keys: I) -> Keyring {
        let mut keyring = Keyring::new();
        for key in keys {
            keyring.insert(key);
        }
        keyring
    }
}
