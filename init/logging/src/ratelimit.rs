//! A token bucket per app, with an honest count of what it refused.
//!
//! An app may write `burst` lines at once and `rate` lines a second
//! sustained. Lines over that are dropped and counted; the count is handed
//! out (at most once per [`REPORT_EVERY`]) so the gap is itself logged.

use std::time::{Duration, Instant};

/// How often a running count of drops is reported.
pub const REPORT_EVERY: Duration = Duration::from_secs(1);

#[derive(Debug, Clone)]
pub struct RateLimit {
    rate: f64,
    burst: f64,
    tokens: f64,
    last: Instant,
    dropped: u64,
    last_report: Instant,
}

impl RateLimit {
    /// A full bucket: `burst` lines at once, `rate` lines per second.
    pub fn new(rate: u32, burst: u32, now: Instant) -> RateLimit {
        RateLimit {
            rate: f64::from(rate),
            burst: f64::from(burst.max(1)),
            tokens: f64::from(burst.max(1)),
            last: now,
            dropped: 0,
            last_report: now,
        }
    }

    /// True when one more line may pass now; false counts it as dropped.
    pub fn admit(&mut self, now: Instant) -> bool {
        let elapsed = now.saturating_duration_since(self.last).as_secs_f64();
        self.last = now;
        self.tokens = (self.tokens + elapsed * self.rate).min(self.burst);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            self.dropped += 1;
            false
        }
    }

    /// The lines dropped since the last report, when there are any and the
    /// last report is at least [`REPORT_EVERY`] ago.
    pub fn take_report(&mut self, now: Instant) -> Option<u64> {
        if self.dropped == 0 || now.saturating_duration_since(self.last_report) < REPORT_EVERY {
            return None;
        }
        self.last_report = now;
        Some(std::mem::take(&mut self.dropped))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_passes_then_the_rate_holds_and_drops_are_counted() {
        let t0 = Instant::now();
        let mut limit = RateLimit::new(100, 10, t0);
        let passed = (0..25).filter(|_| limit.admit(t0)).count();
        assert_eq!(passed, 10);
        assert_eq!(limit.take_report(t0), None, "not before the interval");
        // 100 ms later, 10 more tokens.
        let t1 = t0 + Duration::from_millis(100);
        let passed = (0..25).filter(|_| limit.admit(t1)).count();
        assert_eq!(passed, 10);
        let t2 = t0 + REPORT_EVERY;
        assert_eq!(limit.take_report(t2), Some(30));
        assert_eq!(limit.take_report(t2 + REPORT_EVERY), None, "reported once");
    }

    #[test]
    fn an_idle_bucket_refills_only_to_its_burst() {
        let t0 = Instant::now();
        let mut limit = RateLimit::new(1000, 5, t0);
        let later = t0 + Duration::from_secs(60);
        assert_eq!((0..10).filter(|_| limit.admit(later)).count(), 5);
    }
}
