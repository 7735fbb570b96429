//! A brute-force reference: walk every minute and watch the wall clock.
//!
//! It knows nothing of the crate's search. It only applies the stated rule
//! literally: fire at minute `t` when the wall clock shows a named time for
//! the first time, or jumps over named times it has never shown (a gap); and,
//! for schedules that follow elapsed time, also when it shows a named time
//! again (the second pass of a fold).
#![allow(dead_code)]

use cairn_schedule::jiff::civil::DateTime;
use cairn_schedule::jiff::tz::TimeZone;
use cairn_schedule::jiff::{SignedDuration, Timestamp};
use cairn_schedule::Schedule;

pub const MINUTE: SignedDuration = SignedDuration::from_mins(1);

/// Zones with real transitions of every kind the scheduler must survive.
pub const ZONES: &[&str] = &[
    "America/New_York",
    "Europe/Berlin",
    "Australia/Sydney",
    "Australia/Lord_Howe",
    "Asia/Kolkata",
    "Europe/Moscow",
    "America/Sao_Paulo",
    "Pacific/Apia",
    "America/St_Johns",
    "Europe/Dublin",
    "UTC",
];

/// Fires in `(from, to]`, minute by minute.
pub fn walk(schedule: &Schedule, tz: &TimeZone, from: Timestamp, to: Timestamp) -> Vec<Timestamp> {
    // Start two days early so the highest wall time seen so far is right
    // even if `from` is inside the second pass of a fold.
    let mut t = floor_minute(from - SignedDuration::from_hours(48));
    let mut highest = tz.to_datetime(t);
    let mut fires = Vec::new();
    while t <= to {
        t += MINUTE;
        let wall = tz.to_datetime(t);
        let fire = if wall > highest {
            schedule.names(wall) || skipped_named(schedule, highest, wall)
        } else {
            schedule.follows_elapsed_time() && schedule.names(wall)
        };
        if fire && t > from && t <= to {
            fires.push(t);
        }
        highest = highest.max(wall);
    }
    fires
}

/// A named wall time strictly between the two (minutes the clock jumped over).
fn skipped_named(schedule: &Schedule, shown: DateTime, now: DateTime) -> bool {
    let mut c = shown + MINUTE;
    while c < now {
        if schedule.names(c) {
            return true;
        }
        c += MINUTE;
    }
    false
}

pub fn floor_minute(t: Timestamp) -> Timestamp {
    Timestamp::from_second(t.as_second().div_euclid(60) * 60).unwrap()
}

/// The crate's answer: next_fire chained from `from` up to `to`.
pub fn chain(schedule: &Schedule, tz: &TimeZone, from: Timestamp, to: Timestamp) -> Vec<Timestamp> {
    let mut fires = Vec::new();
    let mut cursor = from;
    while let Some(next) = cairn_schedule::next_fire(schedule, tz, cursor) {
        if next > to {
            break;
        }
        fires.push(next);
        cursor = next;
    }
    fires
}

/// Every transition of `tz` in the given years.
pub fn transitions(tz: &TimeZone, first_year: i16, last_year: i16) -> Vec<Timestamp> {
    let start = cairn_schedule::jiff::civil::date(first_year, 1, 1)
        .at(0, 0, 0, 0)
        .to_zoned(TimeZone::UTC)
        .unwrap()
        .timestamp();
    let end = cairn_schedule::jiff::civil::date(last_year, 12, 31)
        .at(0, 0, 0, 0)
        .to_zoned(TimeZone::UTC)
        .unwrap()
        .timestamp();
    tz.following(start)
        .map(|t| t.timestamp())
        .take_while(|t| *t < end)
        .collect()
}
