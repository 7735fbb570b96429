//! Small pure decisions about runs: overlap, `@reboot`, stable delays.

use std::time::Duration;

/// The manifest's `overlap`: what a fire does while the previous run of the
/// same job is still going.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Overlap {
    /// Drop this fire (the default).
    Skip,
    /// Start it when the running one ends; at most one waits.
    Queue,
    /// Start it now, beside the running one.
    Allow,
}

/// What the job's runs look like when a fire comes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RunState {
    pub running: bool,
    pub queued: bool,
    /// A fire was already skipped during the current run (so the next skip
    /// is not logged again).
    pub skipped_this_run: bool,
}

/// What to do with a fire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnFire {
    Start,
    /// Start when the running one ends.
    Queue,
    /// Drop it. `log`: say so (only for the first skip during one run, so a
    /// short period never floods the log).
    Skip {
        log: bool,
    },
}

/// Decides what a fire does, and the state after it.
pub fn on_fire(policy: Overlap, state: RunState) -> (OnFire, RunState) {
    if !state.running {
        let started = RunState {
            running: true,
            ..RunState::default()
        };
        return (OnFire::Start, started);
    }
    match policy {
        Overlap::Allow => (OnFire::Start, state),
        Overlap::Queue if !state.queued => (
            OnFire::Queue,
            RunState {
                queued: true,
                ..state
            },
        ),
        Overlap::Skip | Overlap::Queue => (
            OnFire::Skip {
                log: !state.skipped_this_run,
            },
            RunState {
                skipped_this_run: true,
                ..state
            },
        ),
    }
}

/// `@reboot` runs once per boot, keyed on the kernel's boot ID
/// (`/proc/sys/kernel/random/boot_id`): a restart of the scheduler within
/// one boot does not run it again.
pub fn reboot_due(last_boot_id: Option<&str>, boot_id: &str) -> bool {
    last_boot_id.map(str::trim) != Some(boot_id.trim())
}

/// A delay in `[0, spread)` that depends only on `key` (a job's name): used
/// to spread catch-up runs at boot so missed jobs never start all at once,
/// and stable from boot to boot so a job's timing is predictable.
pub fn stable_delay(key: &str, spread: Duration) -> Duration {
    let millis = spread.as_millis();
    if millis == 0 {
        return Duration::ZERO;
    }
    // FNV-1a: tiny, stable across versions and platforms.
    let hash = key.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    });
    let offset = u128::from(hash) % millis;
    Duration::from_millis(u64::try_from(offset).unwrap_or(u64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn skip_logs_once_per_run() {
        let (first, s) = on_fire(Overlap::Skip, RunState::default());
        assert_eq!(first, OnFire::Start);
        let (second, s) = on_fire(Overlap::Skip, s);
        assert_eq!(second, OnFire::Skip { log: true });
        let (third, s) = on_fire(Overlap::Skip, s);
        assert_eq!(third, OnFire::Skip { log: false });
        assert!(s.running && s.skipped_this_run);
    }

    #[test]
    fn queue_holds_at_most_one() {
        let running = RunState {
            running: true,
            ..RunState::default()
        };
        let (a, s) = on_fire(Overlap::Queue, running);
        assert_eq!(a, OnFire::Queue);
        let (b, _) = on_fire(Overlap::Queue, s);
        assert_eq!(b, OnFire::Skip { log: true });
        assert_eq!(on_fire(Overlap::Allow, s).0, OnFire::Start);
    }

    #[test]
    fn reboot_once_per_boot_id() {
        assert!(reboot_due(None, "b1"));
        assert!(!reboot_due(Some("b1\n"), "b1"));
        assert!(reboot_due(Some("b1"), "b2"));
    }

    #[test]
    fn stable_delay_is_stable_and_bounded() {
        let spread = Duration::from_secs(60);
        let a = stable_delay("backup", spread);
        assert_eq!(a, stable_delay("backup", spread));
        assert!(a < spread);
        assert_ne!(a, stable_delay("report", spread));
        assert_eq!(stable_delay("backup", Duration::ZERO), Duration::ZERO);
    }
}
