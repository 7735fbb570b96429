//! From named wall times to fire instants, with the zone's real rules.
//!
//! The rule, in one line: a named wall time `c` fires at the first instant
//! at which the zone's wall clock has reached `c`. That instant is `c`
//! itself when `c` occurs once, the first occurrence when a fold repeats
//! it, and the end of the gap when a spring-forward skips it (all the
//! wall times of one gap collapse into that single instant). Schedules
//! whose hour field starts with `*` also fire at the second occurrence in
//! a fold, because for them the repeated hour is one more hour of elapsed
//! time (see `docs/scheduling.md`).

use jiff::civil::DateTime;
use jiff::tz::{AmbiguousOffset, Offset, TimeZone};
use jiff::{SignedDuration, Timestamp, Zoned};

use crate::calendar::next_named_after;
use crate::cron::{Fields, Schedule};

/// One fire of a schedule.
#[derive(Debug, Clone, PartialEq)]
pub struct Fire {
    /// When it fires.
    pub instant: Timestamp,
    /// The same instant in the job's zone: civil time, offset, abbreviation.
    pub local: Zoned,
    /// How the instant relates to the wall time the schedule names.
    pub kind: FireKind,
}

/// How a fire instant relates to the wall time the schedule names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FireKind {
    /// The named wall time occurs once that day.
    Exact,
    /// The named wall time does not exist (a spring-forward gap skipped it):
    /// the job fires once at the first instant after the gap. `named` is the
    /// first of the schedule's wall times in that gap.
    AfterGap { named: DateTime },
    /// The named wall time occurs twice (a fold); this is its first occurrence.
    FirstOfFold,
    /// The second occurrence in a fold. Only schedules that follow elapsed
    /// time ([`Schedule::follows_elapsed_time`]) fire here.
    SecondOfFold,
}

/// The first fire strictly after `after`, or `None` for `@reboot` (which is
/// not on the calendar) and past the calendar's end (year 9999).
pub fn next_fire(schedule: &Schedule, zone: &TimeZone, after: Timestamp) -> Option<Timestamp> {
    next_detail(schedule.fields()?, zone, after).map(|(instant, _)| instant)
}

/// The next `count` fires strictly after `after`, in order.
pub fn upcoming(schedule: &Schedule, zone: &TimeZone, after: Timestamp, count: usize) -> Vec<Fire> {
    let Some(fields) = schedule.fields() else {
        return Vec::new();
    };
    let mut fires = Vec::with_capacity(count);
    let mut cursor = after;
    while fires.len() < count {
        let Some((instant, kind)) = next_detail(fields, zone, cursor) else {
            break;
        };
        fires.push(Fire {
            instant,
            local: instant.to_zoned(zone.clone()),
            kind,
        });
        cursor = instant;
    }
    fires
}

/// The latest fire in `(after, until]`, if any. Used to collapse everything
/// a stopped or stepped clock passed over into one decision.
pub fn last_fire_between(
    schedule: &Schedule,
    zone: &TimeZone,
    after: Timestamp,
    until: Timestamp,
) -> Option<Timestamp> {
    let first = next_fire(schedule, zone, after).filter(|f| *f <= until)?;
    // Widen a window back from `until` until it holds a fire, then walk
    // forward inside it: the window is at most about twice as wide as the
    // distance to the answer, so the walk stays short.
    let mut width = SignedDuration::from_mins(1);
    loop {
        let probe = until
            .checked_sub(width)
            .ok()
            .map_or(after, |p| p.max(after));
        let start = if probe <= after {
            Some(first)
        } else {
            next_fire(schedule, zone, probe).filter(|f| *f <= until)
        };
        if let Some(mut last) = start {
            while let Some(next) = next_fire(schedule, zone, last).filter(|f| *f <= until) {
                last = next;
            }
            return Some(last);
        }
        width = width.checked_mul(2).unwrap_or(SignedDuration::MAX);
    }
}

/// The first fire after `after` and how it relates to its named wall time.
fn next_detail(
    fields: &Fields,
    zone: &TimeZone,
    after: Timestamp,
) -> Option<(Timestamp, FireKind)> {
    let first_pass = next_first_reach(fields, zone, after);
    if !fields.hours_star {
        return first_pass;
    }
    match next_second_pass(fields, zone, after, first_pass.map(|(t, _)| t)) {
        Some(second) => Some((second, FireKind::SecondOfFold)),
        None => first_pass,
    }
}

/// The first named wall time whose first reach is after `after`.
fn next_first_reach(
    fields: &Fields,
    zone: &TimeZone,
    after: Timestamp,
) -> Option<(Timestamp, FireKind)> {
    // Every wall time up to the clock's reading at `after` was reached at
    // or before `after`, so the search starts just past that reading.
    let mut named = next_named_after(fields, zone.to_datetime(after))?;
    loop {
        let (instant, kind) = first_reach(zone, named)?;
        if instant > after {
            return Some((instant, kind));
        }
        // `after` lies in the second pass of a fold whose first pass already
        // showed `named`: skip to the end of that first pass.
        let resume = match zone.following(instant).next() {
            Some(transition) if transition.timestamp() <= after => {
                let end_of_first_pass = transition.timestamp().checked_sub(NANO).ok()?;
                named.max(zone.to_datetime(end_of_first_pass))
            }
            _ => named,
        };
        named = next_named_after(fields, resume)?;
    }
}

const NANO: SignedDuration = SignedDuration::from_nanos(1);

/// The first instant at which the zone's wall clock shows `named` or later.
fn first_reach(zone: &TimeZone, named: DateTime) -> Option<(Timestamp, FireKind)> {
    match zone.to_ambiguous_timestamp(named).offset() {
        AmbiguousOffset::Unambiguous { offset } => {
            Some((offset.to_timestamp(named).ok()?, FireKind::Exact))
        }
        AmbiguousOffset::Fold { before, .. } => {
            Some((before.to_timestamp(named).ok()?, FireKind::FirstOfFold))
        }
        AmbiguousOffset::Gap { after, .. } => {
            // Read with the later offset, `named` is an instant before the
            // gap; the transition after it that jumps past `named` ends it.
            let before_gap = after.to_timestamp(named).ok()?;
            let end = zone
                .following(before_gap)
                .map(|t| t.timestamp())
                .find(|t| zone.to_datetime(*t) >= named)?;
            Some((end, FireKind::AfterGap { named }))
        }
    }
}

/// The first second-pass fire (a named wall time shown again after a fold)
/// in `(after, bound)`.
fn next_second_pass(
    fields: &Fields,
    zone: &TimeZone,
    after: Timestamp,
    bound: Option<Timestamp>,
) -> Option<Timestamp> {
    // Only the fold in force at `after` and those that follow can matter.
    let in_force = zone.preceding(after.checked_add(NANO).ok()?).next();
    let transitions = in_force
        .into_iter()
        .chain(zone.following(after))
        .map(|t| (t.timestamp(), t.offset()));
    let mut best: Option<Timestamp> = None;
    for (at, offset_after) in transitions.take(10_000) {
        let limit = best.or(bound);
        if limit.is_some_and(|limit| at >= limit) {
            break;
        }
        let offset_before = zone.to_offset(at.checked_sub(NANO).ok()?);
        let Some(repeated) = fold_length(offset_before, offset_after) else {
            continue;
        };
        let from = after.max(at.checked_sub(NANO).ok()?);
        let Some(named) = next_named_after(fields, offset_after.to_datetime(from)) else {
            continue;
        };
        let Ok(instant) = offset_after.to_timestamp(named) else {
            continue;
        };
        let in_second_pass = zone.to_offset(instant) == offset_after
            && at.checked_add(repeated).is_ok_and(|end| instant < end);
        if in_second_pass && limit.is_none_or(|limit| instant < limit) {
            best = Some(instant);
        }
    }
    best
}

/// How long a backward transition repeats the wall clock, if it is one.
fn fold_length(before: Offset, after: Offset) -> Option<SignedDuration> {
    let seconds = i64::from(before.seconds()) - i64::from(after.seconds());
    (seconds > 0).then(|| SignedDuration::from_secs(seconds))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::zone;

    fn at(zone_name: &str, civil: &str) -> Timestamp {
        let tz = zone(zone_name).unwrap();
        tz.to_ambiguous_zoned(civil.parse().unwrap())
            .compatible()
            .unwrap()
            .timestamp()
    }

    fn fires(schedule: &str, zone_name: &str, after: &str, count: usize) -> Vec<String> {
        let tz = zone(zone_name).unwrap();
        let s = Schedule::parse(schedule).unwrap();
        let after: Timestamp = after.parse().unwrap();
        upcoming(&s, &tz, after, count)
            .iter()
            .map(|f| f.local.strftime("%Y-%m-%dT%H:%M%:z").to_string())
            .collect()
    }

    #[test]
    fn plain_days() {
        assert_eq!(
            fires("30 2 * * *", "Europe/Berlin", "2027-01-01T00:00:00Z", 2),
            ["2027-01-01T02:30+01:00", "2027-01-02T02:30+01:00"]
        );
    }

    #[test]
    fn spring_forward_gap_fires_once_at_the_end_of_the_gap() {
        // New York, 2027-03-14: 02:00 EST becomes 03:00 EDT.
        let got = fires("30 2 * * *", "America/New_York", "2027-03-13T12:00:00Z", 3);
        assert_eq!(
            got,
            [
                "2027-03-14T03:00-04:00",
                "2027-03-15T02:30-04:00",
                "2027-03-16T02:30-04:00"
            ]
        );
        // Every minute of the gap collapses into one fire.
        let got = fires(
            "*/15 2 * * *",
            "America/New_York",
            "2027-03-14T06:50:00Z",
            2,
        );
        assert_eq!(got, ["2027-03-14T03:00-04:00", "2027-03-15T02:00-04:00"]);
    }

    #[test]
    fn fold_fires_once_for_named_hours_and_twice_for_elapsed_time() {
        // New York, 2027-11-07: 02:00 EDT becomes 01:00 EST.
        let named = fires("30 1 * * *", "America/New_York", "2027-11-07T00:00:00Z", 2);
        assert_eq!(named, ["2027-11-07T01:30-04:00", "2027-11-08T01:30-05:00"]);
        let hourly = fires("30 * * * *", "America/New_York", "2027-11-07T04:00:00Z", 4);
        assert_eq!(
            hourly,
            [
                "2027-11-07T00:30-04:00",
                "2027-11-07T01:30-04:00",
                "2027-11-07T01:30-05:00",
                "2027-11-07T02:30-05:00"
            ]
        );
    }

    #[test]
    fn after_inside_the_second_pass() {
        let tz = zone("America/New_York").unwrap();
        let second_pass =
            at("America/New_York", "2027-11-07T00:00") + SignedDuration::from_mins(150);
        assert_eq!(
            tz.to_datetime(second_pass).to_string(),
            "2027-11-07T01:30:00"
        );
        let named = Schedule::parse("45 1 * * *").unwrap();
        let next = next_fire(&named, &tz, second_pass).unwrap();
        assert_eq!(
            next.to_zoned(tz.clone()).to_string(),
            "2027-11-08T01:45:00-05:00[America/New_York]"
        );
        let elapsed = Schedule::parse("45 * * * *").unwrap();
        let next = next_fire(&elapsed, &tz, second_pass).unwrap();
        assert_eq!(next, second_pass + SignedDuration::from_mins(15));
    }

    #[test]
    fn fire_kinds() {
        let tz = zone("America/New_York").unwrap();
        let s = Schedule::parse("30 1,2 * * *").unwrap();
        let kinds: Vec<FireKind> = upcoming(&s, &tz, "2027-03-14T00:00:00Z".parse().unwrap(), 2)
            .iter()
            .map(|f| f.kind)
            .collect();
        let named = jiff::civil::date(2027, 3, 14).at(2, 30, 0, 0);
        assert_eq!(kinds, [FireKind::Exact, FireKind::AfterGap { named }]);
        let s = Schedule::parse("30 1 * * *").unwrap();
        let fold = upcoming(&s, &tz, "2027-11-07T00:00:00Z".parse().unwrap(), 1);
        assert_eq!(fold[0].kind, FireKind::FirstOfFold);
    }

    #[test]
    fn reboot_never_fires_on_the_calendar() {
        let s = Schedule::parse("@reboot").unwrap();
        assert_eq!(next_fire(&s, &TimeZone::UTC, Timestamp::UNIX_EPOCH), None);
        assert!(upcoming(&s, &TimeZone::UTC, Timestamp::UNIX_EPOCH, 3).is_empty());
    }

    #[test]
    fn last_fire_between_finds_the_latest() {
        let tz = zone("Europe/Berlin").unwrap();
        let s = Schedule::parse("0 0 29 2 *").unwrap();
        let from = "2019-01-01T00:00:00Z".parse().unwrap();
        let until = "2027-06-01T00:00:00Z".parse().unwrap();
        let last = last_fire_between(&s, &tz, from, until).unwrap();
        assert_eq!(
            last.to_zoned(tz.clone()).to_string(),
            "2024-02-29T00:00:00+01:00[Europe/Berlin]"
        );
        assert_eq!(last_fire_between(&s, &tz, last, until), None);
        let every = Schedule::parse("* * * * *").unwrap();
        let until_odd: Timestamp = "2027-06-01T00:00:30Z".parse().unwrap();
        assert_eq!(
            last_fire_between(&every, &tz, from, until_odd),
            Some("2027-06-01T00:00:00Z".parse().unwrap())
        );
    }
}
