//! Making a bundle: the same inputs always give the same bytes.
//!
//! The manifest precedes the payloads and holds their sizes and hashes, so
//! each payload is read twice: once to hash it, once to copy it. Sources
//! are therefore seekable (a file, or `io::Cursor` over bytes), and the
//! second pass is hashed too, so a file that changes in between is caught
//! rather than shipped under a wrong hash.

use std::fmt;
use std::io::{self, Read, Seek, Write};

use sha2::{Digest, Sha256};

use crate::error::WriteError;
use crate::format::{Header, MAX_MANIFEST_LEN, MAX_PAYLOAD_SIZE, MAX_SIGNATURES};
use crate::keys::{KeyId, SigningKey};
use crate::layout;
use crate::manifest::{Manifest, Payload, PayloadName};
use crate::signature;
use crate::wire;

const COPY_BUFFER: usize = 1 << 20;

/// Everything the manifest says besides the payloads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BundleInfo {
    pub board: String,
    pub version: String,
    pub build: u64,
    pub kernel_options: String,
    pub verity_root_hash: Option<[u8; 32]>,
}

/// What was written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WrittenBundle {
    pub manifest: Manifest,
    pub len: u64,
    pub signed_by: Vec<KeyId>,
}

trait Source: Read + Seek {}
impl<T: Read + Seek> Source for T {}

/// Collects the payloads and keys of one bundle, then writes it.
///
/// Payloads are laid out in the order of [`PayloadName::ALL`] whatever order
/// they are given in; signatures are ordered by public key.
pub struct BundleWriter<'a> {
    info: BundleInfo,
    payloads: Vec<(PayloadName, Box<dyn Source + 'a>)>,
    keys: Vec<&'a SigningKey>,
}

impl<'a> BundleWriter<'a> {
    pub fn new(info: BundleInfo) -> BundleWriter<'a> {
        BundleWriter {
            info,
            payloads: Vec::new(),
            keys: Vec::new(),
        }
    }

    /// Adds a payload, read from its start.
    pub fn payload(mut self, name: PayloadName, source: impl Read + Seek + 'a) -> BundleWriter<'a> {
        self.payloads.push((name, Box::new(source)));
        self
    }

    /// Adds a signing key; give the old and the new key during a rotation.
    pub fn signed_by(mut self, key: &'a SigningKey) -> BundleWriter<'a> {
        self.keys.push(key);
        self
    }

    pub fn write_to<W: Write>(self, out: W) -> Result<WrittenBundle, WriteError> {
        check_keys(&self.keys)?;
        let mut sources = in_layout_order(self.payloads)?;

        let mut sizes = Vec::with_capacity(sources.len());
        let mut hashes = Vec::with_capacity(sources.len());
        for (name, source) in &mut sources {
            let (size, sha256) = read_through(*name, source.as_mut(), None)?;
            sizes.push((*name, size));
            hashes.push(sha256);
        }
        let payloads = layout::place(&sizes)
            .into_iter()
            .zip(hashes)
            .map(|((name, offset, size), sha256)| Payload {
                name,
                offset,
                size,
                sha256,
            })
            .collect();
        let manifest = Manifest {
            board: self.info.board,
            version: self.info.version,
            build: self.info.build,
            kernel_options: self.info.kernel_options,
            verity_root_hash: self.info.verity_root_hash,
            payloads,
        };
        manifest.validate()?;
        let manifest_bytes = wire::encode(&manifest).map_err(WriteError::Encode)?;
        if manifest_bytes.len() > MAX_MANIFEST_LEN as usize {
            return Err(WriteError::ManifestTooLarge {
                len: manifest_bytes.len(),
            });
        }
        let block = signature::sign(&manifest_bytes, &self.keys);
        let header = Header {
            manifest_len: manifest_bytes.len() as u32,
            signature_len: block.len() as u32,
        };

        let mut out = Output { inner: out, at: 0 };
        out.write(&header.encode())?;
        out.write(&manifest_bytes)?;
        out.write(&block)?;
        let area = header.payload_area_start();
        for (payload, (_, source)) in manifest.payloads.iter().zip(&mut sources) {
            out.zeros_to(area + payload.offset)?;
            let mut copy = |chunk: &[u8]| out.write(chunk);
            read_through(payload.name, source.as_mut(), Some(&mut copy))
                .and_then(|(size, sha256)| check_unchanged(payload, size, sha256))?;
        }
        out.flush()?;

        let mut signed_by: Vec<KeyId> = self.keys.iter().map(|k| k.key_id()).collect();
        signed_by.sort();
        Ok(WrittenBundle {
            len: out.at,
            manifest,
            signed_by,
        })
    }
}

impl fmt::Debug for BundleWriter<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BundleWriter")
            .field("info", &self.info)
            .field(
                "payloads",
                &self.payloads.iter().map(|(n, _)| *n).collect::<Vec<_>>(),
            )
            .field("keys", &self.keys)
            .finish()
    }
}

fn check_keys(keys: &[&SigningKey]) -> Result<(), WriteError> {
    if keys.is_empty() {
        return Err(WriteError::NoSigningKey);
    }
    if keys.len() > MAX_SIGNATURES as usize {
        return Err(WriteError::TooManySigningKeys { count: keys.len() });
    }
    for (i, key) in keys.iter().enumerate() {
        if keys[..i].iter().any(|k| k.public_key() == key.public_key()) {
            return Err(WriteError::DuplicateSigningKey {
                key_id: key.key_id(),
            });
        }
    }
    Ok(())
}

/// Takes each chunk of a payload on the copying pass.
type ChunkSink<'a> = dyn FnMut(&[u8]) -> Result<(), WriteError> + 'a;

type Sources<'a> = Vec<(PayloadName, Box<dyn Source + 'a>)>;

fn in_layout_order(mut given: Sources<'_>) -> Result<Sources<'_>, WriteError> {
    for (i, (name, _)) in given.iter().enumerate() {
        if given[..i].iter().any(|(n, _)| n == name) {
            return Err(WriteError::DuplicatePayload { name: *name });
        }
    }
    let mut ordered = Vec::with_capacity(given.len());
    for name in PayloadName::ALL {
        let Some(at) = given.iter().position(|(n, _)| *n == name) else {
            return Err(WriteError::MissingPayload { name });
        };
        ordered.push(given.swap_remove(at));
    }
    Ok(ordered)
}

/// Reads a source from its start to its end, hashing, handing each chunk to
/// `sink` if given. Returns the size and the sha256.
fn read_through(
    name: PayloadName,
    source: &mut dyn Source,
    mut sink: Option<&mut ChunkSink<'_>>,
) -> Result<(u64, [u8; 32]), WriteError> {
    let source_error = |source| WriteError::Source { name, source };
    source.rewind().map_err(source_error)?;
    let mut buffer = vec![0u8; COPY_BUFFER];
    let mut hasher = Sha256::new();
    let mut size = 0u64;
    loop {
        let n = match source.read(&mut buffer) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(source_error(e)),
        };
        size += n as u64;
        if size > MAX_PAYLOAD_SIZE {
            return Err(WriteError::PayloadTooLarge { name, size });
        }
        hasher.update(&buffer[..n]);
        if let Some(sink) = sink.as_mut() {
            sink(&buffer[..n])?;
        }
    }
    Ok((size, hasher.finalize().into()))
}

fn check_unchanged(payload: &Payload, size: u64, sha256: [u8; 32]) -> Result<(), WriteError> {
    if size == payload.size && sha256 == payload.sha256 {
        Ok(())
    } else {
        Err(WriteError::SourceChanged { name: payload.name })
    }
}

/// The output, with the offset every error names.
struct Output<W> {
    inner: W,
    at: u64,
}

impl<W: Write> Output<W> {
    fn write(&mut self, bytes: &[u8]) -> Result<(), WriteError> {
        self.inner
            .write_all(bytes)
            .map_err(|source| WriteError::Output {
                offset: self.at,
                source,
            })?;
        self.at += bytes.len() as u64;
        Ok(())
    }

    fn zeros_to(&mut self, offset: u64) -> Result<(), WriteError> {
        let zeros = [0u8; 4096];
        while self.at < offset {
            let n = (offset - self.at).min(zeros.len() as u64) as usize;
            self.write(&zeros[..n])?;
        }
        Ok(())
    }

    fn flush(&mut self) -> Result<(), WriteError> {
        self.inner.flush().map_err(|source| WriteError::Output {
            offset: self.at,
            source,
        })
    }
}
