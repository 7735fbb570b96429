//! A window onto part of a larger device, so a volume inside a disk image
//! (a partition of it) can be formatted or opened as if it started at byte 0.

use std::io::{self, Read, Seek, SeekFrom, Write};

/// `len` bytes of `inner` from byte `start` on, seen as a device of its own.
/// Reads stop at the window's end; writes past it fail.
#[derive(Debug)]
pub struct Window<D> {
    inner: D,
    start: u64,
    len: u64,
    pos: u64,
}

impl<D> Window<D> {
    /// The window of `len` bytes at `start`.
    pub fn new(inner: D, start: u64, len: u64) -> Self {
        Window {
            inner,
            start,
            len,
            pos: 0,
        }
    }

    /// Gives the device back.
    pub fn into_inner(self) -> D {
        self.inner
    }

    fn left(&self) -> u64 {
        self.len.saturating_sub(self.pos)
    }
}

impl<D: Seek> Window<D> {
    fn place(&mut self) -> io::Result<()> {
        let at = self
            .start
            .checked_add(self.pos)
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "offset overflows"))?;
        self.inner.seek(SeekFrom::Start(at)).map(|_| ())
    }
}

impl<D: Read + Seek> Read for Window<D> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = usize::try_from(self.left())
            .unwrap_or(usize::MAX)
            .min(buf.len());
        if n == 0 {
            return Ok(0);
        }
        self.place()?;
        let read = self.inner.read(buf.get_mut(..n).unwrap_or(&mut []))?;
        self.pos += read as u64;
        Ok(read)
    }
}

impl<D: Write + Seek> Write for Window<D> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        if buf.len() as u64 > self.left() {
            return Err(io::Error::new(
                io::ErrorKind::WriteZero,
                format!(
                    "a write of {} bytes at {} passes the window's end at {}",
                    buf.len(),
                    self.pos,
                    self.len
                ),
            ));
        }
        self.place()?;
        let written = self.inner.write(buf)?;
        self.pos += written as u64;
        Ok(written)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

impl<D> Seek for Window<D> {
    fn seek(&mut self, to: SeekFrom) -> io::Result<u64> {
        let base = match to {
            SeekFrom::Start(n) => Some(n),
            SeekFrom::End(d) => self.len.checked_add_signed(d),
            SeekFrom::Current(d) => self.pos.checked_add_signed(d),
        };
        self.pos = base.ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                "seek before the window's start",
            )
        })?;
        Ok(self.pos)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Cursor;

    #[test]
    fn reads_and_writes_inside_only() {
        let mut w = Window::new(Cursor::new(vec![0u8; 16]), 4, 8);
        w.write_all(b"abcd").unwrap();
        assert_eq!(w.seek(SeekFrom::End(0)).unwrap(), 8);
        assert!(w.write_all(b"x").is_err());
        w.seek(SeekFrom::Start(2)).unwrap();
        let mut buf = Vec::new();
        w.read_to_end(&mut buf).unwrap();
        assert_eq!(buf, b"cd\0\0\0\0");
        let inner = w.into_inner().into_inner();
        assert_eq!(&inner[..8], b"\0\0\0\0abcd");
    }
}
