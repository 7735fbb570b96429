//! App health: the state every instance is in, and the checks that decide it.
//!
//! Every instance has a [`Light`]:
//!
//! - green: healthy: ready, and (for an app with `[health]`) its last check
//!   passed;
//! - yellow: starting, degraded (a check failed, but not enough of them in a
//!   row yet) or restarting;
//! - red: failed: unhealthy past its grace, crashed too often (the circuit
//!   breaker), or exited with a failure and not restarted.
//!
//! An app with a `[health]` check is probed first [`FIRST_CHECK_AFTER`] after
//! each start, then every `interval`, each probe bounded by `timeout`. For
//! `grace` after a start, failures keep the instance yellow; after that,
//! [`FAILURE_THRESHOLD`] failures in a row turn it red. A passing check turns
//! it green at once. The [`Tracker`] is that rule, on a clock it is given, so
//! it is tested without waiting.
//!
//! Probes ([`probe`]) run off PID 1's loop: `http` and `tcp` on a small pool of
//! worker threads ([`pool`]) that report over a pipe the loop polls; `exec`
//! checks are child processes the loop starts and reaps like apps.

pub mod pool;
pub mod probe;

use std::time::{Duration, Instant};

/// How many failed checks in a row (after grace) make an instance red.
pub const FAILURE_THRESHOLD: u32 = 3;
/// The first check after a start comes this soon (or after `interval`, if
/// that is shorter).
pub const FIRST_CHECK_AFTER: Duration = Duration::from_millis(500);

/// An instance's state, as operators see it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Light {
    Green,
    Yellow,
    Red,
}

impl Light {
    pub fn as_str(self) -> &'static str {
        match self {
            Light::Green => "green",
            Light::Yellow => "yellow",
            Light::Red => "red",
        }
    }
}

impl std::fmt::Display for Light {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What one check found: the check's own words either way.
pub type Outcome = Result<String, String>;

/// The state a check result leads to, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Assessment {
    pub light: Light,
    pub reason: String,
}

/// The health state machine of one instance's current run.
#[derive(Debug, Clone)]
pub struct Tracker {
    grace: Duration,
    threshold: u32,
    started: Instant,
    failures: u32,
}

impl Tracker {
    /// A tracker for a run that started at `started`.
    pub fn new(grace: Duration, threshold: u32, started: Instant) -> Tracker {
        Tracker {
            grace,
            threshold: threshold.max(1),
            started,
            failures: 0,
        }
    }

    /// True while failures cannot yet turn the instance red.
    pub fn in_grace(&self, now: Instant) -> bool {
        now.duration_since(self.started) < self.grace
    }

    /// Failed checks in a row so far.
    pub fn failures(&self) -> u32 {
        self.failures
    }

    /// Takes one check's outcome at `now`.
    pub fn record(&mut self, now: Instant, outcome: &Outcome) -> Assessment {
        match outcome {
            Ok(detail) => {
                self.failures = 0;
                Assessment {
                    light: Light::Green,
                    reason: detail.clone(),
                }
            }
            Err(error) => {
                self.failures = self.failures.saturating_add(1);
                let count = format!(
                    "({} of {})",
                    self.failures.min(self.threshold),
                    self.threshold
                );
                if self.in_grace(now) {
                    Assessment {
                        light: Light::Yellow,
                        reason: format!("{error} {count}, in grace"),
                    }
                } else if self.failures >= self.threshold {
                    Assessment {
                        light: Light::Red,
                        reason: format!("{error} {count}"),
                    }
                } else {
                    Assessment {
                        light: Light::Yellow,
                        reason: format!("{error} {count}"),
                    }
                }
            }
        }
    }
}

/// When the first check of a run is due.
pub fn first_check(started: Instant, interval: Duration) -> Instant {
    started + FIRST_CHECK_AFTER.min(interval)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fail() -> Outcome {
        Err("GET /healthz: connection refused".to_string())
    }

    fn pass() -> Outcome {
        Ok("GET /healthz: 200".to_string())
    }

    #[test]
    fn failures_in_grace_stay_yellow_however_many() {
        let t0 = Instant::now();
        let mut t = Tracker::new(Duration::from_secs(30), 3, t0);
        for i in 1..=10 {
            let a = t.record(t0 + Duration::from_secs(i * 2), &fail());
            assert_eq!(a.light, Light::Yellow, "failure {i}");
        }
        assert_eq!(
            t.record(t0 + Duration::from_secs(29), &fail()).reason,
            "GET /healthz: connection refused (3 of 3), in grace"
        );
        // The first failure after grace, with enough in a row: red.
        let a = t.record(t0 + Duration::from_secs(30), &fail());
        assert_eq!(a.light, Light::Red);
        assert_eq!(a.reason, "GET /healthz: connection refused (3 of 3)");
    }

    #[test]
    fn a_pass_is_green_at_once_and_resets_the_count() {
        let t0 = Instant::now();
        let mut t = Tracker::new(Duration::from_secs(5), 3, t0);
        assert_eq!(
            t.record(t0 + Duration::from_secs(1), &fail()).light,
            Light::Yellow
        );
        let a = t.record(t0 + Duration::from_secs(2), &pass());
        assert_eq!(
            a,
            Assessment {
                light: Light::Green,
                reason: "GET /healthz: 200".into()
            }
        );
        assert_eq!(t.failures(), 0);
        // After grace: two failures degrade (yellow), the third turns red.
        let later = t0 + Duration::from_secs(60);
        let a = t.record(later, &fail());
        assert_eq!(a.light, Light::Yellow);
        assert_eq!(a.reason, "GET /healthz: connection refused (1 of 3)");
        assert_eq!(t.record(later, &fail()).light, Light::Yellow);
        assert_eq!(t.record(later, &fail()).light, Light::Red);
        // A pass recovers even from red.
        assert_eq!(t.record(later, &pass()).light, Light::Green);
        assert_eq!(t.record(later, &fail()).light, Light::Yellow);
    }

    #[test]
    fn grace_is_measured_from_the_start() {
        let t0 = Instant::now();
        let t = Tracker::new(Duration::from_secs(10), 3, t0);
        assert!(t.in_grace(t0));
        assert!(t.in_grace(t0 + Duration::from_millis(9999)));
        assert!(!t.in_grace(t0 + Duration::from_secs(10)));
        // No grace at all: the threshold alone decides.
        let mut t = Tracker::new(Duration::ZERO, 2, t0);
        assert_eq!(t.record(t0, &fail()).light, Light::Yellow);
        assert_eq!(t.record(t0, &fail()).light, Light::Red);
    }

    #[test]
    fn the_first_check_comes_soon_after_a_start() {
        let t0 = Instant::now();
        assert_eq!(
            first_check(t0, Duration::from_secs(5)),
            t0 + FIRST_CHECK_AFTER
        );
        assert_eq!(
            first_check(t0, Duration::from_millis(100)),
            t0 + Duration::from_millis(100)
        );
    }
}
