//! The shapes names must have. Each check returns None when the name is
//! fine, or the rule it breaks, written for the user.

/// App and job names become host names, directory names and cgroup names:
/// a lowercase letter, then up to 31 lowercase letters, digits or `-`, not
/// ending in `-`.
pub(crate) fn app_name_problem(name: &str) -> Option<&'static str> {
    const RULE: &str = "names start with a lowercase letter, then up to 31 lowercase letters, digits or `-`, and do not end with `-`; they become host names, directory names and cgroup names";
    let ok = starts_with_lowercase(name)
        && name.len() <= 32
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && !name.ends_with('-');
    if !ok {
        return Some(RULE);
    }
    // The system's own log sources: an app of that name would share their
    // log files (see docs/logging.md).
    if RESERVED_NAMES.contains(&name) {
        return Some(
            "`cairn` and `kernel` are reserved: they name the system's own logs; choose another name",
        );
    }
    // The OS's own services (the control API, the update writer, the
    // balancer) run beside the apps under names of this form.
    name.starts_with(SERVICE_PREFIX).then_some(
        "names starting with `cairn-` are reserved for the system's own services; choose another name",
    )
}

/// Names of the system's own log sources, which no app or job may take.
pub const RESERVED_NAMES: [&str; 2] = ["cairn", "kernel"];

/// How the names of the system's own services start; no app or job's does.
pub const SERVICE_PREFIX: &str = "cairn-";

/// Port names become `PORT_<NAME>` variables: a lowercase letter, then up to
/// 31 lowercase letters, digits or `_`.
pub(crate) fn port_name_problem(name: &str) -> Option<&'static str> {
    const RULE: &str = "port names start with a lowercase letter, then up to 31 lowercase letters, digits or `_`; each becomes the variable PORT_<NAME>";
    let ok = starts_with_lowercase(name)
        && name.len() <= 32
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    (!ok).then_some(RULE)
}

/// Interface names as the kernel accepts them, kept simple: a lowercase
/// letter, then up to 14 lowercase letters or digits (`eth0`, `enp0s3`).
pub(crate) fn interface_name_problem(name: &str) -> Option<&'static str> {
    const RULE: &str = "interface names start with a lowercase letter, then up to 14 lowercase letters or digits, like `eth0`";
    let ok = starts_with_lowercase(name)
        && name.len() <= 15
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit());
    (!ok).then_some(RULE)
}

/// A host name is one RFC 1123 label: 1 to 63 letters, digits or `-`, not
/// starting or ending with `-`.
pub(crate) fn hostname_problem(name: &str) -> Option<&'static str> {
    const RULE: &str = "a host name is 1 to 63 letters, digits or `-`, not starting or ending with `-` (no dots: it is the machine's own name, not a domain)";
    let ok = !name.is_empty()
        && name.len() <= 63
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        && !name.starts_with('-')
        && !name.ends_with('-');
    (!ok).then_some(RULE)
}

/// Secret names become file names on the device: 1 to 64 lowercase
/// letters, digits, `.`, `_` or `-`, starting with a letter or digit.
pub fn secret_name_problem(name: &str) -> Option<&'static str> {
    const RULE: &str = "secret names are 1 to 64 lowercase letters, digits, `.`, `_` or `-`, starting with a letter or digit";
    let ok = !name.is_empty()
        && name.len() <= 64
        && name.starts_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '.' | '_' | '-'));
    (!ok).then_some(RULE)
}

/// Environment variable names as a shell accepts them.
pub(crate) fn env_name_problem(name: &str) -> Option<&'static str> {
    const RULE: &str = "variable names are letters, digits and `_`, not starting with a digit";
    let ok = name.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    (!ok).then_some(RULE)
}

/// HTTP header names are tokens (RFC 9110): letters, digits and
/// ``!#$%&'*+-.^_`|~``. Case does not matter to HTTP; the caller keeps them
/// in lower case.
pub(crate) fn header_name_problem(name: &str) -> Option<&'static str> {
    const RULE: &str =
        "a header name is letters, digits and `-` (any of !#$%&'*+-.^_`|~ too), like \"x-tenant\"";
    let ok = !name.is_empty()
        && name.len() <= 256
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "!#$%&'*+-.^_`|~".contains(c));
    (!ok).then_some(RULE)
}

/// A DNS host name (dot-separated labels), as used for a log server.
pub(crate) fn is_dns_name(name: &str) -> bool {
    !name.is_empty() && name.len() <= 253 && name.split('.').all(|l| hostname_problem(l).is_none())
}

fn starts_with_lowercase(name: &str) -> bool {
    name.starts_with(|c: char| c.is_ascii_lowercase())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn app_names() {
        for ok in ["web", "a", "db-2", "x123456789012345678901234567890y"] {
            assert_eq!(app_name_problem(ok), None, "{ok}");
        }
        for bad in [
            "",
            "Web",
            "2web",
            "web_1",
            "web-",
            "a.b",
            "x1234567890123456789012345678901y",
        ] {
            assert!(app_name_problem(bad).is_some(), "{bad}");
        }
    }

    #[test]
    fn port_names() {
        assert_eq!(port_name_problem("http"), None);
        assert_eq!(port_name_problem("admin_api2"), None);
        assert!(port_name_problem("admin-api").is_some());
        assert!(port_name_problem("Http").is_some());
        assert!(port_name_problem("_x").is_some());
    }

    #[test]
    fn hostnames_are_single_labels() {
        assert_eq!(hostname_problem("edge-01"), None);
        assert_eq!(hostname_problem("1box"), None);
        assert!(hostname_problem("edge.example.net").is_some());
        assert!(hostname_problem("-edge").is_some());
        assert!(hostname_problem("edge-").is_some());
        assert!(hostname_problem(&"a".repeat(64)).is_some());
        assert!(hostname_problem("").is_some());
    }

    #[test]
    fn interfaces_env_and_dns() {
        assert_eq!(interface_name_problem("enp0s3"), None);
        assert!(interface_name_problem("eth-0").is_some());
        assert!(interface_name_problem("abcdefghijklmnop").is_some());
        assert_eq!(env_name_problem("RUST_LOG"), None);
        assert_eq!(env_name_problem("_x1"), None);
        assert!(env_name_problem("1X").is_some());
        assert!(env_name_problem("A-B").is_some());
        assert!(env_name_problem("").is_some());
        assert!(is_dns_name("logs.example.net"));
        assert!(!is_dns_name("logs..net"));
        assert!(!is_dns_name("logs_1.net"));
    }

    #[test]
    fn header_names_are_tokens() {
        assert_eq!(header_name_problem("x-tenant"), None);
        assert_eq!(header_name_problem("X-Forwarded-For"), None);
        assert!(header_name_problem("").is_some());
        assert!(header_name_problem("x tenant").is_some());
        assert!(header_name_problem("x:y").is_some());
    }

    #[test]
    fn system_log_sources_are_reserved() {
        assert!(app_name_problem("kernel").is_some_and(|r| r.contains("reserved")));
        assert!(app_name_problem("cairn").is_some_and(|r| r.contains("reserved")));
        assert!(app_name_problem("cairn-web").is_some_and(|r| r.contains("services")));
        assert_eq!(app_name_problem("cairnweb"), None);
    }
}
