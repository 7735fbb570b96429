//! A reader that knows how far into the bundle it is, so that every error
//! can say where it happened.

use std::io::{self, Read};

use crate::error::{ReadError, Region};

pub(crate) struct Positioned<R> {
    inner: R,
    position: u64,
}

impl<R: Read> Positioned<R> {
    pub fn new(inner: R, position: u64) -> Self {
        Positioned { inner, position }
    }

    pub fn position(&self) -> u64 {
        self.position
    }

    pub fn into_inner(self) -> R {
        self.inner
    }

    /// Fills `buf` completely. `region_start..region_end` is the part of the
    /// bundle being read, named in a truncation error.
    pub fn fill(
        &mut self,
        buf: &mut [u8],
        region: Region,
        region_start: u64,
        region_end: u64,
    ) -> Result<(), ReadError> {
        let mut filled = 0;
        while filled < buf.len() {
            match self.inner.read(&mut buf[filled..]) {
                Ok(0) => {
                    return Err(ReadError::Truncated {
                        region,
                        start: region_start,
                        end: region_end,
                        at: self.position,
                    })
                }
                Ok(n) => {
                    filled += n;
                    self.position += n as u64;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(source) => {
                    return Err(ReadError::Io {
                        offset: self.position,
                        region,
                        source,
                    })
                }
            }
        }
        Ok(())
    }

    /// Reads the whole of a region into a buffer allocated at its size; the
    /// caller has bounded that size.
    pub fn read_region(
        &mut self,
        region: Region,
        start: u64,
        len: usize,
    ) -> Result<Vec<u8>, ReadError> {
        let mut buf = vec![0u8; len];
        self.fill(&mut buf, region, start, start + len as u64)?;
        Ok(buf)
    }

    /// True when the reader has nothing more to give.
    pub fn at_end(&mut self) -> Result<bool, ReadError> {
        let mut probe = [0u8; 1];
        loop {
            match self.inner.read(&mut probe) {
                Ok(0) => return Ok(true),
                Ok(_) => return Ok(false),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(source) => {
                    return Err(ReadError::Io {
                        offset: self.position,
                        region: Region::End,
                        source,
                    })
                }
            }
        }
    }
}
