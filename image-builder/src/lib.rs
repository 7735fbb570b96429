//! The host side of Cairn: `cairn build` turns a manifest into a disk image,
//! `cairn run` boots it in QEMU.
#![forbid(unsafe_code)]

pub mod board;
pub mod build;
pub mod logs_cmd;
pub mod qemu;
pub mod run;
pub mod schedule_cmd;
pub mod which;
