//! RFC 3339 times at the API's edges; Unix seconds inside.

use jiff::Timestamp;

/// Unix seconds of an RFC 3339 time (`2026-12-04T23:00:00Z`, any offset).
pub fn parse_rfc3339(text: &str) -> Option<i64> {
    // jiff also reads forms RFC 3339 does not have (a bracketed zone, no
    // offset at all); a time the device acts on must say its offset.
    let bytes = text.as_bytes();
    let has_offset = bytes.last().is_some_and(|b| matches!(b, b'Z' | b'z'))
        || (bytes.len() > 6
            && bytes
                .get(bytes.len() - 6)
                .is_some_and(|b| matches!(b, b'+' | b'-')));
    if !has_offset || text.contains('[') {
        return None;
    }
    text.parse::<Timestamp>().ok().map(|t| t.as_second())
}

/// `2026-12-04T23:00:00Z` for Unix seconds (the epoch for one out of range).
pub fn format_rfc3339(seconds: i64) -> String {
    Timestamp::from_second(seconds)
        .unwrap_or(Timestamp::UNIX_EPOCH)
        .to_string()
}

/// Now, to the second, as RFC 3339.
pub fn now_rfc3339() -> String {
    format_rfc3339(Timestamp::now().as_second())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_rfc_3339_with_an_offset_only() {
        assert_eq!(parse_rfc3339("1970-01-01T00:01:00Z"), Some(60));
        assert_eq!(parse_rfc3339("1970-01-01T01:01:00+01:00"), Some(60));
        assert_eq!(parse_rfc3339("2026-12-04T23:00:00.5Z"), Some(1_796_425_200));
        for bad in [
            "",
            "now",
            "1970-01-01T00:01:00",
            "1970-01-01",
            "1970-01-01T00:01:00Z[UTC]",
        ] {
            assert_eq!(parse_rfc3339(bad), None, "{bad}");
        }
    }

    #[test]
    fn writes_whole_seconds() {
        assert_eq!(format_rfc3339(1_796_425_200), "2026-12-04T23:00:00Z");
    }
}
