//! PID 1's helper threads (DHCP, health checks) must not take signals meant
//! for PID 1's main loop.
//!
//! A process-directed signal (SIGCHLD, SIGTERM, SIGINT...) goes to any thread
//! that does not block it. If a helper thread took one, PID 1's own signal
//! handling (a signalfd or sigwait in the main thread) would never see it. A new
//! thread inherits its creator's mask, so the creator blocks everything for the
//! moment of the spawn; the faults a thread raises itself (SIGSEGV and the like)
//! stay deliverable.

use nix::sys::signal::{SigSet, SigmaskHow, Signal};
use tracing::warn;

const FAULTS: [Signal; 7] = [
    Signal::SIGSEGV,
    Signal::SIGBUS,
    Signal::SIGILL,
    Signal::SIGFPE,
    Signal::SIGABRT,
    Signal::SIGSYS,
    Signal::SIGTRAP,
];

/// The signals a helper thread blocks: all but the synchronous faults.
fn blocked_set() -> SigSet {
    let mut set = SigSet::all();
    for fault in FAULTS {
        set.remove(fault);
    }
    set
}

/// Runs `spawn` (which starts a thread) with those signals blocked in the calling
/// thread, then restores the caller's mask.
pub fn with_signals_blocked<T>(spawn: impl FnOnce() -> T) -> T {
    let previous = blocked_set().thread_swap_mask(SigmaskHow::SIG_BLOCK);
    if let Err(e) = &previous {
        warn!("cannot block signals for a new thread: {e}");
    }
    let result = spawn();
    if let Ok(previous) = previous {
        if let Err(e) = previous.thread_set_mask() {
            warn!("cannot restore the signal mask: {e}");
        }
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_new_thread_blocks_process_signals_and_the_caller_is_unchanged() {
        let before = SigSet::thread_get_mask().unwrap();
        let handle =
            with_signals_blocked(|| std::thread::spawn(|| SigSet::thread_get_mask().unwrap()));
        let inside = handle.join().unwrap();
        for signal in [
            Signal::SIGCHLD,
            Signal::SIGTERM,
            Signal::SIGINT,
            Signal::SIGHUP,
        ] {
            assert!(inside.contains(signal), "{signal} not blocked");
        }
        for fault in FAULTS {
            assert!(!inside.contains(fault), "{fault} blocked");
        }
        let after = SigSet::thread_get_mask().unwrap();
        assert!(Signal::iterator().all(|s| before.contains(s) == after.contains(s)));
    }
}
