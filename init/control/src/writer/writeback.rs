//! The bank partition as the writer fills it: each 8 MiB window is handed
//! to the disk as soon as it is complete, and the writer waits for the one
//! handed over [`IN_FLIGHT`] windows before. The disk then works while the
//! next chunks are read and hashed, instead of all at the final sync, and a
//! device with little memory never holds a whole bank's worth of dirty
//! pages.

use std::fs::File;
use std::io::{self, Write};

use cairn_sys::writeback;

const WINDOW: u64 = 8 << 20;
/// Windows on their way to the disk at once: enough to ride out a slow
/// moment of the device, few enough (32 MiB) for a small board's memory.
const IN_FLIGHT: u64 = 4;

pub struct Streaming {
    file: File,
    written: u64,
    /// Where the next window to hand to the disk starts.
    started: u64,
    /// False once the kernel refused a hint (a file system without
    /// support): the final sync then does all the work, as it would anyway.
    hinting: bool,
}

impl Streaming {
    pub fn new(file: File) -> Streaming {
        Streaming {
            file,
            written: 0,
            started: 0,
            hinting: true,
        }
    }

    fn hand_over_windows(&mut self) {
        while self.hinting && self.written - self.started >= WINDOW {
            let previous = self.started.checked_sub(IN_FLIGHT * WINDOW);
            let handed = writeback::start(&self.file, self.started, WINDOW).and_then(|()| {
                previous.map_or(Ok(()), |at| writeback::wait(&self.file, at, WINDOW))
            });
            // An I/O error shows again in the final sync, which fails the
            // update; a hint is never what decides it.
            self.hinting = handed.is_ok();
            self.started += WINDOW;
        }
    }

    /// Makes every byte durable: the final `fsync`.
    pub fn sync_all(&self) -> io::Result<()> {
        self.file.sync_all()
    }
}

impl Write for Streaming {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        let n = self.file.write(bytes)?;
        self.written += n as u64;
        self.hand_over_windows();
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.file.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Seek};

    #[test]
    fn every_byte_arrives_in_order_across_windows() {
        let file = tempfile::tempfile().unwrap();
        let mut out = Streaming::new(file.try_clone().unwrap());
        let bytes: Vec<u8> = (0..(3 * WINDOW + 12345)).map(|i| (i % 251) as u8).collect();
        for piece in bytes.chunks(1 << 20) {
            out.write_all(piece).unwrap();
        }
        out.sync_all().unwrap();
        assert!(out.hinting, "a regular file takes the hints");
        assert_eq!(out.started, 3 * WINDOW);
        let mut back = Vec::new();
        let mut file = file;
        file.rewind().unwrap();
        file.read_to_end(&mut back).unwrap();
        assert!(back == bytes);
    }
}
