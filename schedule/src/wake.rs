//! What the runtime does when it wakes: on time, late, after downtime, or
//! after the clock was stepped.
//!
//! The runtime keeps one value per job on the data partition: the last
//! scheduled instant it handled (ran or deliberately skipped), written
//! before the job is launched. Each time it wakes (a timer expired, the
//! clock was set, the system booted) it asks [`on_wake`] what to do. The
//! answer never runs more than one instant, never runs an instant at or
//! before the persisted one, and says what to persist next.

use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp};

use crate::cron::Schedule;
use crate::fire::{last_fire_between, next_fire};

/// What to do with fires that were due while the system was off or the
/// clock jumped past them (the manifest's `missed`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Missed {
    /// Drop them; wait for the next one.
    Skip,
    /// Run once for all of them together.
    RunOnce,
}

/// A fire no later than this after its scheduled instant counts as on time
/// and runs whatever `missed` says. Larger delays are missed fires. The
/// runtime's own wake-up latency is milliseconds; a minute leaves room for a
/// busy machine and small clock corrections without turning downtime into
/// "on time".
pub const ON_TIME: SignedDuration = SignedDuration::from_secs(60);

/// The plan for one wake-up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Wake {
    /// Run the job now for this scheduled instant (at most one).
    pub run: Option<Timestamp>,
    /// How many scheduled instants since the last handled one are passed
    /// over without a run of their own (saturates at [`COUNT_LIMIT`]).
    /// Log this once; it is not a queue.
    pub passed_over: u32,
    /// Persist this as the last handled instant before launching anything.
    /// `None`: keep what is persisted.
    pub persist: Option<Timestamp>,
    /// When to wake next: the first fire after both now and the last
    /// handled instant.
    pub next: Option<Timestamp>,
    /// How the clock relates to the persisted instant.
    pub clock: Clock,
}

/// What the wake-up found about the clock.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Clock {
    /// Nothing was due, or the due fire is on time.
    Normal,
    /// The latest due fire is more than [`ON_TIME`] in the past: the system
    /// was down or the clock stepped forward.
    Late { by: SignedDuration },
    /// The clock reads earlier than the last handled instant: it stepped
    /// backward. Nothing up to that instant fires again.
    Behind { by: SignedDuration },
}

/// Passed-over instants are counted up to this many, to bound the work.
pub const COUNT_LIMIT: u32 = 1000;

/// Decides what a wake-up at `now` does for one job whose last handled
/// scheduled instant is `last` (`None`: the job has never been handled, so
/// nothing counts as missed).
pub fn on_wake(
    schedule: &Schedule,
    zone: &TimeZone,
    last: Option<Timestamp>,
    now: Timestamp,
    missed: Missed,
) -> Wake {
    let quiet = |next, clock| Wake {
        run: None,
        passed_over: 0,
        persist: None,
        next,
        clock,
    };
    let Some(last) = last else {
        return quiet(next_fire(schedule, zone, now), Clock::Normal);
    };
    if now < last {
        let by = last.duration_since(now);
        return quiet(next_fire(schedule, zone, last), Clock::Behind { by });
    }
    let Some(latest) = last_fire_between(schedule, zone, last, now) else {
        return quiet(next_fire(schedule, zone, now), Clock::Normal);
    };
    let due = count_between(schedule, zone, last, latest);
    let late = now.duration_since(latest);
    let (clock, run) = if late <= ON_TIME {
        (Clock::Normal, true)
    } else {
        (Clock::Late { by: late }, missed == Missed::RunOnce)
    };
    Wake {
        run: run.then_some(latest),
        passed_over: if run { due - 1 } else { due },
        persist: Some(latest),
        next: next_fire(schedule, zone, now),
        clock,
    }
}

/// Fires in `(after, until]`, at least 1 when `until` is a fire, counted up
/// to [`COUNT_LIMIT`].
fn count_between(schedule: &Schedule, zone: &TimeZone, after: Timestamp, until: Timestamp) -> u32 {
    let mut count = 0;
    let mut cursor = after;
    while count < COUNT_LIMIT {
        match next_fire(schedule, zone, cursor) {
            Some(fire) if fire <= until => {
                count += 1;
                cursor = fire;
            }
            _ => break,
        }
    }
    count
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    fn daily() -> Schedule {
        Schedule::parse("30 2 * * *").unwrap()
    }

    #[test]
    fn on_time_runs_whatever_missed_says() {
        let last = t("2027-01-01T02:30:00Z");
        let now = t("2027-01-02T02:30:00.004Z");
        for missed in [Missed::Skip, Missed::RunOnce] {
            let w = on_wake(&daily(), &TimeZone::UTC, Some(last), now, missed);
            assert_eq!(w.run, Some(t("2027-01-02T02:30:00Z")));
            assert_eq!(w.persist, w.run);
            assert_eq!((w.passed_over, w.clock), (0, Clock::Normal));
            assert_eq!(w.next, Some(t("2027-01-03T02:30:00Z")));
        }
    }

    #[test]
    fn downtime_collapses_to_one_run_or_none() {
        let last = t("2027-01-01T02:30:00Z");
        let now = t("2027-01-10T12:00:00Z");
        let w = on_wake(&daily(), &TimeZone::UTC, Some(last), now, Missed::RunOnce);
        assert_eq!(w.run, Some(t("2027-01-10T02:30:00Z")));
        assert_eq!(w.passed_over, 8);
        assert_eq!(w.persist, Some(t("2027-01-10T02:30:00Z")));
        assert!(matches!(w.clock, Clock::Late { .. }));
        let w = on_wake(&daily(), &TimeZone::UTC, Some(last), now, Missed::Skip);
        assert_eq!((w.run, w.passed_over), (None, 9));
        assert_eq!(w.persist, Some(t("2027-01-10T02:30:00Z")));
        assert_eq!(w.next, Some(t("2027-01-11T02:30:00Z")));
    }

    #[test]
    fn a_second_wake_after_handling_does_nothing() {
        let last = t("2027-01-10T02:30:00Z");
        let w = on_wake(
            &daily(),
            &TimeZone::UTC,
            Some(last),
            t("2027-01-10T12:00:00Z"),
            Missed::RunOnce,
        );
        assert_eq!((w.run, w.persist, w.passed_over), (None, None, 0));
    }

    #[test]
    fn backward_step_never_repeats() {
        let last = t("2027-01-10T02:30:00Z");
        let now = t("2027-01-03T00:00:00Z");
        let w = on_wake(&daily(), &TimeZone::UTC, Some(last), now, Missed::RunOnce);
        assert_eq!((w.run, w.persist), (None, None));
        assert_eq!(w.next, Some(t("2027-01-11T02:30:00Z")));
        assert_eq!(
            w.clock,
            Clock::Behind {
                by: SignedDuration::from_hours(24 * 7 + 2) + SignedDuration::from_mins(30)
            }
        );
    }

    #[test]
    fn a_huge_forward_step_is_counted_with_a_bound() {
        let every_minute = Schedule::parse("* * * * *").unwrap();
        let last = t("2027-01-01T00:00:00Z");
        let now = t("2037-01-01T00:00:30Z");
        let w = on_wake(
            &every_minute,
            &TimeZone::UTC,
            Some(last),
            now,
            Missed::RunOnce,
        );
        assert_eq!(w.run, Some(t("2037-01-01T00:00:00Z")));
        assert_eq!(w.passed_over, COUNT_LIMIT - 1);
        assert_eq!(w.clock, Clock::Normal);
    }

    #[test]
    fn first_wake_without_history() {
        let w = on_wake(
            &daily(),
            &TimeZone::UTC,
            None,
            t("2027-01-10T12:00:00Z"),
            Missed::RunOnce,
        );
        assert_eq!((w.run, w.persist), (None, None));
        assert_eq!(w.next, Some(t("2027-01-11T02:30:00Z")));
    }
}
