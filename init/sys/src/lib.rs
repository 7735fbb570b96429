//! The system calls Cairn's in-image programs share (PID 1, the supervisor,
//! the logger), behind small safe functions.
//!
//! Keeping the `unsafe` blocks and raw constants in a few small modules means
//! the rest of the workspace reads as ordinary Rust, and the places that touch
//! the kernel's ABI can be reviewed in one directory. Calls that only PID 1
//! makes (reboot, `kill(-1)`, the hostname) live in PID 1's own `sys` module.

// An out-of-range index panics, and a panic in PID 1 is the crash path.
#![cfg_attr(not(test), warn(clippy::indexing_slicing))]

pub mod fd;
pub mod fs;
pub mod mount;
pub mod process;
pub mod thread_signals;
pub mod writeback;

use std::io;

/// Converts a nix error into the std error type the rest of the workspace uses.
pub fn io_err(err: nix::errno::Errno) -> io::Error {
    io::Error::from_raw_os_error(err as i32)
}
