//! Copying one payload while hashing it.

use std::io::{Read, Write};
use std::ops::Range;

use sha2::{Digest, Sha256};

use crate::error::{ReadError, Region};
use crate::manifest::Payload;
use crate::position::Positioned;

/// Copies `payload` (at `range` in the bundle) from `source` into `out` in
/// chunks of `buffer`'s size, then compares the hash.
///
/// Each chunk is read completely before it is written, so a block device
/// sees whole, page-aligned writes however small the pieces the source
/// delivers (a network body). The hash is known only at the end: by then
/// the bytes are in `out`, and the caller must treat the target as garbage
/// on any error.
pub(crate) fn copy<R: Read, W: Write + ?Sized>(
    source: &mut Positioned<R>,
    out: &mut W,
    payload: &Payload,
    range: Range<u64>,
    buffer: &mut [u8],
) -> Result<(), ReadError> {
    let name = payload.name;
    let write_error = |written: u64, source| ReadError::Write {
        name,
        start: range.start,
        end: range.end,
        written,
        source,
    };
    let mut hasher = Sha256::new();
    let mut written = 0u64;
    while written < payload.size {
        let n = (payload.size - written).min(buffer.len() as u64) as usize;
        let chunk = &mut buffer[..n];
        source.fill(chunk, Region::Payload(name), range.start, range.end)?;
        hasher.update(&*chunk);
        out.write_all(chunk).map_err(|e| write_error(written, e))?;
        written += n as u64;
    }
    out.flush().map_err(|e| write_error(written, e))?;
    let actual: [u8; 32] = hasher.finalize().into();
    if actual != payload.sha256 {
        return Err(ReadError::HashMismatch {
            name,
            start: range.start,
            end: range.end,
            expected: hex::encode(payload.sha256),
            actual: hex::encode(actual),
        });
    }
    Ok(())
}
