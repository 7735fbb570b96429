//! The console of a dev run: the supervisor's own lines (`cairn: ...`) and
//! every app's output (`[web] ...`), exactly as on a booted system's
//! console, on this process's standard output.
//!
//! The supervisor writes to a non-blocking console sink that it opens by
//! path. Standard output may be something this user cannot open by path (a
//! pipe or socket of another user), so the sink is a pipe of our own, and
//! the run loop pumps it to standard output between rounds.

use std::io::Write;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};

use anyhow::Context;
use cairn_init::log::LogSetup;
use nix::fcntl::{fcntl, FcntlArg, OFlag};

/// The read end of the console pipe.
#[derive(Debug)]
pub struct Relay {
    read: OwnedFd,
}

impl Relay {
    /// Makes the supervisor's console a pipe this relay reads, and installs
    /// the supervisor's log on it.
    pub fn install() -> anyhow::Result<Relay> {
        let (read, write) =
            nix::unistd::pipe2(OFlag::O_CLOEXEC).context("cannot make the console pipe")?;
        fcntl(read.as_raw_fd(), FcntlArg::F_SETFL(OFlag::O_NONBLOCK))
            .context("cannot make the console pipe non-blocking")?;
        let path = format!("/proc/self/fd/{}", write.as_raw_fd());
        cairn_init::log::init(&LogSetup {
            console: Some(path.into()),
            kmsg: None,
        })
        .context("cannot open the console pipe")?;
        // The sink opened a description of its own.
        drop(write);
        Ok(Relay { read })
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
            cairn_init::console::flush();
            if !moved || !cairn_init::console::has_pending() {
                break;
            }
        }
        let _ = out.flush();
    }
}
