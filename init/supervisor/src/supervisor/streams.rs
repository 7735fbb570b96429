//! The read ends of every app's stdout and stderr pipes.
//!
//! A pipe lives as long as any process holds its write end, which may be
//! longer than the instance that was started with it (a background child) or
//! shorter (an app that closes stdout). So streams are tracked on their own,
//! read whenever poll says so, and dropped at end of file, after their last
//! partial line has gone to the console.
//!
//! Every line goes to the [`Sink`] (in PID 1: the logging hub, with its files,
//! remote syslog and ring of recent lines, and the console unless the app is
//! over its console rate).
//!
//! Each instance's stderr lines are also kept in a [`Tail`] of the last
//! [`TAIL_LINES`](cairn_logging::line::TAIL_LINES), which outlives the pipe: when
//! the instance crashes, the tail is its crash report.

use std::collections::BTreeMap;
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};

use cairn_logging::line::{LineBuffer, Tail};
use cairn_logging::Stream as Output;

use super::Sink;

/// How much one stream may deliver per poll round, so a chatty app cannot
/// starve the others or PID 1's own work.
const READ_BUDGET: usize = 64 * 1024;

#[derive(Debug)]
struct Stream {
    label: String,
    fd: OwnedFd,
    lines: LineBuffer,
    /// The instance that was started with it.
    owner: Option<usize>,
    /// It is the owner's stderr: its lines also go to the owner's tail.
    keep_tail: bool,
}

/// Every open output pipe, and each instance's stderr tail.
#[derive(Debug, Default)]
pub struct Streams {
    list: Vec<Stream>,
    tails: BTreeMap<usize, Tail>,
}

impl Stream {
    /// Reads what is there; false once the stream has ended.
    fn read_available(&mut self, tails: &mut BTreeMap<usize, Tail>, sink: &mut dyn Sink) -> bool {
        let mut buf = [0u8; 16 * 1024];
        let mut total = 0;
        let label = &self.label;
        let stream = if self.keep_tail {
            Output::Stderr
        } else {
            Output::Stdout
        };
        let mut tail = match self.owner {
            Some(owner) if self.keep_tail => Some(tails.entry(owner).or_default()),
            _ => None,
        };
        let mut emit = |line: String| {
            if let Some(tail) = tail.as_mut() {
                tail.push(line.clone());
            }
            sink.line(label, stream, line);
        };
        loop {
            match nix::unistd::read(self.fd.as_raw_fd(), &mut buf) {
                Ok(0) => {
                    self.lines.finish(&mut emit);
                    return false;
                }
                Ok(n) => {
                    self.lines.push(buf.get(..n).unwrap_or_default(), &mut emit);
                    total += n;
                    if total >= READ_BUDGET {
                        return true;
                    }
                }
                Err(nix::errno::Errno::EINTR) => continue,
                Err(nix::errno::Errno::EAGAIN) => return true,
                Err(_) => {
                    self.lines.finish(&mut emit);
                    return false;
                }
            }
        }
    }
}

impl Streams {
    /// Starts reading `fd` (made non-blocking) as output of `label`.
    pub fn add(&mut self, label: &str, fd: OwnedFd) -> io::Result<()> {
        self.add_owned(label, fd, None, false)
    }

    /// Starts reading `fd` as output of instance `owner`; with `keep_tail`
    /// (its stderr) the lines also go to the instance's tail.
    pub fn add_owned(
        &mut self,
        label: &str,
        fd: OwnedFd,
        owner: Option<usize>,
        keep_tail: bool,
    ) -> io::Result<()> {
        cairn_sys::fd::set_nonblocking(&fd)?;
        self.list.push(Stream {
            label: label.to_string(),
            fd,
            lines: LineBuffer::default(),
            owner,
            keep_tail,
        });
        Ok(())
    }

    /// Forgets instance `owner`'s tail: a new run starts a new report.
    pub fn clear_tail(&mut self, owner: usize) {
        if let Some(tail) = self.tails.get_mut(&owner) {
            tail.clear();
        }
    }

    /// Reads what instance `owner`'s pipes hold now, then hands out its
    /// tail: the last stderr lines of a run that just ended.
    pub fn take_tail(&mut self, owner: usize, sink: &mut dyn Sink) -> Vec<String> {
        let tails = &mut self.tails;
        self.list.retain_mut(|stream| {
            if stream.owner == Some(owner) {
                stream.read_available(tails, sink)
            } else {
                true
            }
        });
        self.tails
            .get_mut(&owner)
            .map(Tail::take)
            .unwrap_or_default()
    }

    /// The descriptors to poll for input, in a stable order.
    pub fn fds(&self) -> Vec<BorrowedFd<'_>> {
        self.list.iter().map(|s| s.fd.as_fd()).collect()
    }

    /// Reads the streams whose `ready` flag is set (same order as [`fds`]),
    /// dropping those that ended.
    ///
    /// [`fds`]: Streams::fds
    pub fn service(&mut self, ready: &[bool], sink: &mut dyn Sink) {
        let mut index = 0;
        let tails = &mut self.tails;
        self.list.retain_mut(|stream| {
            let keep = if ready.get(index).copied().unwrap_or(false) {
                stream.read_available(tails, sink)
            } else {
                true
            };
            index += 1;
            keep
        });
    }

    /// Reads everything available on every stream now: the last lines of apps
    /// that were just stopped.
    pub fn drain_all(&mut self, sink: &mut dyn Sink) {
        let tails = &mut self.tails;
        self.list
            .retain_mut(|stream| stream.read_available(tails, sink));
    }

    /// How many streams are open.
    pub fn len(&self) -> usize {
        self.list.len()
    }
}
