//! A job's `schedule`: five-field cron or an `@` shorthand, parsed once.
//!
//! This is Cairn's only cron parser. The manifest uses it to reject bad
//! schedules at build time (with the byte where the problem is), and the
//! scheduler (`cairn-schedule`) builds its `Schedule` on the [`CronFields`]
//! it returns, so a manifest that builds always carries schedules the
//! scheduler runs, by construction. It lives here rather than in the
//! scheduler because the manifest must stay light (no time zone database),
//! while the scheduler may depend on the manifest. When to run is the
//! scheduler's business; this module only says which wall-clock values each
//! field names.

use std::fmt;

use crate::suggest;

const SHORTHANDS: &[&str] = &[
    "@hourly",
    "@daily",
    "@weekly",
    "@monthly",
    "@yearly",
    "@annually",
    "@reboot",
];

/// What each calendar shorthand stands for.
const EXPANSIONS: [(&str, &str); 6] = [
    ("@hourly", "0 * * * *"),
    ("@daily", "0 0 * * *"),
    ("@weekly", "0 0 * * 0"),
    ("@monthly", "0 0 1 * *"),
    ("@yearly", "0 0 1 1 *"),
    ("@annually", "0 0 1 1 *"),
];

/// A parsed schedule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CronSchedule {
    /// `@reboot`: once per boot, never on the calendar.
    Reboot,
    /// Five fields (a calendar shorthand is expanded to its fields).
    Calendar(CronFields),
}

/// The values each cron field matches, as bit sets, and which fields start
/// with `*` (which matters for the day rule and for daylight-saving folds).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CronFields {
    /// Bit m: minute m (0-59).
    pub minutes: u64,
    /// Bit h: hour h (0-23).
    pub hours: u32,
    /// Bit d: day of month d (1-31).
    pub days: u32,
    /// Bit m: month m (1-12).
    pub months: u16,
    /// Bit w: weekday w, Sunday = 0 (a 7 in the schedule sets bit 0).
    pub weekdays: u8,
    /// The day-of-month field starts with `*`.
    pub days_star: bool,
    /// The day-of-week field starts with `*`.
    pub weekdays_star: bool,
    /// The hour field starts with `*`.
    pub hours_star: bool,
}

impl CronFields {
    pub fn minute_matches(&self, minute: u32) -> bool {
        minute < 64 && self.minutes & (1 << minute) != 0
    }

    pub fn hour_matches(&self, hour: u32) -> bool {
        hour < 32 && self.hours & (1 << hour) != 0
    }

    pub fn month_matches(&self, month: u32) -> bool {
        month < 16 && self.months & (1 << month) != 0
    }

    /// The Vixie cron rule: when both day fields are restricted (neither
    /// starts with `*`), a day matches if either field matches; otherwise
    /// both must. `weekday` is 0 for Sunday.
    pub fn day_matches(&self, day: u32, weekday: u32) -> bool {
        let by_date = day < 32 && self.days & (1 << day) != 0;
        let by_weekday = weekday < 8 && self.weekdays & (1 << weekday) != 0;
        if self.days_star || self.weekdays_star {
            by_date && by_weekday
        } else {
            by_date || by_weekday
        }
    }
}

const FIVE_FIELDS: &str =
    "five fields: minute hour day-of-month month day-of-week, like \"30 2 * * *\"; or @hourly, @daily, @weekly, @monthly, @yearly, @reboot";

/// What is wrong with a schedule; `offset` is the byte in the schedule string
/// where it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub offset: usize,
    pub message: String,
    pub help: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Problem {}

struct FieldSpec {
    name: &'static str,
    min: u32,
    max: u32,
    /// Names for min, min+1, ... (months from 1, weekdays from 0).
    names: &'static [&'static str],
}

const FIELDS: [FieldSpec; 5] = [
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

const DAYS_IN_MONTH: [u32; 12] = [31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];

/// Checks a schedule (what the manifest needs).
pub(crate) fn check(schedule: &str) -> Result<(), Problem> {
    parse(schedule).map(|_| ())
}

/// Parses a schedule. A schedule that can never run (`0 0 30 2 *`) is an
/// error, so every calendar schedule that parses has fire times.
pub fn parse(schedule: &str) -> Result<CronSchedule, Problem> {
    let trimmed = schedule.trim_start();
    let lead = schedule.len() - trimmed.len();
    if trimmed.starts_with('@') {
        let word = trimmed.trim_end();
        if word == "@reboot" {
            return Ok(CronSchedule::Reboot);
        }
        if let Some((_, fields)) = EXPANSIONS.iter().find(|(name, _)| *name == word) {
            return parse_fields(fields).map(CronSchedule::Calendar);
        }
        let help = suggest::did_you_mean(word, SHORTHANDS.iter().copied())
            .unwrap_or_else(|| format!("the shorthands are {}", SHORTHANDS.join(", ")));
        return Err(problem(
            lead,
            format!("unknown schedule shorthand `{word}`"),
            help,
        ));
    }
    parse_fields(schedule).map(CronSchedule::Calendar)
}

fn parse_fields(schedule: &str) -> Result<CronFields, Problem> {
    let lead = schedule.len() - schedule.trim_start().len();
    let fields = split_fields(schedule);
    if fields.len() != 5 {
        let at = fields.get(5).map_or(lead, |(offset, _)| *offset);
        let message = format!("a schedule has five fields, this one has {}", fields.len());
        return Err(problem(at, message, FIVE_FIELDS.to_owned()));
    }
    let mut sets = [(0u64, false); 5];
    for (((offset, text), spec), set) in fields.iter().zip(&FIELDS).zip(&mut sets) {
        *set = parse_field(text, spec).map_err(|mut p| {
            p.offset += offset;
            p
        })?;
    }
    let [(minutes, _), (hours, hours_star), (days, days_star), (months, _), (weekdays, weekdays_star)] =
        sets;
    // Sunday is 0 or 7. The masks keep each set within its field's width.
    let weekdays = (weekdays | (weekdays >> 7)) & 0x7f;
    let parsed = CronFields {
        minutes,
        hours: (hours & 0x00ff_ffff) as u32,
        days: (days & 0xffff_fffe) as u32,
        months: (months & 0x1ffe) as u16,
        weekdays: weekdays as u8,
        days_star,
        weekdays_star,
        hours_star,
    };
    // Classic cron: when both day fields are restricted, either may match, so
    // only a schedule whose weekday field starts with `*` depends on dates.
    if !days_star && weekdays_star {
        let possible = (1..=12u32).any(|month| {
            parsed.month_matches(month)
                && (1..=DAYS_IN_MONTH[month as usize - 1]).any(|day| parsed.days & (1 << day) != 0)
        });
        if !possible {
            let message =
                "this schedule never runs: none of its months has the days it names".to_owned();
            return Err(problem(
                fields[2].0,
                message,
                "check the day-of-month and month fields".to_owned(),
            ));
        }
    }
    Ok(parsed)
}

fn problem(offset: usize, message: String, help: String) -> Problem {
    Problem {
        offset,
        message,
        help,
    }
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
fn parse_field(text: &str, spec: &FieldSpec) -> Result<(u64, bool), Problem> {
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
fn parse_item(item: &str, spec: &FieldSpec) -> Result<u64, Problem> {
    let range_text = format!("{}-{}", spec.min, spec.max);
    if item.is_empty() {
        let message = format!("empty entry in the {} field", spec.name);
        return Err(problem(
            0,
            message,
            "lists are written without spaces, like 1,15,30".to_owned(),
        ));
    }
    let (base, step) = match item.split_once('/') {
        Some((base, step_text)) => {
            let step = step_text.parse::<u32>().ok().filter(|s| *s >= 1);
            let width = spec.max - spec.min + 1;
            match step {
                Some(step) if step <= width => (base, step),
                _ => {
                    let message = format!(
                        "step `{step_text}` in the {} field must be from 1 to {width}",
                        spec.name
                    );
                    return Err(problem(
                        base.len() + 1,
                        message,
                        format!("the field's range is {range_text}"),
                    ));
                }
            }
        }
        None => (item, 1),
    };
    let (low, high) = if base == "*" {
        (spec.min, spec.max)
    } else if let Some((a, b)) = base.split_once('-') {
        let low = value(a, spec).map_err(|p| problem(0, p.message, p.help))?;
        let high = value(b, spec).map_err(|p| problem(a.len() + 1, p.message, p.help))?;
        if low > high {
            let message = format!("range `{base}` in the {} field goes backwards", spec.name);
            let help = format!(
                "ranges do not wrap around; split it, like `{a}-{},{}-{b}`",
                spec.max, spec.min
            );
            return Err(problem(0, message, help));
        }
        (low, high)
    } else {
        let single = value(base, spec)?;
        if step > 1 {
            let message = format!("`{item}`: a step needs a range or `*` before it");
            let help = format!("write `{base}-{}/{step}` or `*/{step}`", spec.max);
            return Err(problem(0, message, help));
        }
        (single, single)
    };
    Ok((low..=high)
        .step_by(step as usize)
        .fold(0, |bits, v| bits | 1 << v))
}

/// A number or (for months and weekdays) a three-letter name.
fn value(text: &str, spec: &FieldSpec) -> Result<u32, Problem> {
    let range_text = format!("{}-{}", spec.min, spec.max);
    if let Ok(n) = text.parse::<u32>() {
        if (spec.min..=spec.max).contains(&n) {
            return Ok(n);
        }
        let message = format!("{n} is out of range for the {} field", spec.name);
        return Err(problem(
            0,
            message,
            format!("the field's range is {range_text}"),
        ));
    }
    let lower = text.to_ascii_lowercase();
    if let Some(index) = spec.names.iter().position(|n| *n == lower) {
        return Ok(spec.min + index as u32);
    }
    let message = format!("`{text}` is not valid in the {} field", spec.name);
    let help = if spec.names.is_empty() {
        format!("write a number in {range_text}, a range like 1-5, a list like 1,15 or a step like */10")
    } else {
        let named = suggest::did_you_mean(&lower, spec.names.iter().copied());
        named.unwrap_or_else(|| {
            format!(
                "write a number in {range_text} or a name: {}",
                spec.names.join(", ")
            )
        })
    };
    Err(problem(0, message, help))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(s: &str) -> Problem {
        check(s).unwrap_err()
    }

    fn fields(s: &str) -> CronFields {
        match parse(s).unwrap() {
            CronSchedule::Calendar(fields) => fields,
            CronSchedule::Reboot => panic!("{s} is @reboot"),
        }
    }

    #[test]
    fn lists_ranges_steps_and_names_become_bit_sets() {
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
        assert!(fields("*/15 * * * *").hours_star);
    }

    #[test]
    fn sunday_is_zero_or_seven() {
        assert_eq!(fields("0 0 * * 7").weekdays, 1);
        assert_eq!(fields("0 0 * * 0").weekdays, 1);
        assert_eq!(fields("0 0 * * 5-7").weekdays, 1 | 1 << 5 | 1 << 6);
        assert_eq!(fields("0 0 * * SUN").weekdays, 1);
    }

    #[test]
    fn the_day_rule_is_vixie_or_and_star_means_unrestricted() {
        let f = fields("0 0 */2 * mon");
        assert!(f.days_star && !f.weekdays_star);
        assert!(!f.day_matches(1, 2));
        assert!(f.day_matches(1, 1));
        assert!(!f.day_matches(2, 1));
        let f = fields("0 0 13 * fri");
        assert!(f.day_matches(13, 3) && f.day_matches(20, 5) && !f.day_matches(20, 4));
        let f = fields("0 0 1-31 * mon");
        assert!(!f.days_star && f.day_matches(2, 2));
    }

    #[test]
    fn shorthands_expand_to_their_fields() {
        assert_eq!(fields("@hourly"), fields("0 * * * *"));
        assert_eq!(fields("@daily"), fields("0 0 * * *"));
        assert_eq!(fields("@weekly"), fields("0 0 * * 0"));
        assert_eq!(fields("@monthly"), fields("0 0 1 * *"));
        assert_eq!(fields("@yearly"), fields("@annually"));
        assert_eq!(parse(" @reboot "), Ok(CronSchedule::Reboot));
        assert!(parse("@Daily").is_err());
    }

    #[test]
    fn valid_schedules() {
        for ok in [
            "30 2 * * *",
            "*/15 * * * *",
            "0 9-17/2 * * mon-fri",
            "0 0 1,15 * *",
            "0 0 * jan,JUL *",
            "5 4 * * sun",
            "0 0 * * 7",
            "0 0 29 2 *",
            "  0 0 * * *  ",
            "0 0 31 * *",
            "0 0 30 2 mon",
            "@daily",
            "@reboot",
            "@annually",
        ] {
            assert_eq!(check(ok), Ok(()), "{ok}");
        }
    }

    #[test]
    fn field_count() {
        let p = err("30 2 * *");
        assert_eq!(p.message, "a schedule has five fields, this one has 4");
        assert_eq!(p.offset, 0);
        let p = err("0 30 2 * * *");
        assert_eq!(p.offset, 11, "points at the sixth field");
    }

    #[test]
    fn ranges_and_positions() {
        let p = err("60 2 * * *");
        assert_eq!(p.message, "60 is out of range for the minute field");
        assert_eq!(
            (p.offset, p.help.as_str()),
            (0, "the field's range is 0-59")
        );
        let p = err("0 2 * * 1-9");
        assert_eq!(p.message, "9 is out of range for the day-of-week field");
        assert_eq!(p.offset, 10);
        let p = err("0 1,2,x * * *");
        assert_eq!(p.message, "`x` is not valid in the hour field");
        assert_eq!(p.offset, 6);
        let p = err("0 0 0 * *");
        assert_eq!(p.message, "0 is out of range for the day-of-month field");
    }

    #[test]
    fn steps_and_names() {
        assert_eq!(
            err("*/0 * * * *").message,
            "step `0` in the minute field must be from 1 to 60"
        );
        assert_eq!(err("*/0 * * * *").offset, 2);
        assert!(err("*/90 * * * *").message.contains("from 1 to 60"));
        assert_eq!(err("5/15 * * * *").help, "write `5-59/15` or `*/15`");
        assert_eq!(
            err("0 0 * * fri-mon").message,
            "range `fri-mon` in the day-of-week field goes backwards"
        );
        assert_eq!(err("0 0 * * mom").help, "did you mean `mon`?");
        assert_eq!(err("0 0 * janu *").offset, 6);
        assert!(err("0 0 1,,2 * *").message.contains("empty entry"));
    }

    #[test]
    fn shorthands() {
        assert_eq!(err("@dialy").help, "did you mean `@daily`?");
        assert!(err("@every 5m")
            .message
            .contains("unknown schedule shorthand"));
    }

    #[test]
    fn impossible_dates() {
        let p = err("0 0 30 2 *");
        assert!(p.message.contains("never runs"), "{}", p.message);
        assert_eq!(p.offset, 4);
        assert!(check("0 0 31 4,6,9,11 *").is_err());
        assert!(check("0 0 31 4,5 *").is_ok());
    }
}
