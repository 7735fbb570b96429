//! The read ends of every app's stdout and stderr pipes.
//!
//! A pipe lives as long as any process holds its write end, which may be
//! longer than the instance that was started with it (a background child) or
//! shorter (an app that closes stdout). So streams are tracked on their own,
//! read whenever poll says so, and dropped at end of file, after their last
//! partial line has gone to the console.

use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};

use super::output::LineBuffer;
use crate::console;

/// How much one stream may deliver per poll round, so a chatty app cannot
/// starve the others or PID 1's own work.
const READ_BUDGET: usize = 64 * 1024;

#[derive(Debug)]
struct Stream {
    label: String,
    fd: OwnedFd,
    lines: LineBuffer,
}

/// Every open output pipe.
#[derive(Debug, Default)]
pub struct Streams {
    list: Vec<Stream>,
}

fn emit_line(label: &str, line: String) {
    console::write_line(&format!("[{label}] {line}"));
}

impl Stream {
    /// Reads what is there; false once the stream has ended.
    fn read_available(&mut self) -> bool {
        let mut buf = [0u8; 16 * 1024];
        let mut total = 0;
        let label = &self.label;
        loop {
            match nix::unistd::read(self.fd.as_raw_fd(), &mut buf) {
                Ok(0) => {
                    self.lines.finish(&mut |line| emit_line(label, line));
                    return false;
                }
                Ok(n) => {
                    self.lines
                        .push(&buf[..n], &mut |line| emit_line(label, line));
                    total += n;
                    if total >= READ_BUDGET {
                        return true;
                    }
                }
                Err(nix::errno::Errno::EINTR) => continue,
                Err(nix::errno::Errno::EAGAIN) => return true,
                Err(_) => {
                    self.lines.finish(&mut |line| emit_line(label, line));
                    return false;
                }
            }
        }
    }
}

impl Streams {
    /// Starts reading `fd` (made non-blocking) as output of `label`.
    pub fn add(&mut self, label: &str, fd: OwnedFd) -> io::Result<()> {
        crate::sys::fd::set_nonblocking(&fd)?;
        self.list.push(Stream {
            label: label.to_string(),
            fd,
            lines: LineBuffer::default(),
        });
        Ok(())
    }

    /// The descriptors to poll for input, in a stable order.
    pub fn fds(&self) -> Vec<BorrowedFd<'_>> {
        self.list.iter().map(|s| s.fd.as_fd()).collect()
    }

    /// Reads the streams whose `ready` flag is set (same order as [`fds`]),
    /// dropping those that ended.
    ///
    /// [`fds`]: Streams::fds
    pub fn service(&mut self, ready: &[bool]) {
        let mut index = 0;
        self.list.retain_mut(|stream| {
            let keep = if ready.get(index).copied().unwrap_or(false) {
                stream.read_available()
            } else {
                true
            };
            index += 1;
            keep
        });
    }

    /// Reads everything available on every stream now: the last lines of apps
    /// that were just stopped.
    pub fn drain_all(&mut self) {
        self.list.retain_mut(Stream::read_available);
    }

    /// How many streams are open.
    pub fn len(&self) -> usize {
        self.list.len()
    }
}
