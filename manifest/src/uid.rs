//! Stable user ids for apps and jobs.
//!
//! An app's uid (which is also its gid) depends on its name only, so it is
//! the same on every boot and after every update: files an app left in its
//! state directory stay its own. The range 200000..1200000 is far from the
//! ids a Linux system hands out itself and from the usual subordinate id
//! ranges.

/// The first uid handed to apps and jobs.
pub const UID_BASE: u32 = 200_000;
/// How many uids apps and jobs are spread over.
pub const UID_SPAN: u32 = 1_000_000;

/// The uid (= gid) an app runs as: `200000 + fnv1a32(name) % 1000000`.
pub fn app_uid(app_name: &str) -> u32 {
    UID_BASE + fnv1a32(app_name.as_bytes()) % UID_SPAN
}

/// The uid (= gid) a job runs as: [`app_uid`] of `"job:" + name`. The prefix
/// keeps a job's uid apart from an app's of the same spelling.
pub fn job_uid(job_name: &str) -> u32 {
    app_uid(&format!("job:{job_name}"))
}

/// The uid (= gid) the selector of service `service` runs as: [`app_uid`]
/// of `"selector:" + name`. A selector is sandboxed like an app, under an
/// id of its own, so it can read nothing of the app it chooses among.
pub fn selector_uid(service: &str) -> u32 {
    app_uid(&format!("selector:{service}"))
}

/// 32-bit FNV-1a: tiny, stable across versions and platforms, and spreads
/// short names well.
fn fnv1a32(bytes: &[u8]) -> u32 {
    bytes.iter().fold(0x811c_9dc5, |hash, byte| {
        (hash ^ u32::from(*byte)).wrapping_mul(0x0100_0193)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fnv1a32_matches_the_reference_vectors() {
        assert_eq!(fnv1a32(b""), 0x811c_9dc5);
        assert_eq!(fnv1a32(b"a"), 0xe40c_292c);
        assert_eq!(fnv1a32(b"foobar"), 0xbf9c_f968);
    }

    #[test]
    fn uids_are_stable_and_unprivileged() {
        // Fixed values: changing them would hand every app's state to another uid.
        assert_eq!(app_uid("web"), 1_127_825);
        assert_eq!(app_uid("db"), 703_683);
        assert_eq!(job_uid("backup"), 481_076);
        assert_ne!(app_uid("web"), app_uid("db"));
        assert_ne!(app_uid("backup"), job_uid("backup"));
        assert_eq!(selector_uid("web"), app_uid("selector:web"));
        assert_ne!(selector_uid("web"), app_uid("web"));
        for name in [
            "web",
            "db",
            "a",
            "backup",
            "x123456789012345678901234567890y",
        ] {
            let uid = app_uid(name);
            assert!(
                (UID_BASE..UID_BASE + UID_SPAN).contains(&uid),
                "{name}: {uid}"
            );
            assert!((UID_BASE..UID_BASE + UID_SPAN).contains(&job_uid(name)));
        }
    }
}
