//! Every system call PID 1 makes that std does not wrap, behind small safe
//! functions.
//!
//! Keeping the `unsafe` blocks and raw constants here means the rest of the
//! crate reads as ordinary Rust, and the few places that touch kernel ABI
//! (ioctl structs, fork-side setup, wait status decoding) can be reviewed in
//! one directory. Calls that would be harmful on a developer's machine
//! (`reboot`, `kill(-1)`) refuse to run unless the process really is PID 1.

pub mod block;
pub mod fd;
pub mod kmod;
pub mod malloc;
pub mod mount;
pub mod ns_reaper;
pub mod power;
pub mod process;
pub mod sandbox_child;
pub mod signals;
pub mod spawn;
pub mod thread_signals;

use std::io;

/// Converts a nix error into the std error type the rest of the crate uses.
pub(crate) fn io_err(err: nix::errno::Errno) -> io::Error {
    io::Error::from_raw_os_error(err as i32)
}
