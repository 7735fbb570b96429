//! Durations ("500ms", "1h30m"), sizes ("64KiB", "1GiB") and percentages
//! ("99.9%") as written in manifests and board configs.

use std::time::Duration;

const DURATION_UNITS: &[(&str, u64)] = &[
    ("d", 86_400_000),
    ("h", 3_600_000),
    ("m", 60_000),
    ("s", 1_000),
    ("ms", 1),
];

const DURATION_HELP: &str = "write a number and a unit, like \"500ms\", \"5s\", \"10m\", \"1h\" or \"1h30m\" (units: ms, s, m, h, d)";

/// Parses a duration: one or more `<integer><unit>` parts, largest unit
/// first, each unit at most once: `"500ms"`, `"5s"`, `"10m"`, `"1h30m"`, `"2d"`.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    if s.is_empty() {
        return Err(format!("empty duration; {DURATION_HELP}"));
    }
    let mut total_ms: u64 = 0;
    let mut last_rank: Option<usize> = None;
    for (number, unit) in split_parts(s).map_err(|e| format!("{e}; {DURATION_HELP}"))? {
        let Some(rank) = DURATION_UNITS.iter().position(|(u, _)| *u == unit) else {
            return Err(if unit.is_empty() {
                format!("`{s}` has no unit; {DURATION_HELP}")
            } else {
                format!("unknown duration unit `{unit}` in `{s}`; {DURATION_HELP}")
            });
        };
        if last_rank.is_some_and(|last| rank <= last) {
            return Err(format!(
                "units in `{s}` must go from largest to smallest, each once, like \"1h30m\""
            ));
        }
        last_rank = Some(rank);
        let part = number
            .checked_mul(DURATION_UNITS[rank].1)
            .and_then(|ms| total_ms.checked_add(ms));
        total_ms = part.ok_or_else(|| format!("duration `{s}` is too long"))?;
    }
    Ok(Duration::from_millis(total_ms))
}

/// A duration as a manifest writes it: `"10m"`, `"1m30s"`, `"1500ms"` is
/// `"1s500ms"`; the inverse of [`parse_duration`] for whole milliseconds.
pub(crate) fn format_duration(duration: Duration) -> String {
    let mut ms = u64::try_from(duration.as_millis()).unwrap_or(u64::MAX);
    if ms == 0 {
        return "0s".to_owned();
    }
    let mut out = String::new();
    for (unit, factor) in DURATION_UNITS {
        if ms >= *factor {
            out.push_str(&format!("{}{unit}", ms / factor));
            ms %= factor;
        }
    }
    out
}

const SIZE_UNITS: &[(&str, u64)] = &[
    ("B", 1),
    ("KiB", 1 << 10),
    ("MiB", 1 << 20),
    ("GiB", 1 << 30),
    ("TiB", 1 << 40),
];

/// Parses a size in bytes: an integer and a binary unit, `"512B"`, `"64KiB"`,
/// `"256MiB"`, `"1GiB"`, `"2TiB"`. Decimal units (`MB`) are refused rather
/// than guessed at.
pub fn parse_size(s: &str) -> Result<u64, String> {
    let parts = split_parts(s).map_err(|e| format!("{e}; {}", size_help("MiB")))?;
    let [(number, unit)] = parts.as_slice() else {
        return Err(format!("`{s}` is not a size; {}", size_help("MiB")));
    };
    if let Some((_, factor)) = SIZE_UNITS.iter().find(|(u, _)| u == unit) {
        return number
            .checked_mul(*factor)
            .ok_or_else(|| format!("size `{s}` is too large"));
    }
    if unit.is_empty() {
        return Err(format!("`{s}` has no unit; {}", size_help("B")));
    }
    let binary = match unit.to_ascii_uppercase().as_str() {
        "K" | "KB" | "KIB" => "KiB",
        "M" | "MB" | "MIB" => "MiB",
        "G" | "GB" | "GIB" => "GiB",
        "T" | "TB" | "TIB" => "TiB",
        _ => {
            return Err(format!(
                "unknown size unit `{unit}` in `{s}`; {}",
                size_help("MiB")
            ))
        }
    };
    let factor = SIZE_UNITS
        .iter()
        .find(|(u, _)| *u == binary)
        .map_or(1, |(_, f)| *f);
    Err(format!(
        "`{unit}` is ambiguous in `{s}`: write {binary} (1 {binary} = {factor} bytes)"
    ))
}

const PERCENT_HELP: &str =
    "write a percentage in quotes, more than 0 and at most 100, like \"99%\" or \"99.9%\"";

/// Parses a percentage more than 0 and at most 100: `"99%"`, `"99.95%"`.
/// The sign is required, so that `0.99` and `99` are never confused.
pub(crate) fn parse_percent(s: &str) -> Result<f64, String> {
    let Some(number) = s.strip_suffix('%') else {
        return Err(format!("`{s}` has no `%`; {PERCENT_HELP}"));
    };
    let (whole, fraction) = number.split_once('.').unwrap_or((number, "0"));
    let digits = |part: &str| !part.is_empty() && part.chars().all(|c| c.is_ascii_digit());
    if !digits(whole) || !digits(fraction) {
        return Err(format!("`{s}` is not a percentage; {PERCENT_HELP}"));
    }
    match number.parse::<f64>() {
        Ok(value) if value > 0.0 && value <= 100.0 => Ok(value),
        _ => Err(format!("`{s}` is out of range; {PERCENT_HELP}")),
    }
}

fn size_help(example_unit: &str) -> String {
    format!("write an integer and a binary unit, like \"64{example_unit}\" (units: B, KiB, MiB, GiB, TiB)")
}

/// Splits "1h30m" into [(1, "h"), (30, "m")]. Every part is digits then letters.
fn split_parts(s: &str) -> Result<Vec<(u64, &str)>, String> {
    let mut parts = Vec::new();
    let mut rest = s;
    while !rest.is_empty() {
        let digits = rest.len() - rest.trim_start_matches(|c: char| c.is_ascii_digit()).len();
        if digits == 0 {
            if rest.len() == s.len() && rest.starts_with(|c: char| c.is_ascii_alphabetic()) {
                return Err(format!("`{s}` must start with a number"));
            }
            return Err(unexpected(s, rest));
        }
        let number = rest[..digits]
            .parse::<u64>()
            .map_err(|_| format!("the number in `{s}` is too large"))?;
        rest = &rest[digits..];
        let letters = rest.len()
            - rest
                .trim_start_matches(|c: char| c.is_ascii_alphabetic())
                .len();
        parts.push((number, &rest[..letters]));
        rest = &rest[letters..];
        if letters == 0 && !rest.is_empty() {
            return Err(unexpected(s, rest));
        }
    }
    Ok(parts)
}

/// Explains the first character of `rest` that cannot be part of `s`.
fn unexpected(s: &str, rest: &str) -> String {
    match rest.chars().next() {
        Some(c @ ('.' | ',')) => {
            format!("`{s}` has a fraction (`{c}`); use a smaller unit instead")
        }
        Some(c) if c.is_whitespace() => format!("`{s}` has a space in it"),
        Some('-') => format!("`{s}` is negative"),
        Some(c) => format!("`{s}` has an unexpected `{c}`"),
        None => format!("`{s}` ends too early"),
    }
}

/// `32 MiB`, `1 GiB`, `1536 KiB`, `1000 bytes`: the largest binary unit
/// that divides `bytes`, as the manifest writes sizes.
pub fn format_size(bytes: u64) -> String {
    const UNITS: [(u64, &str); 4] = [
        (1 << 40, "TiB"),
        (1 << 30, "GiB"),
        (1 << 20, "MiB"),
        (1 << 10, "KiB"),
    ];
    for (size, unit) in UNITS {
        if bytes >= size && bytes.is_multiple_of(size) {
            return format!("{} {unit}", bytes / size);
        }
    }
    format!("{bytes} bytes")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_format_back_to_what_parses() {
        for text in ["10m", "1m30s", "1s500ms", "2d", "5ms", "0s"] {
            assert_eq!(format_duration(parse_duration(text).unwrap()), text);
        }
    }

    #[test]
    fn percentages_need_a_sign_and_a_sensible_range() {
        assert_eq!(parse_percent("99%"), Ok(99.0));
        assert_eq!(parse_percent("99.95%"), Ok(99.95));
        assert_eq!(parse_percent("100%"), Ok(100.0));
        assert!(parse_percent("99")
            .unwrap_err()
            .starts_with("`99` has no `%`"));
        assert!(parse_percent("0%").unwrap_err().contains("out of range"));
        assert!(parse_percent("100.1%")
            .unwrap_err()
            .contains("out of range"));
        for bad in ["%", ".5%", "5.%", "-1%", "9 9%", "1e2%"] {
            assert!(
                parse_percent(bad).unwrap_err().contains("not a percentage"),
                "{bad}"
            );
        }
    }

    #[test]
    fn sizes_read_as_the_manifest_writes_them() {
        assert_eq!(format_size(32 << 20), "32 MiB");
        assert_eq!(format_size(1 << 30), "1 GiB");
        assert_eq!(format_size(1536 << 10), "1536 KiB");
        assert_eq!(format_size(1000), "1000 bytes");
        assert_eq!(format_size(0), "0 bytes");
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("5s"), Ok(Duration::from_secs(5)));
        assert_eq!(parse_duration("10m"), Ok(Duration::from_secs(600)));
        assert_eq!(parse_duration("1h"), Ok(Duration::from_secs(3600)));
        assert_eq!(parse_duration("1h30m"), Ok(Duration::from_secs(5400)));
        assert_eq!(parse_duration("2d"), Ok(Duration::from_secs(172_800)));
        assert_eq!(
            parse_duration("1m30s250ms"),
            Ok(Duration::from_millis(90_250))
        );
        assert_eq!(parse_duration("0s"), Ok(Duration::ZERO));
    }

    #[test]
    fn bad_durations_say_why() {
        let err = |s| parse_duration(s).unwrap_err();
        assert!(err("30").contains("has no unit"), "{}", err("30"));
        assert!(err("5sec").contains("unknown duration unit `sec`"));
        assert!(err("1.5s").contains("fraction"));
        assert!(err("5 s").contains("space"));
        assert!(err("30m1h").contains("largest to smallest"));
        assert!(err("1h1h").contains("largest to smallest"));
        assert!(err("").contains("empty"));
        assert!(err("s").contains("must start with a number"));
        assert!(err("-5s").contains("negative"));
        assert!(err("99999999999999999999s").contains("too large"));
        assert!(err("999999999999999d").contains("too long"));
    }

    #[test]
    fn sizes() {
        assert_eq!(parse_size("512B"), Ok(512));
        assert_eq!(parse_size("64KiB"), Ok(64 * 1024));
        assert_eq!(parse_size("256MiB"), Ok(256 << 20));
        assert_eq!(parse_size("1GiB"), Ok(1 << 30));
        assert_eq!(parse_size("2TiB"), Ok(2 << 40));
    }

    #[test]
    fn decimal_units_are_refused_with_the_binary_spelling() {
        assert_eq!(
            parse_size("256MB").unwrap_err(),
            "`MB` is ambiguous in `256MB`: write MiB (1 MiB = 1048576 bytes)"
        );
        assert!(parse_size("1GB")
            .unwrap_err()
            .contains("write GiB (1 GiB = 1073741824 bytes)"));
        assert!(parse_size("64k").unwrap_err().contains("write KiB"));
        assert!(parse_size("1mib").unwrap_err().contains("write MiB"));
    }

    #[test]
    fn bad_sizes_say_why() {
        assert!(parse_size("512").unwrap_err().contains("has no unit"));
        assert!(parse_size("1.5GiB").unwrap_err().contains("fraction"));
        assert!(parse_size("1GiB512MiB")
            .unwrap_err()
            .contains("is not a size"));
        assert!(parse_size("5PB")
            .unwrap_err()
            .contains("unknown size unit `PB`"));
        assert!(parse_size("").unwrap_err().contains("is not a size"));
        assert!(parse_size("99999999TiB").unwrap_err().contains("too large"));
    }
}
