//! The syntax of a job's `schedule`: five-field cron or an `@` shorthand.
//!
//! Only syntax and ranges are checked here, plus schedules that can never
//! fire (February 30th). When to run is the scheduler's business.

use crate::suggest;

pub(crate) const SHORTHANDS: &[&str] = &[
    "@hourly",
    "@daily",
    "@weekly",
    "@monthly",
    "@yearly",
    "@annually",
    "@reboot",
];

const FIVE_FIELDS: &str =
    "five fields: minute hour day-of-month month day-of-week, like \"30 2 * * *\"; or @hourly, @daily, @weekly, @monthly, @yearly, @reboot";

/// What is wrong with a schedule; `offset` is the byte in the schedule string
/// where it is.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Problem {
    pub(crate) offset: usize,
    pub(crate) message: String,
    pub(crate) help: String,
}

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

/// Checks a schedule.
pub(crate) fn check(schedule: &str) -> Result<(), Problem> {
    let trimmed = schedule.trim_start();
    let lead = schedule.len() - trimmed.len();
    if trimmed.starts_with('@') {
        let word = trimmed.trim_end();
        if SHORTHANDS.contains(&word) {
            return Ok(());
        }
        let help = suggest::did_you_mean(word, SHORTHANDS.iter().copied())
            .unwrap_or_else(|| format!("the shorthands are {}", SHORTHANDS.join(", ")));
        return Err(problem(
            lead,
            format!("unknown schedule shorthand `{word}`"),
            help,
        ));
    }
    let fields = split_fields(schedule);
    if fields.len() != 5 {
        let at = fields.get(5).map_or(lead, |(offset, _)| *offset);
        let message = format!("a schedule has five fields, this one has {}", fields.len());
        return Err(problem(at, message, FIVE_FIELDS.to_owned()));
    }
    let mut sets = Vec::with_capacity(5);
    for ((offset, text), spec) in fields.iter().zip(&FIELDS) {
        sets.push(parse_field(text, spec).map_err(|mut p| {
            p.offset += offset;
            p
        })?);
    }
    let (days, months, weekdays) = (&sets[2], &sets[3], &sets[4]);
    // Classic cron: when both day fields are restricted, either may match, so
    // only a schedule whose weekday field starts with `*` depends on dates.
    if !days.star && weekdays.star {
        let possible = (1..=12usize).any(|month| {
            months.allowed[month]
                && (1..=DAYS_IN_MONTH[month - 1]).any(|day| days.allowed[day as usize])
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
    Ok(())
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

struct FieldSet {
    /// allowed[v]: value v is matched.
    allowed: Vec<bool>,
    /// The field starts with `*` (matters for the day-of-month/day-of-week rule).
    star: bool,
}

fn parse_field(text: &str, spec: &FieldSpec) -> Result<FieldSet, Problem> {
    let mut allowed = vec![false; spec.max as usize + 1];
    let mut offset = 0;
    for item in text.split(',') {
        parse_item(item, spec, &mut allowed).map_err(|mut p| {
            p.offset += offset;
            p
        })?;
        offset += item.len() + 1;
    }
    Ok(FieldSet {
        allowed,
        star: text.starts_with('*'),
    })
}

/// One list item: `*`, `N`, `A-B`, each optionally with `/STEP`.
fn parse_item(item: &str, spec: &FieldSpec, allowed: &mut [bool]) -> Result<(), Problem> {
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
    for v in (low..=high).step_by(step as usize) {
        allowed[v as usize] = true;
    }
    Ok(())
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
