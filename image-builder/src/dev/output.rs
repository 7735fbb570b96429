//! The console of a dev run: the supervisor's own lines (`cairn: ...`) and
//! every app's output (`[web] ...`), exactly as on a booted system's
//! console, on this process's standard output.
//!
//! The supervisor never waits for the terminal: it writes to a non-blocking
//! console (a pipe of our own, with a bounded queue), and the run loop pumps
//! the pipe to standard output between rounds.

use std::io::Write;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::sync::{Arc, Mutex, PoisonError};

use anyhow::Context;
use cairn_logging::console::Console;
use cairn_logging::text::{SharedConsole, TextSubscriber};
use cairn_supervisor::supervisor::ConsoleSink;
use nix::fcntl::{fcntl, FcntlArg, OFlag};

/// How many bytes may wait for the terminal before lines are dropped.
const PENDING_CAP: usize = 256 * 1024;

/// The console and the read end of its pipe.
#[derive(Debug)]
pub struct Relay {
    read: OwnedFd,
    console: SharedConsole,
}

impl Relay {
    /// Makes a console on a pipe this relay reads, and sends this process's
    /// log to it at `level`.
    pub fn install(level: cairn_manifest::LogLevel) -> anyhow::Result<Relay> {
        let (read, write) =
            nix::unistd::pipe2(OFlag::O_CLOEXEC).context("cannot make the console pipe")?;
        for (end, what) in [(&read, "read"), (&write, "write")] {
            fcntl(end.as_raw_fd(), FcntlArg::F_SETFL(OFlag::O_NONBLOCK)).with_context(|| {
                format!("cannot make the console pipe's {what} end non-blocking")
            })?;
        }
        let mut console = Console::closed(PENDING_CAP);
        console.attach(write);
        let console = Arc::new(Mutex::new(console));
        let (subscriber, _level) = TextSubscriber::new(Arc::clone(&console), level);
        tracing::subscriber::set_global_default(subscriber)
            .context("cannot install the console's log")?;
        Ok(Relay { read, console })
    }

    /// A sink for the supervisor that writes to this console.
    pub fn sink(&self) -> Box<ConsoleSink> {
        Box::new(ConsoleSink::new(Arc::clone(&self.console)))
    }

    /// Copies everything the console holds to standard output, including
    /// lines it queued while the pipe was full.
    pub fn pump(&self) {
        let mut out = std::io::stdout().lock();
        let mut buf = [0u8; 16 * 1024];
        loop {
            let mut moved = false;
            loop {
                match nix::unistd::read(self.read.as_fd().as_raw_fd(), &mut buf) {
                    Ok(0) => break,
                    Ok(n) => {
                        moved = true;
                        // Standard output gone: nothing to do about it here.
                        let _ = out.write_all(&buf[..n]);
                    }
                    Err(nix::errno::Errno::EINTR) => continue,
                    Err(_) => break,
                }
            }
            let pending = {
                let mut console = self.console.lock().unwrap_or_else(PoisonError::into_inner);
                console.flush();
                console.has_pending()
            };
            if !moved || !pending {
                break;
            }
        }
        let _ = out.flush();
    }
}
