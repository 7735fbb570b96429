//! FAT timestamps from a Unix epoch given by the caller, never the host's
//! clock, so formatting is reproducible.
//!
//! FAT stores local date and time with two-second resolution, years 1980 to
//! 2107. An epoch outside that range is clamped to its nearest end rather than
//! refused: a build with `SOURCE_DATE_EPOCH=0` must still work.

/// A date and time as FAT directory entries store them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct FatTime {
    /// `(year - 1980) << 9 | month << 5 | day`.
    pub date: u16,
    /// `hour << 11 | minute << 5 | second / 2`.
    pub time: u16,
    /// Hundredths of a second past `time` (0 or 100: the odd second), for
    /// the creation time, which has this extra byte.
    pub hundredths: u8,
}

/// 1980-01-01T00:00:00Z.
const FIRST: u64 = 315_532_800;
/// 2107-12-31T23:59:59Z.
const LAST: u64 = 4_354_819_199;

impl FatTime {
    /// The FAT time of `epoch` seconds since 1970 (UTC), clamped into
    /// 1980..=2107.
    pub fn from_unix(epoch: u64) -> FatTime {
        let t = epoch.clamp(FIRST, LAST);
        let days = t / 86_400;
        let secs = t % 86_400;
        let (year, month, day) = civil_from_days(days);
        // In range by the clamp: year - 1980 is 0..=127, the rest are small.
        let date = ((year.saturating_sub(1980) as u16) << 9) | ((month as u16) << 5) | day as u16;
        let hour = (secs / 3600) as u16;
        let minute = ((secs / 60) % 60) as u16;
        let second = (secs % 60) as u16;
        FatTime {
            date,
            time: (hour << 11) | (minute << 5) | (second / 2),
            hundredths: if second % 2 == 1 { 100 } else { 0 },
        }
    }
}

/// Year, month (1..=12) and day (1..=31) of a count of days since
/// 1970-01-01, for days on or after that date (Howard Hinnant's algorithm).
fn civil_from_days(days: u64) -> (u64, u64, u64) {
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (if m <= 2 { y + 1 } else { y }, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parts(t: FatTime) -> (u16, u16, u16, u16, u16, u16) {
        (
            (t.date >> 9) + 1980,
            (t.date >> 5) & 15,
            t.date & 31,
            t.time >> 11,
            (t.time >> 5) & 63,
            (t.time & 31) * 2,
        )
    }

    #[test]
    fn known_dates() {
        // 2024-02-29T13:45:31Z
        let t = FatTime::from_unix(1_709_214_331);
        assert_eq!(parts(t), (2024, 2, 29, 13, 45, 30));
        assert_eq!(t.hundredths, 100);
        assert_eq!(parts(FatTime::from_unix(FIRST)), (1980, 1, 1, 0, 0, 0));
    }

    #[test]
    fn clamped_at_both_ends() {
        assert_eq!(FatTime::from_unix(0), FatTime::from_unix(FIRST));
        assert_eq!(
            parts(FatTime::from_unix(u64::MAX)),
            (2107, 12, 31, 23, 59, 58)
        );
    }
}
