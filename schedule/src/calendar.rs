//! The wall-clock times a cron schedule names, found field by field.
//!
//! This works on civil (zone-less) date-times only: which minutes of which
//! days the schedule names. Turning them into instants, with the zone's
//! gaps and folds, is `fire`'s job. Candidates are enumerated field by
//! field (month, then day, hour, minute), never by adding offsets and
//! normalising, so month ends and steps cannot drift.

use jiff::civil::{date, DateTime};

use crate::cron::Fields;

/// The last year a fire time is looked for (the calendar's limit).
const LAST_YEAR: i16 = 9999;

/// The first minute the schedule names strictly after `after`.
pub(crate) fn next_named_after(fields: &Fields, after: DateTime) -> Option<DateTime> {
    let whole_minute = after.with().second(0).subsec_nanosecond(0).build().ok()?;
    let start = whole_minute
        .checked_add(jiff::SignedDuration::from_mins(1))
        .ok()?;
    next_named_from(fields, start)
}

/// The first minute the schedule names at or after `from` (a whole minute).
fn next_named_from(fields: &Fields, from: DateTime) -> Option<DateTime> {
    let mut year = from.year();
    let mut month = from.month() as u32;
    let mut day = from.day() as u32;
    let mut hour = from.hour() as u32;
    let mut minute = from.minute() as u32;
    loop {
        if year > LAST_YEAR {
            return None;
        }
        if month > 12 {
            (year, month, day, hour, minute) = (year + 1, 1, 1, 0, 0);
            continue;
        }
        if !fields.month_matches(month) {
            (month, day, hour, minute) = (month + 1, 1, 0, 0);
            continue;
        }
        let first_of_month = date(year, month as i8, 1);
        if day > first_of_month.days_in_month() as u32 {
            (month, day, hour, minute) = (month + 1, 1, 0, 0);
            continue;
        }
        let weekday = first_of_month
            .with()
            .day(day as i8)
            .build()
            .ok()?
            .weekday()
            .to_sunday_zero_offset() as u32;
        if !fields.day_matches(day, weekday) {
            (day, hour, minute) = (day + 1, 0, 0);
            continue;
        }
        match (hour..24).find(|h| fields.hour_matches(*h)) {
            None => {
                (day, hour, minute) = (day + 1, 0, 0);
                continue;
            }
            Some(found) if found != hour => (hour, minute) = (found, 0),
            Some(_) => {}
        }
        match (minute..60).find(|m| fields.minute_matches(*m)) {
            None => (hour, minute) = (hour + 1, 0),
            Some(found) => {
                return Some(date(year, month as i8, day as i8).at(hour as i8, found as i8, 0, 0))
            }
        }
        if hour > 23 {
            (day, hour, minute) = (day + 1, 0, 0);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Schedule;

    fn next(schedule: &str, after: DateTime) -> DateTime {
        let s = Schedule::parse(schedule).unwrap();
        next_named_after(s.fields().unwrap(), after).unwrap()
    }

    fn dt(y: i16, mo: i8, d: i8, h: i8, mi: i8) -> DateTime {
        date(y, mo, d).at(h, mi, 0, 0)
    }

    #[test]
    fn strictly_after_and_seconds_round_up() {
        assert_eq!(
            next("30 2 * * *", dt(2027, 1, 1, 2, 30)),
            dt(2027, 1, 2, 2, 30)
        );
        let with_seconds = date(2027, 1, 1).at(2, 29, 59, 5);
        assert_eq!(next("30 2 * * *", with_seconds), dt(2027, 1, 1, 2, 30));
        assert_eq!(next("* * * * *", with_seconds), dt(2027, 1, 1, 2, 30));
    }

    #[test]
    fn month_ends_do_not_drift() {
        // `1/5` over a 31-day month: 31 then the 1st, 6th of the next.
        assert_eq!(
            next("0 0 1-31/5 * *", dt(2027, 1, 26, 0, 0)),
            dt(2027, 1, 31, 0, 0)
        );
        assert_eq!(
            next("0 0 1-31/5 * *", dt(2027, 1, 31, 0, 0)),
            dt(2027, 2, 1, 0, 0)
        );
        assert_eq!(
            next("0 0 31 * *", dt(2027, 1, 31, 0, 0)),
            dt(2027, 3, 31, 0, 0)
        );
    }

    #[test]
    fn rare_days() {
        assert_eq!(
            next("0 0 29 2 *", dt(2024, 2, 29, 0, 0)),
            dt(2028, 2, 29, 0, 0)
        );
        assert_eq!(
            next("0 0 29 2 *", dt(2096, 3, 1, 0, 0)),
            dt(2104, 2, 29, 0, 0)
        );
        // Friday the 13th needs both: `*` in neither field means either.
        assert_eq!(
            next("0 0 13 * fri", dt(2026, 2, 14, 0, 0)),
            dt(2026, 2, 20, 0, 0)
        );
        // Feb 29 that is also a Sunday (`*/7` is Sunday and `*`-led, so
        // both fields must match).
        assert_eq!(
            next("0 0 29 2 */7", dt(2024, 3, 1, 0, 0)),
            dt(2032, 2, 29, 0, 0)
        );
    }

    #[test]
    fn the_calendar_ends() {
        let s = Schedule::parse("0 0 1 1 *").unwrap();
        assert_eq!(
            next_named_after(s.fields().unwrap(), dt(9999, 1, 1, 0, 0)),
            None
        );
    }
}
