//! Progress while a payload is copied: a writer that counts, and reports at
//! most a few times a second so the API's connection is not flooded.

use std::io::{self, Write};
use std::time::{Duration, Instant};

use crate::protocol::WriterEvent;

use super::session::Events;

const EVERY: Duration = Duration::from_millis(250);

pub struct Progress<'a, W> {
    inner: W,
    payload: &'static str,
    written: u64,
    total: u64,
    last: Instant,
    events: &'a mut dyn Events,
}

impl<'a, W: Write> Progress<'a, W> {
    pub fn new(
        inner: W,
        payload: &'static str,
        total: u64,
        events: &'a mut dyn Events,
    ) -> Progress<'a, W> {
        Progress {
            inner,
            payload,
            written: 0,
            total,
            last: Instant::now(),
            events,
        }
    }

    fn report(&mut self) {
        self.last = Instant::now();
        self.events.send(&WriterEvent::Progress {
            payload: self.payload.to_owned(),
            written: self.written,
            total: self.total,
        });
    }

    /// Reports the end of the payload.
    pub fn finish(mut self) {
        self.report();
    }
}

impl<W: Write> Write for Progress<'_, W> {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(bytes)?;
        self.written = self.written.saturating_add(n as u64);
        if self.last.elapsed() >= EVERY {
            self.report();
        }
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

impl<W> std::fmt::Debug for Progress<'_, W> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Progress")
            .field("payload", &self.payload)
            .field("written", &self.written)
            .field("total", &self.total)
            .finish_non_exhaustive()
    }
}
