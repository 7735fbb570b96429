//! `cairn-init`, the `/init` of a Cairn initramfs: PID 1.
//!
//! It mounts the API filesystems, loads the board's modules, finds its
//! partitions, mounts its bank and the data partition (growing it on first
//! boot), reads the frozen manifest, brings up the network ([`boot`]); then
//! runs every app under supervision, blesses the boot when they are all up,
//! and shuts down in order ([`run`]). See docs/architecture.md ("PID 1, in
//! order") for the contract with the builder.
//!
//! The same binary is the logger: run under the name `cairn-logd`, it is
//! `cairn_logging::daemon`. Anywhere but as PID 1, where mounting over /proc
//! and signalling every process would wreck the host, it refuses to run.
#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]
// An out-of-range index panics, and a panic in PID 1 is the crash path.
#![cfg_attr(not(test), warn(clippy::indexing_slicing))]

mod boot;
mod log;
mod net;
mod run;
mod sys;

use std::process::ExitCode;

fn main() -> ExitCode {
    // PID 1 starts its logger by executing this binary under another name.
    let mut args = std::env::args();
    if args.next().as_deref() == Some(cairn_logging::daemon::ARGV0) {
        return cairn_logging::daemon::main(&args.collect::<Vec<_>>());
    }
    if std::process::id() != 1 {
        eprintln!("cairn-init: must run as PID 1 (the init of a Cairn image)");
        std::process::exit(2);
    }
    pid1()
}

/// PID 1's life: installs the crash path, boots, runs. Never returns: a
/// fatal error in boot takes the crash path (log, sync, reboot).
fn pid1() -> ! {
    log::metrics::mark_start();
    sys::malloc::share_one_arena();
    run::crash::install();
    match boot::boot() {
        Ok(booted) => run::run(booted),
        Err(fatal) => run::crash::fatal(&fatal),
    }
}
