//! A job's `schedule` string: five-field cron or an `@` shorthand.
//!
//! The grammar is the one the manifest checks at build time
//! (`cairn-manifest`'s `cron_syntax`): the same schedules are accepted and
//! rejected, so a manifest that builds always yields a [`Schedule`] here.
//! This module keeps what the check throws away: the set of values each
//! field matches and whether it starts with `*`.

use std::fmt;

/// A parsed schedule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Schedule {
    text: String,
    kind: Kind,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Kind {
    Cron(Fields),
    Reboot,
}

/// The values each cron field matches, as bit sets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Fields {
    /// Bit m: minute m (0-59).
    pub(crate) minutes: u64,
    /// Bit h: hour h (0-23).
    pub(crate) hours: u32,
    /// Bit d: day of month d (1-31).
    pub(crate) days: u32,
    /// Bit m: month m (1-12).
    pub(crate) months: u16,
    /// Bit w: weekday w, Sunday = 0 (a 7 in the schedule sets bit 0).
    pub(crate) weekdays: u8,
    /// The day-of-month field starts with `*`.
    pub(crate) days_star: bool,
    /// The day-of-week field starts with `*`.
    pub(crate) weekdays_star: bool,
    /// The hour field starts with `*`: the schedule runs on elapsed time
    /// across daylight-saving folds (see `docs/scheduling.md`).
    pub(crate) hours_star: bool,
}

/// Why a schedule string is not a schedule. `offset` is the byte in the
/// string where the problem is.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct ParseError {
    pub offset: usize,
    pub message: String,
    pub help: String,
}

const SHORTHANDS: [(&str, &str); 6] = [
    ("@hourly", "0 * * * *"),
    ("@daily", "0 0 * * *"),
    ("@weekly", "0 0 * * 0"),
    ("@monthly", "0 0 1 * *"),
    ("@yearly", "0 0 1 1 *"),
    ("@annually", "0 0 1 1 *"),
];

const FIVE_FIELDS: &str = "five fields: minute hour day-of-month month day-of-week, like \"30 2 * * *\"; or @hourly, @daily, @weekly, @monthly, @yearly, @reboot";

struct FieldSpec {
    name: &'static str,
    min: u32,
    max: u32,
    /// Names for min, min+1, ... (months from 1, weekdays from 0).
    names: &'static [&'static str],
}

const SPECS: [FieldSpec; 5] = [
    FieldSpec {
        name: "minute",
        min: 0,
        max: 59,
        names: &[],
    },
    FieldSpec {
        name: "hour",
        min: 0,
        max: 23,
        names: &[],
    },
    FieldSpec {
        name: "day-of-month",
        min: 1,
        max: 31,
        names: &[],
    },
    FieldSpec {
        name: "month",
        min: 1,
        max: 12,
        names: &[
            "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
        ],
    },
    FieldSpec {
        name: "day-of-week",
        min: 0,
        max: 7,
        names: &["sun", "mon", "tue", "wed", "thu", "fri", "sat"],
    },
];

/// The longest each month can be (February in a leap year).
const MAX_DAYS_IN_MONTH: [u32; 12] = [31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];

impl Schedule {
    /// Parses a schedule. A schedule that can never run (`0 0 30 2 *`) is an
    /// error, so every cron schedule that parses has a next fire time.
    pub fn parse(text: &str) -> Result<Schedule, ParseError> {
        let trimmed = text.trim_start();
        let lead = text.len() - trimmed.len();
        if trimmed.starts_with('@') {
            let word = trimmed.trim_end();
            let kind = if word == "@reboot" {
                Kind::Reboot
            } else if let Some((_, cron)) = SHORTHANDS.iter().find(|(name, _)| *name == word) {
                Kind::Cron(parse_fields(cron)?)
            } else {
                return Err(problem(
                    lead,
                    format!("unknown schedule shorthand `{word}`"),
                    "the shorthands are @hourly, @daily, @weekly, @monthly, @yearly, @annually, @reboot",
                ));
            };
            return Ok(Schedule {
                text: word.to_owned(),
                kind,
            });
        }
        Ok(Schedule {
            text: text.trim().to_owned(),
            kind: Kind::Cron(parse_fields(text)?),
        })
    }

    /// The schedule as written, without surrounding white space.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// `@reboot`: once per boot, never on the calendar.
    pub fn is_reboot(&self) -> bool {
        self.kind == Kind::Reboot
    }

    /// True when the hour field starts with `*` (`*`, `*/2`, `@hourly`): such
    /// a schedule runs on elapsed time and fires in both passes of a
    /// daylight-saving fold. Schedules that name their hours fire once.
    pub fn follows_elapsed_time(&self) -> bool {
        self.fields().is_some_and(|f| f.hours_star)
    }

    /// True when the schedule names this wall-clock minute (seconds must be
    /// zero). Says nothing about zones: see [`crate::next_fire`].
    pub fn names(&self, wall: jiff::civil::DateTime) -> bool {
        let Some(f) = self.fields() else {
            return false;
        };
        wall.second() == 0
            && wall.subsec_nanosecond() == 0
            && f.minute_matches(wall.minute() as u32)
            && f.hour_matches(wall.hour() as u32)
            && f.month_matches(wall.month() as u32)
            && f.day_matches(
                wall.day() as u32,
                wall.weekday().to_sunday_zero_offset() as u32,
            )
    }

    pub(crate) fn fields(&self) -> Option<&Fields> {
        match &self.kind {
            Kind::Cron(fields) => Some(fields),
            Kind::Reboot => None,
        }
    }
}

impl fmt::Display for Schedule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl std::str::FromStr for Schedule {
    type Err = ParseError;
    fn from_str(s: &str) -> Result<Schedule, ParseError> {
        Schedule::parse(s)
    }
}

fn problem(offset: usize, message: String, help: &str) -> ParseError {
    ParseError {
        offset,
        message,
        help: help.to_owned(),
    }
}

fn parse_fields(text: &str) -> Result<Fields, ParseError> {
    let fields = split_fields(text);
    if fields.len() != 5 {
        let lead = text.len() - text.trim_start().len();
        let at = fields.get(5).map_or(lead, |(offset, _)| *offset);
        let message = format!("a schedule has five fields, this one has {}", fields.len());
        return Err(problem(at, message, FIVE_FIELDS));
    }
    let mut sets = [(0u64, false); 5];
    for (((offset, field), spec), set) in fields.iter().zip(&SPECS).zip(&mut sets) {
        *set = parse_field(field, spec).map_err(|mut p| {
            p.offset += offset;
            p
        })?;
    }
    let [(minutes, _), (hours, hours_star), (days, days_star), (months, _), (weekdays, weekdays_star)] =
        sets;
    // Sunday is 0 or 7.
    let weekdays = (weekdays | (weekdays >> 7)) & 0x7f;
    let fields = Fields {
        minutes,
        hours: hours as u32,
        days: days as u32,
        months: months as u16,
        weekdays: weekdays as u8,
        days_star,
        weekdays_star,
        hours_star,
    };
    // With a `*` weekday field the days of the month must match on their
    // own (see `Fields::day_matches`), so they must exist in some month.
    if !days_star && weekdays_star {
        let possible = (1..=12).any(|month| {
            fields.months & (1 << month) != 0
                && (1..=MAX_DAYS_IN_MONTH[month - 1]).any(|day| fields.days & (1 << day) != 0)
        });
        if !possible {
            return Err(problem(
                fields_offset(&split_fields(text), 2),
                "this schedule never runs: none of its months has the days it names".to_owned(),
                "check the day-of-month and month fields",
            ));
        }
    }
    Ok(fields)
}

fn fields_offset(fields: &[(usize, &str)], index: usize) -> usize {
    fields.get(index).map_or(0, |(offset, _)| *offset)
}

/// The whitespace-separated fields with their byte offsets.
fn split_fields(s: &str) -> Vec<(usize, &str)> {
    let mut fields = Vec::new();
    let mut start = None;
    for (i, c) in s.char_indices().chain(std::iter::once((s.len(), ' '))) {
        match (c.is_whitespace(), start) {
            (true, Some(from)) => {
                fields.push((from, &s[from..i]));
                start = None;
            }
            (false, None) => start = Some(i),
            _ => {}
        }
    }
    fields
}

/// The field's values as a bit set, and whether it starts with `*`.
fn parse_field(text: &str, spec: &FieldSpec) -> Result<(u64, bool), ParseError> {
    let mut bits = 0u64;
    let mut offset = 0;
    for item in text.split(',') {
        bits |= parse_item(item, spec).map_err(|mut p| {
            p.offset += offset;
            p
        })?;
        offset += item.len() + 1;
    }
    Ok((bits, text.starts_with('*')))
}

/// One list item: `*`, `N`, `A-B`, each optionally with `/STEP`.
fn parse_item(item: &str, spec: &FieldSpec) -> Result<u64, ParseError> {
    let range_help = format!("the field's range is {}-{}", spec.min, spec.max);
    if item.is_empty() {
        let message = format!("empty entry in the {} field", spec.name);
        return Err(problem(
            0,
            message,
            "lists are written without spaces, like 1,15,30",
        ));
    }
    let width = spec.max - spec.min + 1;
    let (base, step) = match item.split_once('/') {
        Some((base, step_text)) => match step_text.parse::<u32>() {
            Ok(step) if (1..=width).contains(&step) => (base, step),
            _ => {
                let message = format!(
                    "step `{step_text}` in the {} field must be from 1 to {width}",
                    spec.name
                );
                return Err(problem(base.len() + 1, message, &range_help));
            }
        },
        None => (item, 1),
    };
    let (low, high) = if base == "*" {
        (spec.min, spec.max)
    } else if let Some((a, b)) = base.split_once('-') {
        let low = value(a, spec)?;
        let high = value(b, spec).map_err(|mut p| {
            p.offset += a.len() + 1;
            p
        })?;
        if low > high {
            let message = format!("range `{base}` in the {} field goes backwards", spec.name);
            return Err(problem(
                0,
                message,
                "ranges do not wrap around; split it in two",
            ));
        }
        (low, high)
    } else {
        let single = value(base, spec)?;
        if step > 1 {
            let message = format!("`{item}`: a step needs a range or `*` before it");
            let help = format!("write `{base}-{}/{step}` or `*/{step}`", spec.max);
            return Err(problem(0, message, &help));
        }
        (single, single)
    };
    Ok((low..=high)
        .step_by(step as usize)
        .fold(0, |bits, v| bits | 1 << v))
}

/// A number or (for months and weekdays) a three-letter name, any case.
fn value(text: &str, spec: &FieldSpec) -> Result<u32, ParseError> {
    let range_help = format!("the field's range is {}-{}", spec.min, spec.max);
    if let Ok(n) = text.parse::<u32>() {
        if (spec.min..=spec.max).contains(&n) {
            return Ok(n);
        }
        let message = format!("{n} is out of range for the {} field", spec.name);
        return Err(problem(0, message, &range_help));
    }
    let lower = text.to_ascii_lowercase();
    if let Some(index) = spec.names.iter().position(|n| *n == lower) {
        return Ok(spec.min + index as u32);
    }
    let message = format!("`{text}` is not valid in the {} field", spec.name);
    Err(problem(0, message, &range_help))
}

impl Fields {
    pub(crate) fn minute_matches(&self, minute: u32) -> bool {
        self.minutes & (1 << minute) != 0
    }

    pub(crate) fn hour_matches(&self, hour: u32) -> bool {
        self.hours & (1 << hour) != 0
    }

    pub(crate) fn month_matches(&self, month: u32) -> bool {
        self.months & (1 << month) != 0
    }

    /// The Vixie cron rule: when both day fields are restricted (neither
    /// starts with `*`), a day matches if either field matches; otherwise
    /// both must. `weekday` is 0 for Sunday.
    pub(crate) fn day_matches(&self, day: u32, weekday: u32) -> bool {
        let by_date = self.days & (1 << day) != 0;
        let by_weekday = self.weekdays & (1 << weekday) != 0;
        if self.days_star || self.weekdays_star {
            by_date && by_weekday
        } else {
            by_date || by_weekday
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(s: &str) -> Fields {
        Schedule::parse(s).unwrap().fields().unwrap().clone()
    }

    fn err(s: &str) -> ParseError {
        Schedule::parse(s).unwrap_err()
    }

    #[test]
    fn lists_ranges_steps_and_names() {
        let f = fields("0,30 9-17/2 1-7 jan,JUL mon-fri");
        assert_eq!(f.minutes, 1 | 1 << 30);
        assert_eq!(f.hours, 1 << 9 | 1 << 11 | 1 << 13 | 1 << 15 | 1 << 17);
        assert_eq!(f.days, 0b1111_1110);
        assert_eq!(f.months, 1 << 1 | 1 << 7);
        assert_eq!(f.weekdays, 0b011_1110);
        assert!(!f.days_star && !f.weekdays_star && !f.hours_star);
        assert_eq!(
            fields("*/15 * * * *").minutes,
            1 | 1 << 15 | 1 << 30 | 1 << 45
        );
    }

    #[test]
    fn sunday_is_zero_or_seven() {
        assert_eq!(fields("0 0 * * 7").weekdays, 1);
        assert_eq!(fields("0 0 * * 0").weekdays, 1);
        assert_eq!(fields("0 0 * * 5-7").weekdays, 1 | 1 << 5 | 1 << 6);
        assert_eq!(fields("0 0 * * SUN").weekdays, 1);
    }

    #[test]
    fn a_star_led_field_counts_as_unrestricted_for_the_day_rule() {
        let f = fields("0 0 */2 * mon");
        assert!(f.days_star && !f.weekdays_star);
        // Both must match: the 1st is odd but a Tuesday in this example.
        assert!(!f.day_matches(1, 2));
        assert!(f.day_matches(1, 1));
        assert!(!f.day_matches(2, 1));
        let f = fields("0 0 13 * fri");
        assert!(f.day_matches(13, 3) && f.day_matches(20, 5) && !f.day_matches(20, 4));
        // An explicit full range is a restriction, unlike `*`.
        let f = fields("0 0 1-31 * mon");
        assert!(!f.days_star && f.day_matches(2, 2));
    }

    #[test]
    fn shorthands() {
        assert_eq!(fields("@hourly"), fields("0 * * * *"));
        assert_eq!(fields("@daily"), fields("0 0 * * *"));
        assert_eq!(fields("@weekly"), fields("0 0 * * 0"));
        assert_eq!(fields("@monthly"), fields("0 0 1 * *"));
        assert_eq!(fields("@yearly"), fields("@annually"));
        assert!(Schedule::parse(" @reboot ").unwrap().is_reboot());
        assert!(Schedule::parse("@hourly").unwrap().follows_elapsed_time());
        assert!(!Schedule::parse("@daily").unwrap().follows_elapsed_time());
        assert!(err("@every 5m")
            .message
            .contains("unknown schedule shorthand"));
        assert!(Schedule::parse("@Daily").is_err());
    }

    #[test]
    fn errors_point_at_the_problem() {
        assert_eq!(
            err("30 2 * *").message,
            "a schedule has five fields, this one has 4"
        );
        assert_eq!(err("0 30 2 * * *").offset, 11);
        assert_eq!(err("0 2 * * 1-9").offset, 10);
        assert_eq!(err("0 1,2,x * * *").offset, 6);
        assert_eq!(err("*/0 * * * *").offset, 2);
        assert_eq!(err("5/15 * * * *").help, "write `5-59/15` or `*/15`");
        assert!(err("0 0 * * fri-mon").message.contains("goes backwards"));
        assert!(err("0 0 1,,2 * *").message.contains("empty entry"));
    }

    #[test]
    fn schedules_that_never_run_are_rejected() {
        let p = err("0 0 30 2 *");
        assert!(p.message.contains("never runs"));
        assert_eq!(p.offset, 4);
        assert!(Schedule::parse("0 0 31 4,6,9,11 *").is_err());
        assert!(Schedule::parse("0 0 31 4,5 *").is_ok());
        assert!(Schedule::parse("0 0 29 2 *").is_ok());
        // Either day field may match: Mondays in February.
        assert!(Schedule::parse("0 0 30 2 mon").is_ok());
    }
}
