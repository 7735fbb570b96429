//! The names a request may carry in its path or query. Each is checked
//! before it reaches a file name, a socket message or a log line.

/// The rule `cairn_manifest` applies to app and job names (it keeps the
/// check itself private to the manifest crate): a lowercase letter, then up
/// to 31 lowercase letters, digits or `-`, not ending in `-`. Such a name
/// cannot be `..`, hold a `/`, or spell anything but itself in a log line.
pub fn is_app_name(name: &str) -> bool {
    name.starts_with(|c: char| c.is_ascii_lowercase())
        && name.len() <= 32
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !name.ends_with('-')
}

/// The system's own log sources (the manifest reserves these names).
pub const SYSTEM_SOURCES: [&str; 2] = ["cairn", "kernel"];

/// A log source: an app, a job, or one of the system's own sources.
pub fn is_log_source(name: &str) -> bool {
    is_app_name(name) || SYSTEM_SOURCES.contains(&name)
}

/// A secret name as the manifest accepts it.
pub fn secret_name_problem(name: &str) -> Option<&'static str> {
    cairn_manifest::secret_name_problem(name)
}

/// Text from a certificate or a request, safe to put in one log line:
/// anything but printable ASCII becomes `\xNN`, and it is cut at `max`
/// characters.
pub fn printable(text: &str, max: usize) -> String {
    let mut out = String::new();
    for (count, c) in text.chars().enumerate() {
        if count >= max {
            out.push('…');
            break;
        }
        if c.is_ascii_graphic() || c == ' ' {
            out.push(c);
        } else {
            let mut bytes = [0u8; 4];
            for b in c.encode_utf8(&mut bytes).bytes() {
                out.push_str(&format!("\\x{b:02x}"));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn app_names_follow_the_manifest() {
        for ok in ["web", "db-2", "a", "x123456789012345678901234567890y"] {
            assert!(is_app_name(ok), "{ok}");
        }
        for bad in [
            "",
            "..",
            ".",
            "Web",
            "2web",
            "web_1",
            "web-",
            "a/b",
            "a.b",
            "%2e%2e",
            "wéb",
            "x1234567890123456789012345678901y",
        ] {
            assert!(!is_app_name(bad), "{bad}");
        }
        assert!(is_log_source("kernel"));
        assert!(is_log_source("cairn"));
        assert!(!is_log_source("../cairn"));
    }

    #[test]
    fn secret_names() {
        assert_eq!(secret_name_problem("db-password"), None);
        assert_eq!(secret_name_problem("tls.key_2"), None);
        for bad in ["", "..", ".hidden", "a/b", "A", &"a".repeat(65)] {
            assert!(secret_name_problem(bad).is_some(), "{bad}");
        }
    }

    #[test]
    fn printable_escapes_control_characters_and_cuts() {
        assert_eq!(printable("alice", 64), "alice");
        assert_eq!(printable("a\nb", 64), "a\\x0ab");
        assert_eq!(printable("é", 64), "\\xc3\\xa9");
        assert_eq!(printable("abcdef", 3), "abc…");
    }
}
