//! A console that never makes its writer wait.
//!
//! A serial console is slow and can stall (flow control, a detached
//! terminal); so can a terminal or a pipe a developer's tool writes to. The
//! console is written O_NONBLOCK and lines are queued in a bounded buffer
//! that the owner drains when the descriptor is writable. When the buffer is
//! full, whole lines are dropped and counted; once there is room again the
//! console prints `cairn: console dropped N lines` so the gap is visible.

use std::os::fd::{AsFd, OwnedFd};

/// A non-blocking line sink with a bounded queue.
#[derive(Debug)]
pub struct Console {
    fd: Option<OwnedFd>,
    pending: Vec<u8>,
    cap: usize,
    dropped: u64,
}

impl Console {
    /// A console with nowhere to write yet; lines queue up to `cap` bytes.
    pub const fn closed(cap: usize) -> Console {
        Console {
            fd: None,
            pending: Vec::new(),
            cap,
            dropped: 0,
        }
    }

    /// Writes to `fd` from now on.
    pub fn attach(&mut self, fd: OwnedFd) {
        self.fd = Some(fd);
    }

    /// Queues one line (a newline is added) and writes what the console
    /// accepts without blocking.
    pub fn write_line(&mut self, line: &str) {
        self.flush();
        if self.dropped > 0 {
            let notice = format!("cairn: console dropped {} lines\n", self.dropped);
            if self.pending.len() + notice.len() <= self.cap {
                self.pending.extend_from_slice(notice.as_bytes());
                self.dropped = 0;
            }
        }
        if self.dropped > 0 || self.pending.len() + line.len() + 1 > self.cap {
            self.dropped += 1;
            return;
        }
        self.pending.extend_from_slice(line.as_bytes());
        self.pending.push(b'\n');
        self.flush();
    }

    /// Writes queued bytes until the console would block.
    pub fn flush(&mut self) {
        let Some(fd) = &self.fd else { return };
        let mut written = 0;
        while let Some(rest) = self.pending.get(written..).filter(|rest| !rest.is_empty()) {
            match nix::unistd::write(fd.as_fd(), rest) {
                Ok(0) => break,
                Ok(n) => written += n,
                Err(nix::errno::Errno::EINTR) => continue,
                Err(nix::errno::Errno::EAGAIN) => break,
                Err(_) => {
                    // The console is gone (EIO on a hung-up tty): discard
                    // rather than let the queue pin memory forever.
                    self.dropped += count_lines(rest);
                    written = self.pending.len();
                }
            }
        }
        // write(2) never reports more than it was given; the bound keeps a
        // misreport from panicking here.
        self.pending.drain(..written.min(self.pending.len()));
    }

    /// True when bytes wait for the console to become writable.
    pub fn has_pending(&self) -> bool {
        self.fd.is_some() && !self.pending.is_empty()
    }

    /// Lines dropped and not yet reported.
    pub fn dropped(&self) -> u64 {
        self.dropped
    }

    /// A duplicate of the console descriptor for the poll loop.
    pub fn poll_handle(&self) -> Option<OwnedFd> {
        self.fd.as_ref().and_then(|fd| fd.try_clone().ok())
    }
}

fn count_lines(bytes: &[u8]) -> u64 {
    bytes.iter().filter(|&&b| b == b'\n').count() as u64
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    fn pipe_console(cap: usize) -> (Console, std::fs::File) {
        let (read, write) = nix::unistd::pipe().unwrap();
        cairn_sys::fd::set_nonblocking(&write).unwrap();
        cairn_sys::fd::set_nonblocking(&read).unwrap();
        let mut console = Console::closed(cap);
        console.attach(write);
        (console, std::fs::File::from(read))
    }

    fn read_all(reader: &mut std::fs::File) -> String {
        let mut out = Vec::new();
        let mut buf = [0u8; 65536];
        while let Ok(n) = reader.read(&mut buf) {
            if n == 0 {
                break;
            }
            out.extend_from_slice(&buf[..n]);
        }
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn writes_whole_lines() {
        let (mut console, mut reader) = pipe_console(1024);
        console.write_line("cairn: one");
        console.write_line("[web] two");
        assert_eq!(read_all(&mut reader), "cairn: one\n[web] two\n");
        assert!(!console.has_pending());
    }

    #[test]
    fn drops_and_reports_lines_when_the_console_is_stuck() {
        let (mut console, mut reader) = pipe_console(200);
        // Fill the pipe (64 KiB) so nothing more can be written.
        let filler = "x".repeat(99);
        let mut lines = 0;
        while console.dropped() == 0 {
            console.write_line(&filler);
            lines += 1;
            assert!(lines < 10_000, "console never filled");
        }
        console.write_line("lost too");
        assert_eq!(console.dropped(), 2);
        // Unstick it: everything queued goes out, then the notice, then new lines.
        let before = read_all(&mut reader);
        assert!(before.lines().all(|l| l == filler));
        console.write_line("after");
        console.flush();
        let after = read_all(&mut reader);
        assert!(
            after.ends_with("cairn: console dropped 2 lines\nafter\n"),
            "{after:?}"
        );
        // Only whole lines were ever written.
        assert_eq!(
            (before.clone() + &after)
                .lines()
                .filter(|l| l.is_empty())
                .count(),
            0
        );
    }
}
