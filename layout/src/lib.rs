//! The layout contract between `cairn build` and the PID 1 it builds for.
//!
//! The image builder writes partitions, files and command-line keys that PID 1
//! and the in-image services later look for by name. Every one of those names
//! lives here, once, so the two sides cannot drift apart: a change to the
//! layout is a change to this crate, and both sides follow it at their next
//! build. The crate has no dependencies, so every program of the workspace can
//! take it without taking anything else; `docs/architecture.md` shows the same
//! layout as pictures.
//!
//! Relative paths (inside a bank, on the ESP, on the data partition) are what
//! the builder writes into a filesystem it is making; the absolute ones are
//! where a booted system finds them. A test in this crate checks that each
//! absolute path is its mount point joined with its relative path.
#![forbid(unsafe_code)]
// An out-of-range index panics, and a panic in PID 1 is the crash path.
#![cfg_attr(not(test), warn(clippy::indexing_slicing))]

pub mod bank;
pub mod cmdline;
pub mod data;
pub mod esp;
pub mod initramfs;
pub mod partition;
pub mod run;
pub mod services;
pub mod users;
