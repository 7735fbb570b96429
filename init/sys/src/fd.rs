//! File-descriptor flags and PID 1's standard descriptors.

use std::fs::OpenOptions;
use std::io;
use std::os::fd::{AsFd, AsRawFd};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use nix::fcntl::{fcntl, FcntlArg, OFlag};

use crate::io_err;

/// Sets O_NONBLOCK on `fd`.
pub fn set_nonblocking(fd: impl AsFd) -> io::Result<()> {
    let raw = fd.as_fd().as_raw_fd();
    let flags = fcntl(raw, FcntlArg::F_GETFL).map_err(io_err)?;
    let flags = OFlag::from_bits_retain(flags) | OFlag::O_NONBLOCK;
    fcntl(raw, FcntlArg::F_SETFL(flags)).map_err(io_err)?;
    Ok(())
}

/// Points fds 0, 1 and 2 at `/dev/null`. The kernel hands init the console as
/// its standard descriptors; a stray write there would block PID 1 on a slow
/// serial line, so all console output goes through the non-blocking sink in
/// `console` instead.
pub fn stdio_to_null(dev_null: &Path) -> io::Result<()> {
    let null = OpenOptions::new()
        .read(true)
        .write(true)
        .custom_flags(libc::O_NOCTTY)
        .open(dev_null)?;
    for target in 0..=2 {
        if null.as_raw_fd() == target {
            continue;
        }
        // SAFETY: dup2 onto 0..=2 replaces the standard descriptors, which no
        // Rust object owns in PID 1; `null` stays valid for the call.
        if unsafe { libc::dup2(null.as_raw_fd(), target) } < 0 {
            return Err(io::Error::last_os_error());
        }
    }
    if (0..=2).contains(&null.as_raw_fd()) {
        // `null` landed on a standard descriptor because it was closed; keep
        // it open there instead of closing it when `null` drops.
        let _ = std::os::fd::IntoRawFd::into_raw_fd(null);
    }
    Ok(())
}
