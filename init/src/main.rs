//! `cairn-init`, the `/init` of a Cairn initramfs. Everything is in the
//! library; this only refuses to run anywhere but as PID 1, where mounting
//! over /proc and signalling every process would wreck the host.
#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]

fn main() -> std::process::ExitCode {
    // PID 1 starts its logger by executing this binary under another name.
    let mut args = std::env::args();
    if args.next().as_deref() == Some(cairn_init::logging::daemon::ARGV0) {
        return cairn_init::logging::daemon::main(&args.collect::<Vec<_>>());
    }
    if std::process::id() != 1 {
        eprintln!("cairn-init: must run as PID 1 (the init of a Cairn image)");
        std::process::exit(2);
    }
    cairn_init::run()
}
