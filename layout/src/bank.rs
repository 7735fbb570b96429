//! A bank: one version's read-only root (a squashfs). Relative paths are as
//! the builder stages them; absolute ones are where a booted system finds
//! them, under [`MOUNT_POINT`].

/// Where PID 1 mounts the bank it booted.
pub const MOUNT_POINT: &str = "/bank";

/// The frozen manifest.
pub const MANIFEST: &str = "cairn/system.toml";
/// The version string, one line. Its modification time is the build time.
pub const VERSION: &str = "cairn/version";
/// What went into the bank.
pub const INVENTORY: &str = "cairn/inventory.json";
/// Public keys the version trusts.
pub const KEYS_DIR: &str = "cairn/keys";
/// CA certificates of the remote log collectors, one file per remote.
pub const LOGGING_CA_DIR: &str = "cairn/logging/ca";
/// Each app's tree, by name.
pub const APPS: &str = "apps";
/// Each job's tree, by name.
pub const JOBS: &str = "jobs";

/// The booted bank's manifest.
pub const MANIFEST_PATH: &str = "/bank/cairn/system.toml";
/// The booted bank's version file.
pub const VERSION_PATH: &str = "/bank/cairn/version";
/// The booted bank's app trees.
pub const APPS_PATH: &str = "/bank/apps";
/// The booted bank's job trees.
pub const JOBS_PATH: &str = "/bank/jobs";

/// `cairn/logging/ca/<index>.pem`: the CA file of remote log collector
/// `index`, relative to the bank.
pub fn logging_ca(index: usize) -> String {
    format!("{LOGGING_CA_DIR}/{index}.pem")
}

/// Where a booted system finds `relative`.
pub fn booted(relative: &str) -> String {
    format!("{MOUNT_POINT}/{relative}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn absolute_paths_are_the_mount_point_joined_with_the_relative_ones() {
        assert_eq!(MANIFEST_PATH, booted(MANIFEST));
        assert_eq!(VERSION_PATH, booted(VERSION));
        assert_eq!(APPS_PATH, booted(APPS));
        assert_eq!(JOBS_PATH, booted(JOBS));
        assert_eq!(logging_ca(2), format!("{LOGGING_CA_DIR}/2.pem"));
    }
}
