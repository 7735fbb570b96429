//! Capturing the guest's serial console line by line, so callers can wait for
//! a line and read the whole log afterwards.

use std::io::{BufRead, BufReader, Read, Write};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

/// One console line and when it arrived, counted from QEMU's start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SerialLine {
    pub at: Duration,
    pub text: String,
}

#[derive(Debug, Default)]
struct State {
    lines: Vec<SerialLine>,
    /// How many streams are still open; when it reaches zero no line will come.
    open_streams: usize,
}

/// The shared, growing log of captured lines.
#[derive(Debug, Clone)]
pub struct SerialLog {
    inner: Arc<(Mutex<State>, Condvar)>,
    started: Instant,
}

impl SerialLog {
    pub fn new(started: Instant) -> SerialLog {
        SerialLog {
            inner: Arc::new((Mutex::new(State::default()), Condvar::new())),
            started,
        }
    }

    fn state(&self) -> MutexGuard<'_, State> {
        // A reader thread cannot panic while holding the lock, but if one did
        // the lines are still worth having.
        self.inner.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Starts a thread that appends every line of `stream` (with `prefix`),
    /// optionally echoing it to stderr. `\r` is dropped; invalid UTF-8 is
    /// replaced rather than fatal.
    pub fn capture<R: Read + Send + 'static>(
        &self,
        stream: R,
        prefix: &'static str,
        echo: bool,
    ) -> JoinHandle<()> {
        self.state().open_streams += 1;
        let log = self.clone();
        thread::spawn(move || {
            let mut reader = BufReader::new(stream);
            let mut buf = Vec::new();
            loop {
                buf.clear();
                match reader.read_until(b'\n', &mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(_) => {
                        let text = String::from_utf8_lossy(&buf)
                            .trim_end_matches(['\n', '\r'])
                            .replace('\r', "");
                        let text = format!("{prefix}{text}");
                        if echo {
                            let _ = writeln!(std::io::stderr(), "{text}");
                        }
                        log.push(text);
                    }
                }
            }
            let mut state = log.state();
            state.open_streams -= 1;
            log.inner.1.notify_all();
        })
    }

    /// Appends a line now.
    pub fn push(&self, text: String) {
        let at = self.started.elapsed();
        self.state().lines.push(SerialLine { at, text });
        self.inner.1.notify_all();
    }

    /// A snapshot of every line so far.
    pub fn lines(&self) -> Vec<SerialLine> {
        self.state().lines.clone()
    }

    /// How many lines have arrived so far (an index to wait from).
    pub fn len(&self) -> usize {
        self.state().lines.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Waits until a line at index `from` or later satisfies `matches`;
    /// returns its index and text. Fails on timeout or when every captured
    /// stream has closed (QEMU is gone) without such a line.
    pub fn wait_for(
        &self,
        from: usize,
        matches: &dyn Fn(&str) -> bool,
        timeout: Duration,
    ) -> Result<(usize, String), WaitError> {
        let deadline = Instant::now() + timeout;
        let mut state = self.state();
        let mut checked = from;
        loop {
            if let Some(found) = state
                .lines
                .iter()
                .enumerate()
                .skip(checked)
                .find(|(_, line)| matches(&line.text))
            {
                return Ok((found.0, found.1.text.clone()));
            }
            checked = checked.max(state.lines.len());
            if state.open_streams == 0 {
                return Err(WaitError::Closed);
            }
            let now = Instant::now();
            if now >= deadline {
                return Err(WaitError::Timeout(timeout));
            }
            state = self
                .inner
                .1
                .wait_timeout(state, deadline - now)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
    }

    /// The whole log, one line per line, each with its time stamp.
    pub fn render(&self) -> String {
        let mut out = String::new();
        for line in self.state().lines.iter() {
            out.push_str(&format!(
                "[{:>4}.{:03}] {}\n",
                line.at.as_secs(),
                line.at.subsec_millis(),
                line.text
            ));
        }
        out
    }
}

/// Why waiting for a line ended without one.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WaitError {
    #[error("no such line within {0:?}")]
    Timeout(Duration),
    #[error("qemu's output ended without such a line")]
    Closed,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn captures_lines_and_finds_them_from_an_index() {
        let log = SerialLog::new(Instant::now());
        let handle = log.capture(&b"one\r\ntwo\nthree\r\ntwo again"[..], "", false);
        handle.join().unwrap();
        let texts: Vec<_> = log.lines().into_iter().map(|l| l.text).collect();
        assert_eq!(texts, ["one", "two", "three", "two again"]);
        let found = log.wait_for(0, &|l| l.starts_with("two"), Duration::from_secs(1));
        assert_eq!(found, Ok((1, "two".to_string())));
        let later = log.wait_for(2, &|l| l.starts_with("two"), Duration::from_secs(1));
        assert_eq!(later, Ok((3, "two again".to_string())));
    }

    #[test]
    fn a_closed_stream_ends_the_wait() {
        let log = SerialLog::new(Instant::now());
        log.capture(&b"only\n"[..], "", false).join().unwrap();
        let result = log.wait_for(0, &|l| l == "never", Duration::from_secs(30));
        assert_eq!(result, Err(WaitError::Closed));
    }

    #[test]
    fn waits_for_a_line_that_arrives_later_and_times_out_otherwise() {
        let log = SerialLog::new(Instant::now());
        let (reader, mut writer) = std::os::unix::net::UnixStream::pair().unwrap();
        let _handle = log.capture(reader, "> ", false);
        let writer_thread = thread::spawn(move || {
            thread::sleep(Duration::from_millis(100));
            writer.write_all(b"late line\n").unwrap();
            writer
        });
        let found = log.wait_for(0, &|l| l.contains("late"), Duration::from_secs(10));
        assert_eq!(found, Ok((0, "> late line".to_string())));
        let _writer = writer_thread.join().unwrap();
        let missing = log.wait_for(0, &|l| l.contains("never"), Duration::from_millis(100));
        assert_eq!(missing, Err(WaitError::Timeout(Duration::from_millis(100))));
        assert!(log.render().contains("] > late line\n"));
    }
}
