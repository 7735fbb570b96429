//! `cairn bundle verify`: checks an update bundle offline, every byte, as a
//! device would before writing it, and says what it holds.

use std::fmt;
use std::fs::File;
use std::io::BufReader;
use std::path::{Path, PathBuf};

use cairn_update::{Bundle, KeyId, Keyring, Manifest, PublicKey, ReadError};

/// Why a bundle could not be checked, or is not valid.
#[derive(Debug, thiserror::Error)]
pub enum CheckError {
    /// The bundle is not valid: the reason, and the keys it was checked with.
    #[error("{} is not valid: {source} (checked against {trusted})", path.display())]
    Invalid {
        path: PathBuf,
        trusted: String,
        #[source]
        source: ReadError,
    },
    #[error("{}: {source}", path.display())]
    Key {
        path: PathBuf,
        #[source]
        source: cairn_update::KeyError,
    },
    #[error("cannot open {}: {source}", path.display())]
    Open {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// The trusted keys and where they came from.
#[derive(Debug)]
pub struct Trusted {
    pub keyring: Keyring,
    pub sources: Vec<(KeyId, PathBuf)>,
}

impl Trusted {
    /// Keys from `*.pub` files, or directories of them.
    pub fn load(paths: &[PathBuf]) -> Result<Trusted, CheckError> {
        let mut keyring = Keyring::new();
        let mut sources = Vec::new();
        for path in paths {
            let key_error = |source| CheckError::Key {
                path: path.clone(),
                source,
            };
            let files = if path.is_dir() {
                // Its errors (a malformed file, no key at all) first.
                Keyring::load_dir(path).map_err(key_error)?;
                let mut files: Vec<PathBuf> = std::fs::read_dir(path)
                    .map_err(|source| CheckError::Open {
                        path: path.clone(),
                        source,
                    })?
                    .flatten()
                    .map(|e| e.path())
                    .filter(|f| f.extension().is_some_and(|e| e == "pub"))
                    .filter(|f| {
                        !f.file_name()
                            .is_some_and(|n| n.to_string_lossy().starts_with('.'))
                    })
                    .collect();
                files.sort();
                files
            } else {
                vec![path.clone()]
            };
            for file in files {
                let key = PublicKey::load(&file).map_err(|source| CheckError::Key {
                    path: file.clone(),
                    source,
                })?;
                sources.push((key.key_id(), file));
                keyring.insert(key);
            }
        }
        Ok(Trusted { keyring, sources })
    }

    fn describe(&self) -> String {
        self.sources
            .iter()
            .map(|(id, path)| format!("{id} from {}", path.display()))
            .collect::<Vec<_>>()
            .join(", ")
    }

    fn source_of(&self, id: KeyId) -> Option<&Path> {
        self.sources
            .iter()
            .find(|(k, _)| *k == id)
            .map(|(_, p)| p.as_path())
    }
}

/// What a valid bundle holds.
#[derive(Debug)]
pub struct Report {
    pub path: PathBuf,
    pub len: u64,
    pub manifest: Manifest,
    pub payload_area: u64,
    pub signed_by: Vec<(KeyId, Option<PathBuf>)>,
}

/// Reads the whole bundle at `path` and checks it against `trusted`.
pub fn check(path: &Path, trusted: &Trusted) -> Result<Report, CheckError> {
    let file = File::open(path).map_err(|source| CheckError::Open {
        path: path.to_owned(),
        source,
    })?;
    let len = file.metadata().map(|m| m.len()).unwrap_or(0);
    let invalid = |source| CheckError::Invalid {
        path: path.to_owned(),
        trusted: trusted.describe(),
        source,
    };
    let verified = Bundle::verify(BufReader::with_capacity(1 << 20, file), &trusted.keyring)
        .map_err(invalid)?;
    verified.check_len(len).map_err(invalid)?;
    Ok(Report {
        path: path.to_owned(),
        len,
        payload_area: verified.payload_area_start(),
        signed_by: verified
            .signed_by()
            .iter()
            .map(|id| (*id, trusted.source_of(*id).map(Path::to_path_buf)))
            .collect(),
        manifest: verified.manifest().clone(),
    })
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let m = &self.manifest;
        writeln!(f, "{}: valid ({} bytes)", self.path.display(), self.len)?;
        writeln!(f, "  board           {}", m.board)?;
        writeln!(f, "  version         {}", m.version)?;
        writeln!(f, "  build           {}", m.build)?;
        writeln!(f, "  kernel options  {}", m.kernel_options)?;
        writeln!(f, "  payloads")?;
        for p in &m.payloads {
            writeln!(
                f,
                "    {:<7} {:>12} bytes at {:>12}  sha256 {}",
                p.name.as_str(),
                p.size,
                self.payload_area + p.offset,
                hex::encode(p.sha256)
            )?;
        }
        for (id, source) in &self.signed_by {
            match source {
                Some(path) => writeln!(f, "  signed by       {id} ({})", path.display())?,
                None => writeln!(f, "  signed by       {id}")?,
            }
        }
        Ok(())
    }
}
