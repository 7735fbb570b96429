//! Copying one payload while hashing it.

use std::io::{self, Read, Write};
use std::ops::Range;
use std::sync::mpsc::{self, Receiver, SyncSender};
use std::sync::Arc;
use std::thread::{Scope, ScopedJoinHandle};

use sha2::{Digest, Sha256};

use crate::error::{ReadError, Region};
use crate::manifest::Payload;
use crate::position::Positioned;

/// Where the hash of a payload is computed: on a second core while this
/// one writes, or here when no thread could be started.
enum Hashing<'scope> {
    Thread {
        chunks: SyncSender<(Arc<Vec<u8>>, usize)>,
        hashed: Receiver<()>,
        thread: ScopedJoinHandle<'scope, Sha256>,
    },
    Here(Sha256),
}

impl<'scope> Hashing<'scope> {
    fn start<'env>(scope: &'scope Scope<'scope, 'env>) -> Hashing<'scope> {
        let (chunks, to_hash) = mpsc::sync_channel::<(Arc<Vec<u8>>, usize)>(1);
        let (done, hashed) = mpsc::sync_channel(1);
        let spawned = std::thread::Builder::new()
            .name("payload-hash".into())
            .spawn_scoped(scope, move || {
                let mut hasher = Sha256::new();
                for (chunk, n) in to_hash {
                    hasher.update(&chunk[..n]);
                    // The buffer goes back to the copier before it hears
                    // that the chunk is done.
                    drop(chunk);
                    if done.send(()).is_err() {
                        break;
                    }
                }
                hasher
            });
        match spawned {
            Ok(thread) => Hashing::Thread {
                chunks,
                hashed,
                thread,
            },
            Err(_) => Hashing::Here(Sha256::new()),
        }
    }

    /// Starts hashing `chunk[..n]`.
    fn send(&mut self, chunk: &Arc<Vec<u8>>, n: usize) {
        match self {
            Hashing::Thread { chunks, .. } => {
                // A send fails only if the thread is gone, which `finish`
                // reports.
                let _ = chunks.send((Arc::clone(chunk), n));
            }
            Hashing::Here(hasher) => hasher.update(&chunk[..n]),
        }
    }

    /// Waits until the chunk sent last is hashed (and its buffer free).
    fn wait(&mut self) {
        if let Hashing::Thread { hashed, .. } = self {
            let _ = hashed.recv();
        }
    }

    /// The hash of every chunk sent, or `None` if the thread failed (which
    /// only a bug can do; the copy must then not count as verified).
    fn finish(self) -> Option<[u8; 32]> {
        let hasher = match self {
            Hashing::Thread { chunks, thread, .. } => {
                drop(chunks);
                thread.join().ok()?
            }
            Hashing::Here(hasher) => hasher,
        };
        Some(hasher.finalize().into())
    }
}

/// Copies `payload` (at `range` in the bundle) from `source` into `out` in
/// chunks of up to `chunk_size` bytes, then compares the hash.
///
/// Each chunk is read completely before it is written, so a block device
/// sees whole, page-aligned writes however small the pieces the source
/// delivers (a network body). While one chunk is hashed on a second core,
/// it is written and the next one is read on this one, so a payload moves
/// at the speed of the slower of the two rather than of their sum. The hash
/// is known only at the end: by then the bytes are in `out`, and the caller
/// must treat the target as garbage on any error.
pub(crate) fn copy<R: Read, W: Write + ?Sized>(
    source: &mut Positioned<R>,
    out: &mut W,
    payload: &Payload,
    range: Range<u64>,
    chunk_size: usize,
) -> Result<(), ReadError> {
    let name = payload.name;
    let write_error = |written: u64, source| ReadError::Write {
        name,
        start: range.start,
        end: range.end,
        written,
        source,
    };
    let chunk_at = |written: u64| (payload.size - written).min(chunk_size.max(1) as u64) as usize;
    let region = Region::Payload(name);
    let first = chunk_at(0);
    let mut current = Arc::new(vec![0u8; first]);
    let mut next = Arc::new(vec![0u8; first]);
    let mut written = 0u64;
    let actual = std::thread::scope(|scope| {
        let mut hashing = Hashing::start(scope);
        let mut n = first;
        if n > 0 {
            source.fill(buffer(&mut current)?, region, range.start, range.end)?;
        }
        while n > 0 {
            hashing.send(&current, n);
            let wrote = out.write_all(&current[..n]);
            let after = written + n as u64;
            let next_n = chunk_at(after);
            let read = match (&wrote, next_n) {
                (Ok(()), 1..) => buffer(&mut next)
                    .and_then(|b| source.fill(&mut b[..next_n], region, range.start, range.end)),
                _ => Ok(()),
            };
            hashing.wait();
            wrote.map_err(|e| write_error(written, e))?;
            read?;
            written = after;
            std::mem::swap(&mut current, &mut next);
            n = next_n;
        }
        hashing
            .finish()
            .ok_or_else(|| write_error(written, io::Error::other("the hashing thread failed")))
    })?;
    out.flush().map_err(|e| write_error(written, e))?;
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

/// The chunk buffer, once the hashing thread has let go of it.
fn buffer(chunk: &mut Arc<Vec<u8>>) -> Result<&mut [u8], ReadError> {
    Arc::get_mut(chunk)
        .map(Vec::as_mut_slice)
        .ok_or(ReadError::StreamFailed)
}
