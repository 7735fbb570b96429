//! Cairn's PID 1.
//!
//! `cairn-init` is the `/init` of every Cairn initramfs. It mounts the API
//! filesystems, loads the board's modules, finds its partitions, mounts its
//! bank and the data partition (growing it on first boot), reads the frozen
//! manifest, brings up the network, runs every app under supervision, blesses
//! the boot when they are all up, and shuts down in order. See
//! docs/architecture.md ("PID 1, in order") for the contract with the builder.
//!
//! The crate is a library with a thin binary so that the supervisor, the
//! parsers and the on-disk logic are tested on a developer's machine; only
//! [`run`] assumes it is PID 1.
#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]

pub mod bless;
pub mod boot;
pub mod cgroup;
pub mod clock;
pub mod cmdline;
pub mod console;
pub mod crash;
pub mod datapart;
pub mod ext4;
pub mod grow;
pub mod health;
pub mod jobs;
pub mod json;
pub mod log;
pub mod logging;
pub mod metrics;
pub mod modules;
pub mod mountinfo;
pub mod mounts;
pub mod net;
pub mod notify;
pub mod partitions;
pub mod portguard;
pub mod power;
pub mod runtime;
pub mod sandbox;
pub mod shutdown;
pub mod supervisor;
pub mod sys;

/// PID 1's entry point: installs the crash path, boots, runs. Never returns.
pub fn run() -> ! {
    metrics::mark_start();
    sys::malloc::share_one_arena();
    crash::install();
    boot::boot()
}
