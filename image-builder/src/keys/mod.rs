//! The project's trust material, kept in `.cairn/` beside `system.toml`:
//! the update signing key, a private CA, the operators' identities, the
//! devices' identities and the build numbers.
//!
//! ```text
//! .cairn/
//!   .gitignore            keeps every *.key (and build/, dev/) out of git
//!   update.key  0600      Ed25519: signs update bundles
//!   update.pub            what every image trusts (cairn/keys/update/<key id>.pub)
//!   update-next.key 0600  during a key rotation: the key coming in (rotation.rs)
//!   update-next.pub
//!   retired/              key pairs a finished rotation took out of use
//!   ca.key      0600      the CA: signs identities
//!   ca.crt                what every image's control API trusts for clients
//!   admin.key   0600      the first operator identity (CN admin, O admin)
//!   admin.crt
//!   builds                build numbers, "<build> <version>" a line
//!   identities/<hostname>/server.crt, server.key (0600)
//!                         each device's own identity, made once
//! ```
//!
//! Made by the first `cairn build` of a manifest, or `cairn keys init`.
//! Private keys never leave this directory: not into an image (a device's
//! own server key is the one exception, by design), not into a bundle.

mod builds;
pub mod certs;
mod files;
mod identity;
mod rotation;

use std::path::{Path, PathBuf};

use cairn_update::{PublicKey, SigningKey};

pub use builds::{BuildNumber, Builds};
pub use certs::{Ca, Made, Role, DEVICE_NAME};
pub use identity::DeviceIdentity;
pub use rotation::{Rotation, NEXT, RETIRED_DIR};

/// The directory's name beside a manifest.
pub const DIR_NAME: &str = ".cairn";
/// The identity `cairn keys init` makes, and clients use by default.
pub const DEFAULT_IDENTITY: &str = "admin";

const UPDATE: &str = "update";
/// The update signing key's public half, by its file name.
pub const UPDATE_PUB: &str = "update.pub";
/// The CA certificate, by its file name.
pub const CA_CERT: &str = "ca.crt";
const GITIGNORE: &str = "# Private keys stay on the machine that made them.\n\
                         *.key\n\
                         # What cairn run and cairn dev keep here.\n\
                         /build/\n\
                         /dev/\n\
                         /dev-*/\n";

/// Why trust material could not be made or read.
#[derive(Debug, thiserror::Error)]
pub enum KeysError {
    #[error("{} already exists; keys are never overwritten (choose another --dir or name, or move it aside)", path.display())]
    Exists { path: PathBuf },
    #[error(
        "{} holds only part of a project's keys ({} missing); restore {} from a backup, or move \
         the directory aside and run `cairn keys init` for new ones (devices built with the old \
         keys then refuse the new ones)",
        dir.display(), list(missing), if missing.len() == 1 { "it" } else { "them" }
    )]
    Partial { dir: PathBuf, missing: Vec<String> },
    #[error("{} holds no project keys: run `cairn keys init --dir {}` (or `cairn build`, which makes them)", dir.display(), dir.display())]
    NotFound { dir: PathBuf },
    #[error("{} can be read by group or others (mode {mode:03o}); run `chmod 600 {}` after making sure no one copied it, or make new keys", path.display(), path.display())]
    ExposedKey { path: PathBuf, mode: u32 },
    #[error("{name:?} is not an identity name: use 1 to 64 of a-z 0-9 . _ - starting with a letter or digit, other than \"ca\", \"update\" and \"update-next\"")]
    BadName { name: String },
    #[error("making or reading {what}: {source}")]
    Cert {
        what: String,
        #[source]
        source: rcgen::Error,
    },
    #[error("{what}")]
    Mismatch { what: String },
    #[error("{what}")]
    Rotation { what: String },
    #[error("{0}")]
    UpdateKey(#[from] cairn_update::KeyError),
    #[error("{context}: {error}")]
    Io {
        context: String,
        error: std::io::Error,
    },
}

impl KeysError {
    pub(crate) fn io(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> KeysError {
        let context = context.into();
        move |error| KeysError::Io { context, error }
    }
}

fn list(items: &[String]) -> String {
    items.join(", ")
}

/// What a project's key directory holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum State {
    Empty,
    Complete,
    Partial { missing: Vec<String> },
}

/// One project's `.cairn/` directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProjectKeys {
    dir: PathBuf,
}

impl ProjectKeys {
    pub fn at(dir: impl Into<PathBuf>) -> ProjectKeys {
        ProjectKeys { dir: dir.into() }
    }

    /// `.cairn/` in the manifest's directory.
    pub fn beside(manifest: &Path) -> ProjectKeys {
        let parent = manifest
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        ProjectKeys::at(parent.join(DIR_NAME))
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn update_key(&self) -> PathBuf {
        self.dir.join(format!("{UPDATE}.key"))
    }

    pub fn update_pub(&self) -> PathBuf {
        self.dir.join(UPDATE_PUB)
    }

    pub fn ca_cert(&self) -> PathBuf {
        self.dir.join(CA_CERT)
    }

    pub fn ca_key(&self) -> PathBuf {
        self.dir.join("ca.key")
    }

    pub fn identity_cert(&self, name: &str) -> PathBuf {
        self.dir.join(format!("{name}.crt"))
    }

    pub fn identity_key(&self, name: &str) -> PathBuf {
        self.dir.join(format!("{name}.key"))
    }

    pub fn builds(&self) -> Builds {
        Builds::at(self.dir.join("builds"))
    }

    /// The cache of device identities, by hostname.
    pub fn identities_dir(&self) -> PathBuf {
        self.dir.join("identities")
    }

    /// Which of the four files every build needs are here.
    pub fn state(&self) -> State {
        let needed = [
            self.update_key(),
            self.update_pub(),
            self.ca_key(),
            self.ca_cert(),
        ];
        let missing: Vec<String> = needed
            .iter()
            .filter(|p| p.symlink_metadata().is_err())
            .filter_map(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
            .collect();
        match missing.len() {
            0 => State::Complete,
            n if n == needed.len() => State::Empty,
            _ => State::Partial { missing },
        }
    }

    /// Makes everything a new project needs; refuses if any of it exists.
    /// Returns the files made.
    pub fn init(&self) -> Result<Vec<PathBuf>, KeysError> {
        let planned = [
            self.update_key(),
            self.update_pub(),
            self.ca_key(),
            self.ca_cert(),
            self.identity_key(DEFAULT_IDENTITY),
            self.identity_cert(DEFAULT_IDENTITY),
        ];
        if let Some(path) = planned.iter().find(|p| p.symlink_metadata().is_ok()) {
            return Err(KeysError::Exists { path: path.clone() });
        }
        files::make_dir(&self.dir)?;
        let result = self.make_all();
        if result.is_err() {
            // Half a set of keys would only be refused later; leave none.
            for path in &planned {
                let _ = std::fs::remove_file(path);
            }
        }
        result?;
        let gitignore = self.dir.join(".gitignore");
        if gitignore.symlink_metadata().is_err() {
            files::write_new(&gitignore, GITIGNORE.as_bytes(), files::PUBLIC_MODE)?;
        }
        Ok(planned.to_vec())
    }

    fn make_all(&self) -> Result<(), KeysError> {
        let update = cairn_update::write_key_pair(&self.dir, UPDATE)?;
        // The update key's id names the CA: one project's CA is told from
        // another's in any certificate viewer.
        let ca = certs::make_ca(&update.key_id().to_string())?;
        files::write_new(&self.ca_key(), ca.key_pem.as_bytes(), files::PRIVATE_MODE)?;
        files::write_new(&self.ca_cert(), ca.cert_pem.as_bytes(), files::PUBLIC_MODE)?;
        self.issue(DEFAULT_IDENTITY, Role::Admin)?;
        Ok(())
    }

    /// Opens a complete directory, or makes a new one when it holds none of
    /// the keys. Returns whether it was made now.
    pub fn ensure(&self) -> Result<bool, KeysError> {
        match self.state() {
            State::Complete => Ok(false),
            State::Empty => self.init().map(|_| true),
            State::Partial { missing } => Err(KeysError::Partial {
                dir: self.dir.clone(),
                missing,
            }),
        }
    }

    /// Fails unless the directory holds a complete set of keys.
    pub fn require(&self) -> Result<(), KeysError> {
        match self.state() {
            State::Complete => Ok(()),
            State::Empty => Err(KeysError::NotFound {
                dir: self.dir.clone(),
            }),
            State::Partial { missing } => Err(KeysError::Partial {
                dir: self.dir.clone(),
                missing,
            }),
        }
    }

    /// Writes `NAME.crt` and `NAME.key`, a client identity signed by the CA.
    pub fn issue(&self, name: &str, role: Role) -> Result<(PathBuf, PathBuf), KeysError> {
        check_name(name)?;
        let (cert, key) = (self.identity_cert(name), self.identity_key(name));
        for path in [&cert, &key] {
            if path.symlink_metadata().is_ok() {
                return Err(KeysError::Exists { path: path.clone() });
            }
        }
        let made = self.ca()?.issue_client(name, role)?;
        files::write_new(&key, made.key_pem.as_bytes(), files::PRIVATE_MODE)?;
        files::write_new(&cert, made.cert_pem.as_bytes(), files::PUBLIC_MODE)?;
        Ok((cert, key))
    }

    /// The CA, to sign with.
    pub fn ca(&self) -> Result<Ca, KeysError> {
        let key = files::read_private(&self.ca_key())?;
        let cert = files::read_text(&self.ca_cert())?;
        Ca::load(&cert, &key)
    }

    /// The CA certificate, PEM.
    pub fn ca_pem(&self) -> Result<String, KeysError> {
        files::read_text(&self.ca_cert())
    }

    pub fn signing_key(&self) -> Result<SigningKey, KeysError> {
        Ok(SigningKey::load(&self.update_key())?)
    }

    pub fn public_key(&self) -> Result<PublicKey, KeysError> {
        Ok(PublicKey::load(&self.update_pub())?)
    }
}

/// Reads a private key file, refusing one that group or others may read.
pub fn read_private_file(path: &Path) -> Result<String, KeysError> {
    files::read_private(path)
}

/// Identity names become file names and certificate names.
pub fn check_name(name: &str) -> Result<(), KeysError> {
    let bytes = name.as_bytes();
    let allowed = |b: &u8| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-".contains(b);
    let ok = (1..=64).contains(&bytes.len())
        && bytes.first().is_some_and(u8::is_ascii_alphanumeric)
        && bytes.iter().all(allowed)
        && name != "ca"
        && name != UPDATE
        && name != NEXT;
    if ok {
        Ok(())
    } else {
        Err(KeysError::BadName {
            name: name.to_owned(),
        })
    }
}
