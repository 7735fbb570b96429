//! The host side of Cairn, as a library the `cairn` binary (one module per
//! subcommand, in `src/cmd/`) and the boot tests use: building images,
//! booting them in QEMU, reading a machine's logs off its disk, the
//! project's keys, and the control API's client.
#![forbid(unsafe_code)]

pub mod board;
pub mod build;
pub mod bundle_check;
pub mod discover;
pub mod disk_logs;
pub mod keys;
pub mod provision;
pub mod qemu;
pub mod remote;
pub mod run;
pub mod which;
