//! Rotating the update signing key in two steps, so that no device is ever
//! left trusting only a key nobody signs with.
//!
//! 1. `cairn keys rotate` makes `update-next.key`. From then on every build
//!    trusts both keys (both public keys go into the bank) and signs its
//!    bundle with both. A device still on an older build accepts it by the
//!    old key's signature, and once it runs it, trusts the new key too.
//! 2. When every device runs a build from step 1, `cairn keys rotate
//!    --finish` makes the new key the only one: the old pair moves to
//!    `retired/`, and later builds trust and sign with the new key alone.
//!    A device that missed step 1 refuses those bundles ("no signature by a
//!    trusted key"); deploy a step-1 bundle (kept in its build directory)
//!    to it first.

use std::fs;
use std::path::{Path, PathBuf};

use cairn_update::{KeyId, PublicKey, SigningKey};

use super::{files, KeysError, ProjectKeys, UPDATE};

/// The key a rotation brings in, by its file stem.
pub const NEXT: &str = "update-next";
/// Where a finished rotation keeps the old key pair.
pub const RETIRED_DIR: &str = "retired";

/// Where a project's update keys stand.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rotation {
    /// One key signs and is trusted.
    Settled { current: KeyId },
    /// Both keys are trusted and both sign.
    Started { current: KeyId, next: KeyId },
}

impl ProjectKeys {
    pub fn next_key(&self) -> PathBuf {
        self.dir.join(format!("{NEXT}.key"))
    }

    pub fn next_pub(&self) -> PathBuf {
        self.dir.join(format!("{NEXT}.pub"))
    }

    pub fn retired_dir(&self) -> PathBuf {
        self.dir.join(RETIRED_DIR)
    }

    /// The pair stored under `stem`, checked to belong together: a public
    /// key replaced by hand would otherwise make images that trust a key
    /// no bundle is signed with.
    fn pair(&self, stem: &str) -> Result<(SigningKey, PublicKey), KeysError> {
        let private = self.dir.join(format!("{stem}.key"));
        let public = self.dir.join(format!("{stem}.pub"));
        files::read_private(&private)?;
        let key = SigningKey::load(&private)?;
        let stored = PublicKey::load(&public)?;
        if stored != key.public_key() {
            return Err(KeysError::Mismatch {
                what: format!(
                    "{} is not the public half of {} (it is key {}, the private key is {}); \
                     restore the matching file from a backup",
                    public.display(),
                    private.display(),
                    stored.key_id(),
                    key.key_id()
                ),
            });
        }
        Ok((key, stored))
    }

    fn next_exists(&self) -> bool {
        self.next_key().symlink_metadata().is_ok() || self.next_pub().symlink_metadata().is_ok()
    }

    /// A `--finish` cut between its two renames: the next private key is
    /// already `update.key`, its public half still `update-next.pub`.
    fn finish_was_cut(&self) -> bool {
        self.next_key().symlink_metadata().is_err() && self.next_pub().symlink_metadata().is_ok()
    }

    /// Whether a rotation is under way.
    pub fn rotation(&self) -> Result<Rotation, KeysError> {
        if self.finish_was_cut() {
            return Err(KeysError::Rotation {
                what: format!(
                    "finishing the rotation was cut short ({} is still there); run `cairn keys \
                     rotate --finish` again to complete it",
                    self.next_pub().display()
                ),
            });
        }
        let (_, current) = self.pair(UPDATE)?;
        if !self.next_exists() {
            return Ok(Rotation::Settled {
                current: current.key_id(),
            });
        }
        let (_, next) = self.pair(NEXT)?;
        Ok(Rotation::Started {
            current: current.key_id(),
            next: next.key_id(),
        })
    }

    /// Every key a bundle is signed with: the current one, and during a
    /// rotation the next one too.
    pub fn signing_keys(&self) -> Result<Vec<SigningKey>, KeysError> {
        let mut keys = vec![self.pair(UPDATE)?.0];
        if self.next_exists() {
            keys.push(self.pair(NEXT)?.0);
        }
        Ok(keys)
    }

    /// Every key an image trusts: the same keys' public halves.
    pub fn trusted_keys(&self) -> Result<Vec<PublicKey>, KeysError> {
        let mut keys = vec![self.pair(UPDATE)?.1];
        if self.next_exists() {
            keys.push(self.pair(NEXT)?.1);
        }
        Ok(keys)
    }

    /// Step 1: makes the next key. Refused while a rotation is under way.
    pub fn start_rotation(&self) -> Result<KeyId, KeysError> {
        self.require()?;
        self.pair(UPDATE)?;
        if self.next_exists() {
            return Err(KeysError::Rotation {
                what: format!(
                    "a rotation is already under way ({} exists); finish it with `cairn keys \
                     rotate --finish` once every device runs a build made since it started",
                    self.next_key().display()
                ),
            });
        }
        let key = cairn_update::write_key_pair(&self.dir, NEXT)?;
        Ok(key.key_id())
    }

    /// Step 2: retires the current key and makes the next one current.
    /// Returns the key that is current now.
    pub fn finish_rotation(&self) -> Result<KeyId, KeysError> {
        if self.finish_was_cut() {
            let key = SigningKey::load(&self.update_key())?;
            if PublicKey::load(&self.next_pub())? == key.public_key() {
                self.rename(&self.next_pub(), &self.update_pub())?;
                return Ok(key.key_id());
            }
        }
        let Rotation::Started { current, next } = self.rotation()? else {
            return Err(KeysError::Rotation {
                what: "no rotation is under way: start one with `cairn keys rotate`".into(),
            });
        };
        let retired = self.retired_dir();
        files::make_dir(&retired)?;
        // Linked first, so that at every instant the old pair exists under
        // one name or both; a cut between the steps leaves a state that
        // `rotation` reports and a second `--finish` completes.
        for ext in ["key", "pub"] {
            let from = self.dir.join(format!("{UPDATE}.{ext}"));
            let to = retired.join(format!("{UPDATE}-{current}.{ext}"));
            if to.symlink_metadata().is_err() {
                fs::hard_link(&from, &to).map_err(KeysError::io(format!(
                    "cannot keep {} as {}",
                    from.display(),
                    to.display()
                )))?;
            }
        }
        files::sync_dir(&retired)?;
        // The private key first: until the public one follows, the pair
        // check refuses to build, which is the safe side.
        self.rename(&self.next_key(), &self.update_key())?;
        self.rename(&self.next_pub(), &self.update_pub())?;
        Ok(next)
    }

    fn rename(&self, from: &Path, to: &Path) -> Result<(), KeysError> {
        fs::rename(from, to).map_err(KeysError::io(format!(
            "cannot move {} to {}",
            from.display(),
            to.display()
        )))?;
        files::sync_dir(&self.dir)
    }
}
