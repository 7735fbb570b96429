//! A job's `schedule` string: five-field cron or an `@` shorthand.
//!
//! The grammar has one implementation, `cairn-manifest`'s `cron_syntax`,
//! which the manifest uses to reject bad schedules at build time. A
//! [`Schedule`] is that parser's result with the text it came from, so a
//! manifest that builds always yields a schedule here, and both accept and
//! reject exactly the same strings.

use std::fmt;

use cairn_manifest::cron_syntax::{self, CronSchedule};

/// The values each cron field matches (bit sets, and which fields start
/// with `*`).
pub(crate) use cairn_manifest::cron_syntax::CronFields as Fields;

/// Why a schedule string is not a schedule. `offset` is the byte in the
/// string where the problem is; `help` says what to write instead.
pub use cairn_manifest::cron_syntax::Problem as ParseError;

/// A parsed schedule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Schedule {
    text: String,
    kind: CronSchedule,
}

impl Schedule {
    /// Parses a schedule. A schedule that can never run (`0 0 30 2 *`) is an
    /// error, so every cron schedule that parses has a next fire time.
    pub fn parse(text: &str) -> Result<Schedule, ParseError> {
        let kind = cron_syntax::parse(text)?;
        Ok(Schedule {
            text: text.trim().to_owned(),
            kind,
        })
    }

    /// The schedule as written, without surrounding white space.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// `@reboot`: once per boot, never on the calendar.
    pub fn is_reboot(&self) -> bool {
        self.kind == CronSchedule::Reboot
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
            CronSchedule::Calendar(fields) => Some(fields),
            CronSchedule::Reboot => None,
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_text_and_the_kind() {
        let s = Schedule::parse("  30 2 * * *  ").unwrap();
        assert_eq!(s.as_str(), "30 2 * * *");
        assert!(!s.is_reboot() && !s.follows_elapsed_time());
        let r = Schedule::parse(" @reboot ").unwrap();
        assert!(r.is_reboot() && r.fields().is_none());
        assert_eq!(r.to_string(), "@reboot");
        assert!(Schedule::parse("@hourly").unwrap().follows_elapsed_time());
    }

    #[test]
    fn errors_come_from_the_one_grammar() {
        let e = Schedule::parse("0 2 * * 1-9").unwrap_err();
        assert_eq!(e.offset, 10);
        assert_eq!(e.to_string(), "9 is out of range for the day-of-week field");
        assert!(Schedule::parse("0 0 30 2 *").is_err());
    }

    #[test]
    fn names_matches_whole_minutes_only() {
        let s = Schedule::parse("30 2 * * *").unwrap();
        let at = jiff::civil::date(2027, 1, 1).at(2, 30, 0, 0);
        assert!(s.names(at));
        assert!(!s.names(at.with().second(1).build().unwrap()));
    }
}
