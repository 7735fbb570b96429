//! Kernel settings PID 1 makes at boot, before any app starts.

use std::path::Path;

/// (setting under `/proc/sys`, value, what a failure leaves open).
const SETTINGS: &[(&str, &str, &str)] = &[
    // Nothing of a booted system needs a user namespace, and inside one an
    // app would hold every capability over what it creates there: the
    // kernel refuses them to everyone, on top of the apps' filter.
    (
        "user/max_user_namespaces",
        "0",
        "user namespaces stay possible (apps' filter still refuses them)",
    ),
];

/// Writes each setting under `proc_sys` (`/proc/sys`), warning about the
/// ones that fail; returns how many did. A setting the kernel does not have
/// is skipped: a kernel built without user namespaces has nothing to close.
pub(crate) fn apply(proc_sys: &Path) -> usize {
    let mut failed = 0;
    for (name, value, open) in SETTINGS {
        let path = proc_sys.join(name);
        if !path.exists() {
            continue;
        }
        if let Err(err) = std::fs::write(path, format!("{value}\n")) {
            tracing::warn!("cannot set {}: {err}; {open}", name.replace('/', "."));
            failed += 1;
        }
    }
    failed
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_each_setting_the_kernel_has_and_counts_failures() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(apply(dir.path()), 0, "a kernel without the settings");
        let setting = dir.path().join("user/max_user_namespaces");
        std::fs::create_dir_all(&setting).unwrap();
        assert_eq!(apply(dir.path()), 1, "a setting that cannot be written");
        std::fs::remove_dir(&setting).unwrap();
        std::fs::write(&setting, "15000\n").unwrap();
        assert_eq!(apply(dir.path()), 0);
        assert_eq!(std::fs::read_to_string(&setting).unwrap(), "0\n");
    }
}
