//! The circuit breaker on top of the restart backoff.
//!
//! Backoff spaces restarts out; the breaker ends them. An instance that fails
//! [`LIMIT`] times within [`WINDOW`] is marked failed (red) and not started
//! again until the next boot, so a crash loop stops consuming the machine and
//! the console while every other app goes on. A failure is any end of a run
//! that would lead to a restart: a crash, an exit that the policy restarts,
//! a start that did not happen, or a kill because the app was unhealthy.
//! With the backoff's floor of 200 ms doubling, five quick crashes take about
//! 6 s; an app that crashes less often than five times a minute keeps being
//! restarted.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

/// Failures within [`WINDOW`] that open the breaker.
pub const LIMIT: u32 = 5;
/// The sliding window failures are counted in.
pub const WINDOW: Duration = Duration::from_secs(60);

/// One instance's recent failures.
#[derive(Debug, Clone)]
pub struct Breaker {
    limit: u32,
    window: Duration,
    failures: VecDeque<Instant>,
}

impl Breaker {
    pub fn new(limit: u32, window: Duration) -> Breaker {
        Breaker {
            limit: limit.max(1),
            window,
            failures: VecDeque::new(),
        }
    }

    /// Records a failure at `now`; true when that opens the breaker.
    pub fn record(&mut self, now: Instant) -> bool {
        while self
            .failures
            .front()
            .is_some_and(|t| now.duration_since(*t) >= self.window)
        {
            self.failures.pop_front();
        }
        self.failures.push_back(now);
        self.failures.len() >= usize::try_from(self.limit).unwrap_or(usize::MAX)
    }

    /// "crashed 5 times in 60s": why it opened.
    pub fn describe(&self) -> String {
        let window = if self.window.subsec_millis() == 0 {
            format!("{}s", self.window.as_secs())
        } else {
            format!("{}ms", self.window.as_millis())
        };
        format!("crashed {} times in {window}", self.limit)
    }
}

impl Default for Breaker {
    fn default() -> Self {
        Breaker::new(LIMIT, WINDOW)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn opens_on_the_fifth_failure_within_the_window() {
        let t0 = Instant::now();
        let mut b = Breaker::default();
        let opened: Vec<bool> = (0..5)
            .map(|i| b.record(t0 + Duration::from_secs(i * 10)))
            .collect();
        assert_eq!(opened, [false, false, false, false, true]);
        assert_eq!(b.describe(), "crashed 5 times in 60s");
    }

    #[test]
    fn failures_older_than_the_window_do_not_count() {
        let t0 = Instant::now();
        let mut b = Breaker::default();
        // One failure every 20 s: at most three within a minute.
        for i in 0..20 {
            assert!(!b.record(t0 + Duration::from_secs(i * 20)), "failure {i}");
        }
        // Then a burst: the three recent ones count with the new ones.
        let last = t0 + Duration::from_secs(19 * 20);
        assert!(!b.record(last + Duration::from_secs(1)));
        assert!(b.record(last + Duration::from_secs(2)));
    }

    #[test]
    fn a_failure_exactly_one_window_ago_has_expired() {
        let t0 = Instant::now();
        let mut b = Breaker::new(2, Duration::from_millis(1500));
        assert!(!b.record(t0));
        assert!(!b.record(t0 + Duration::from_millis(1500)));
        assert!(b.record(t0 + Duration::from_millis(1600)));
        assert_eq!(b.describe(), "crashed 2 times in 1500ms");
    }
}
