//! Streaming the payloads of a verified bundle, in file order, from any
//! reader: no seeking, so a request body works as well as a file.

use std::fmt;
use std::io::{Read, Write};

use crate::bundle::VerifiedManifest;
use crate::error::{ReadError, Region};
use crate::format::{align_up, PAYLOAD_ALIGN};
use crate::hashing;
use crate::manifest::Payload;
use crate::position::Positioned;

/// Bytes per write into the target: large enough that a block device or a
/// flash controller sees few, big writes, small enough to sit in a service
/// with a tight memory limit.
pub const DEFAULT_CHUNK_SIZE: usize = 1 << 20;

/// Copies payloads out of a bundle after [`crate::Bundle::read_header`].
///
/// ```no_run
/// # use std::fs::File;
/// # use cairn_update::{Bundle, Keyring, PayloadName, PayloadStream};
/// # fn demo(mut body: impl std::io::Read, keys: &Keyring) -> Result<(), Box<dyn std::error::Error>> {
/// let verified = Bundle::read_header(&mut body, keys)?;
/// let mut stream = PayloadStream::new(&verified, &mut body);
/// while let Some(payload) = stream.next_payload() {
///     let mut target = match payload.name {
///         PayloadName::Bank => File::options().write(true).open("/dev/disk/by-partlabel/cairn-b")?,
///         PayloadName::Linux => File::create("/boot/efi/cairn/new/linux")?,
///         PayloadName::Initrd => File::create("/boot/efi/cairn/new/initrd")?,
///     };
///     stream.copy_next(&mut target)?; // on error: the target bank stays unbootable
///     target.sync_all()?;
/// }
/// stream.finish()?; // refuses trailing data
/// # Ok(()) }
/// ```
pub struct PayloadStream<'m, R> {
    verified: &'m VerifiedManifest,
    source: Positioned<R>,
    next: usize,
    chunk_size: usize,
    failed: bool,
}

impl<'m, R: Read> PayloadStream<'m, R> {
    /// `reader` must be positioned where `read_header` left it: just after
    /// the signature block.
    pub fn new(verified: &'m VerifiedManifest, reader: R) -> PayloadStream<'m, R> {
        PayloadStream {
            verified,
            source: Positioned::new(reader, verified.header_end()),
            next: 0,
            chunk_size: DEFAULT_CHUNK_SIZE,
            failed: false,
        }
    }

    /// Bytes per write, rounded up to a multiple of 4096.
    pub fn with_chunk_size(mut self, bytes: usize) -> PayloadStream<'m, R> {
        self.chunk_size = (align_up(bytes.max(1) as u64) as usize).max(PAYLOAD_ALIGN as usize);
        self
    }

    /// The payload the next [`copy_next`](Self::copy_next) copies.
    pub fn next_payload(&self) -> Option<&'m Payload> {
        if self.failed {
            return None;
        }
        self.verified.manifest().payloads.get(self.next)
    }

    /// Copies the next payload into `out` and checks its hash; returns which
    /// payload it was. On any error the bytes already written to `out` are
    /// garbage, and the stream is over.
    pub fn copy_next<W: Write + ?Sized>(&mut self, out: &mut W) -> Result<&'m Payload, ReadError> {
        if self.failed {
            return Err(ReadError::StreamFailed);
        }
        let Some(payload) = self.next_payload() else {
            return Err(ReadError::NoPayloadLeft);
        };
        // Any error leaves the reader somewhere inside the bundle.
        self.failed = true;
        let range = self.verified.bundle_range(payload);
        self.skip_padding(
            range.start,
            Region::Padding {
                before: payload.name,
            },
        )?;
        let size = self.chunk_size.min(align_up(payload.size) as usize);
        hashing::copy(&mut self.source, out, payload, range, size)?;
        self.failed = false;
        self.next += 1;
        Ok(payload)
    }

    /// Ends the stream: every payload must have been copied, and the reader
    /// must be at its end. Returns the reader.
    pub fn finish(mut self) -> Result<R, ReadError> {
        if self.failed {
            return Err(ReadError::StreamFailed);
        }
        if let Some(payload) = self.verified.manifest().payloads.get(self.next) {
            return Err(ReadError::PayloadNotCopied { name: payload.name });
        }
        if !self.source.at_end()? {
            return Err(ReadError::TrailingData {
                offset: self.source.position(),
            });
        }
        Ok(self.source.into_inner())
    }

    /// Reads the zero bytes up to `to` (fewer than 4096 by the layout rules).
    fn skip_padding(&mut self, to: u64, region: Region) -> Result<(), ReadError> {
        let start = self.source.position();
        let mut padding = [0u8; PAYLOAD_ALIGN as usize];
        while self.source.position() < to {
            let at = self.source.position();
            let len = (to - at).min(PAYLOAD_ALIGN) as usize;
            let padding = &mut padding[..len];
            self.source.fill(padding, region, start, to)?;
            if let Some(i) = padding.iter().position(|&b| b != 0) {
                return Err(ReadError::NonZeroPadding {
                    region,
                    start,
                    end: to,
                    offset: at + i as u64,
                });
            }
        }
        Ok(())
    }
}

impl<R> fmt::Debug for PayloadStream<'_, R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PayloadStream")
            .field("next", &self.next)
            .field("chunk_size", &self.chunk_size)
            .field("failed", &self.failed)
            .finish_non_exhaustive()
    }
}
