//! Restart backoff: how long to wait before starting a crashed app again.
//!
//! A crash loop must not eat the machine (or flood the console), yet a single
//! crash should be retried almost at once. The delay starts at a floor,
//! doubles with each quick failure up to a cap, and falls back to the floor
//! once a run has been stable for a while.

use std::time::Duration;

/// Production values.
pub const FLOOR: Duration = Duration::from_millis(200);
pub const CAP: Duration = Duration::from_secs(30);
pub const STABLE_AFTER: Duration = Duration::from_secs(10);

/// One instance's backoff state.
#[derive(Debug, Clone)]
pub struct Backoff {
    floor: Duration,
    cap: Duration,
    stable_after: Duration,
    next: Duration,
}

impl Backoff {
    pub fn new(floor: Duration, cap: Duration, stable_after: Duration) -> Backoff {
        Backoff {
            floor,
            cap,
            stable_after,
            next: floor,
        }
    }

    /// Records an exit after a run of `ran` and returns the delay before the
    /// next start.
    pub fn on_exit(&mut self, ran: Duration) -> Duration {
        if ran >= self.stable_after {
            self.next = self.floor;
        }
        let delay = self.next;
        self.next = (self.next * 2).min(self.cap);
        delay
    }
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff::new(FLOOR, CAP, STABLE_AFTER)
    }
}

/// A short human form: `200ms`, `1.6s`, `30s`, `2m30s`.
pub fn format_duration(d: Duration) -> String {
    let ms = d.as_millis();
    if ms < 1000 {
        format!("{ms}ms")
    } else if ms < 60_000 {
        if ms.is_multiple_of(1000) {
            format!("{}s", ms / 1000)
        } else {
            let tenths = (ms + 50) / 100;
            if tenths.is_multiple_of(10) {
                format!("{}s", tenths / 10)
            } else {
                format!("{}.{}s", tenths / 10, tenths % 10)
            }
        }
    } else {
        let secs = d.as_secs();
        if secs.is_multiple_of(60) {
            format!("{}m", secs / 60)
        } else {
            format!("{}m{}s", secs / 60, secs % 60)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doubles_from_the_floor_to_the_cap() {
        let mut b = Backoff::default();
        let quick = Duration::from_millis(50);
        let delays: Vec<String> = (0..10).map(|_| format_duration(b.on_exit(quick))).collect();
        assert_eq!(
            delays,
            ["200ms", "400ms", "800ms", "1.6s", "3.2s", "6.4s", "12.8s", "25.6s", "30s", "30s"]
        );
    }

    #[test]
    fn a_stable_run_resets_to_the_floor() {
        let mut b = Backoff::default();
        for _ in 0..6 {
            b.on_exit(Duration::from_millis(10));
        }
        assert_eq!(
            b.on_exit(Duration::from_secs(9)),
            Duration::from_millis(12800)
        );
        assert_eq!(b.on_exit(Duration::from_secs(10)), FLOOR);
        assert_eq!(b.on_exit(Duration::ZERO), FLOOR * 2);
    }

    #[test]
    fn formats_durations_briefly() {
        assert_eq!(format_duration(Duration::from_millis(0)), "0ms");
        assert_eq!(format_duration(Duration::from_secs(30)), "30s");
        assert_eq!(format_duration(Duration::from_millis(1999)), "2s");
        assert_eq!(format_duration(Duration::from_secs(150)), "2m30s");
        assert_eq!(format_duration(Duration::from_secs(120)), "2m");
    }
}
