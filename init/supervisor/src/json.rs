//! The little JSON PID 1 writes (`status.json`, `resources.json`, job
//! history): string literals by hand, so PID 1 needs no serialisation
//! framework for three small files.

use std::fmt::Write as _;

/// `text` as a JSON string literal, quotes included.
pub fn quote(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if u32::from(c) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// `value` as a JSON string literal, or `null`.
pub fn quote_or_null(value: Option<&str>) -> String {
    value.map_or_else(|| "null".to_string(), quote)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_are_escaped_as_json_requires() {
        assert_eq!(quote("plain"), "\"plain\"");
        assert_eq!(
            quote("a \"b\" \\ c\nd\te\u{1}"),
            "\"a \\\"b\\\" \\\\ c\\nd\\te\\u0001\""
        );
        assert_eq!(quote("grüße"), "\"grüße\"");
        assert_eq!(quote_or_null(None), "null");
        assert_eq!(quote_or_null(Some("x")), "\"x\"");
    }
}
