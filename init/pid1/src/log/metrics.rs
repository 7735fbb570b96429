//! Boot timing and PID 1's own footprint, logged at the milestones so that a
//! console log alone tells how long the kernel and PID 1 took and how much
//! memory PID 1 holds. The benchmark (`cairn-bench`) reads these lines.

use std::sync::OnceLock;
use std::time::Instant;

use nix::time::{clock_gettime, ClockId};

/// The moment /init was entered.
#[derive(Debug, Clone, Copy)]
struct Start {
    /// Milliseconds since the kernel started (CLOCK_BOOTTIME).
    kernel_ms: u64,
    at: Instant,
    /// CPU time already charged to this process by then: before exec'ing
    /// /init, the kernel ran its own initialisation as process 1.
    cpu_ms: (u64, u64),
}

static START: OnceLock<Start> = OnceLock::new();

/// Records the moment /init was entered. Later calls keep the first moment.
pub fn mark_start() {
    START.get_or_init(|| Start {
        kernel_ms: boottime_ms().unwrap_or(0),
        at: Instant::now(),
        cpu_ms: process_cpu_ms(),
    });
}

/// Milliseconds from the kernel's start to /init: the kernel's share of boot.
pub fn kernel_ms() -> u64 {
    START.get().map_or(0, |start| start.kernel_ms)
}

/// Milliseconds since /init was entered: PID 1's share so far.
pub fn since_start_ms() -> u64 {
    START.get().map_or(0, |start| {
        u64::try_from(start.at.elapsed().as_millis()).unwrap_or(u64::MAX)
    })
}

fn boottime_ms() -> Option<u64> {
    let now = clock_gettime(ClockId::CLOCK_BOOTTIME).ok()?;
    let secs = u64::try_from(now.tv_sec()).ok()?;
    let nanos = u64::try_from(now.tv_nsec()).ok()?;
    Some(secs * 1000 + nanos / 1_000_000)
}

/// CPU time PID 1 has used since /init was entered, in milliseconds: (user,
/// system). System time includes what the kernel did on PID 1's behalf:
/// initialising modules, probing devices, mounting and resizing filesystems.
pub fn cpu_ms() -> (u64, u64) {
    let (user, system) = process_cpu_ms();
    let (user0, system0) = START.get().map_or((0, 0), |start| start.cpu_ms);
    (user.saturating_sub(user0), system.saturating_sub(system0))
}

/// CPU time of the whole process (all threads) so far: (user, system).
fn process_cpu_ms() -> (u64, u64) {
    match nix::sys::resource::getrusage(nix::sys::resource::UsageWho::RUSAGE_SELF) {
        Ok(usage) => (
            timeval_ms(usage.user_time()),
            timeval_ms(usage.system_time()),
        ),
        Err(_) => (0, 0),
    }
}

fn timeval_ms(tv: nix::sys::time::TimeVal) -> u64 {
    let secs = u64::try_from(tv.tv_sec()).unwrap_or(0);
    let micros = u64::try_from(tv.tv_usec()).unwrap_or(0);
    secs * 1000 + micros / 1000
}

/// PID 1's resident memory in KiB, from /proc/self/status.
pub fn rss_kib() -> Option<u64> {
    cairn_sys::process::rss_kib()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn own_rss_is_readable_and_nonzero() {
        assert!(rss_kib().is_some_and(|kib| kib > 0));
    }

    #[test]
    fn cpu_time_grows_with_work() {
        // Spin until the counter moves rather than for a fixed time: on a
        // loaded machine 30 ms of wall time can be far less CPU time. The
        // wall limit only stops a counter that never moves.
        let (user_before, _) = cpu_ms();
        let start = Instant::now();
        let mut x = 0u64;
        let mut user_after = user_before;
        while user_after < user_before + 10 && start.elapsed() < std::time::Duration::from_secs(20)
        {
            for _ in 0..100_000 {
                x = std::hint::black_box(x.wrapping_mul(31).wrapping_add(7));
            }
            user_after = cpu_ms().0;
        }
        assert!(
            user_after >= user_before + 10,
            "user CPU time stayed at {user_before} -> {user_after} ms after 20 s of spinning"
        );
    }

    #[test]
    fn start_is_recorded_once() {
        mark_start();
        let first = kernel_ms();
        std::thread::sleep(std::time::Duration::from_millis(5));
        mark_start();
        assert_eq!(kernel_ms(), first);
        assert!(since_start_ms() >= 5);
    }
}
