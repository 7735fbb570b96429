//! Boot counters in entry file names, read and advanced the way systemd-boot
//! 252 does it (`config_entry_parse_tries` in `src/boot/efi/boot.c`).
//!
//! The counter is the text after the last `+` of the name: `LEFT`, then
//! optionally `-DONE`, then the suffix `.conf` (compared without case).
//! Anything else there, or a number above `i32::MAX`, means the entry has no
//! counter at all.

use std::fmt;

/// systemd-boot keeps both counters in a C `int`.
const COUNTER_MAX: u64 = i32::MAX as u64;

const SUFFIX: &str = ".conf";

/// How often an entry may still be tried, and how often it was.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Tries {
    pub left: u32,
    pub done: u32,
}

impl Tries {
    /// An entry with no tries left sorts last: it is "bad".
    pub fn is_bad(&self) -> bool {
        self.left == 0
    }

    /// What systemd-boot writes before it boots the entry: one try fewer
    /// left (never below 0), one more done.
    pub fn after_boot_attempt(&self) -> Tries {
        Tries {
            left: self.left.saturating_sub(1),
            done: (u64::from(self.done) + 1).min(COUNTER_MAX) as u32,
        }
    }
}

impl fmt::Display for Tries {
    /// Always both numbers (`+3-0`, never `+3`): the name keeps its length
    /// from the first rename on, which spares FAT a reallocation of the
    /// long name.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "+{}-{}", self.left, self.done)
    }
}

/// Reads the counter from a file name; returns where the counter starts
/// (the position of its `+`) and its values.
pub(crate) fn parse(file_name: &str) -> Option<(usize, Tries)> {
    let plus = file_name.rfind('+')?;
    let rest = &file_name[plus + 1..];
    let (left, rest) = leading_number(rest)?;
    let (done, rest) = match rest.strip_prefix('-') {
        Some(after_dash) => leading_number(after_dash)?,
        None => (0, rest),
    };
    if !rest.eq_ignore_ascii_case(SUFFIX) {
        return None;
    }
    Some((
        plus,
        Tries {
            left: left as u32,
            done: done as u32,
        },
    ))
}

/// The name systemd-boot renames the entry to before booting it, or `None`
/// for an entry without a counter (left as it is).
pub(crate) fn name_after_boot_attempt(file_name: &str) -> Option<String> {
    let (plus, tries) = parse(file_name)?;
    // systemd-boot writes the suffix from its own lowercase literal.
    Some(format!(
        "{}{}{SUFFIX}",
        &file_name[..plus],
        tries.after_boot_attempt()
    ))
}

/// At least one digit, no overflow, at most `i32::MAX`.
fn leading_number(s: &str) -> Option<(u64, &str)> {
    let digits = s.bytes().take_while(u8::is_ascii_digit).count();
    if digits == 0 {
        return None;
    }
    let mut value: u64 = 0;
    for b in s[..digits].bytes() {
        value = value.checked_mul(10)?.checked_add(u64::from(b - b'0'))?;
    }
    if value > COUNTER_MAX {
        return None;
    }
    Some((value, &s[digits..]))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tries(left: u32, done: u32) -> Option<Tries> {
        Some(Tries { left, done })
    }

    #[test]
    fn reads_both_forms_and_only_at_the_end() {
        assert_eq!(parse("a+3.conf").map(|p| p.1), tries(3, 0));
        assert_eq!(parse("a+2-1.conf").map(|p| p.1), tries(2, 1));
        assert_eq!(parse("a+0-3.CONF").map(|p| p.1), tries(0, 3));
        assert_eq!(parse("a+b+1-2.conf"), Some((3, Tries { left: 1, done: 2 })));
        // Not a counter: the entry is simply uncounted.
        for name in [
            "a.conf",
            "a+.conf",
            "a+3-.conf",
            "a+3x.conf",
            "a+3-1+x.conf",
            "a+3.conf.bak",
            "a+-1.conf",
            "a+2147483648.conf",
            "a+1-99999999999999999999999.conf",
        ] {
            assert_eq!(parse(name), None, "{name}");
        }
        assert_eq!(
            parse("a+2147483647.conf").map(|p| p.1),
            tries(i32::MAX as u32, 0)
        );
    }

    #[test]
    fn a_boot_attempt_moves_one_try_from_left_to_done() {
        let series = [
            "x+3-0.conf",
            "x+2-1.conf",
            "x+1-2.conf",
            "x+0-3.conf",
            "x+0-4.conf",
        ];
        for pair in series.windows(2) {
            assert_eq!(name_after_boot_attempt(pair[0]).as_deref(), Some(pair[1]));
        }
        assert_eq!(
            name_after_boot_attempt("x+3.conf").as_deref(),
            Some("x+2-1.conf")
        );
        assert_eq!(
            name_after_boot_attempt("x+1-0.CONF").as_deref(),
            Some("x+0-1.conf")
        );
        assert_eq!(name_after_boot_attempt("x.conf"), None);
        // Done saturates where systemd-boot's int does.
        assert_eq!(
            name_after_boot_attempt("x+1-2147483647.conf").as_deref(),
            Some("x+0-2147483647.conf")
        );
    }
}
