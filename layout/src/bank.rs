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
/// The update signing keys a bundle must be signed by, one `<key id>.pub`
/// PEM file each.
pub const UPDATE_KEYS_DIR: &str = "cairn/keys/update";
/// The project's CA certificate: the control API trusts clients it signed.
pub const CONTROL_CA: &str = "cairn/keys/ca.crt";
/// The build number of the version, one line: it only grows.
pub const BUILD: &str = "cairn/build";
/// The board the version was built for, one line: bundles must match it.
pub const BOARD: &str = "cairn/board";
/// The in-image services' binary (the control API and the update writer).
pub const CONTROL_BIN: &str = "cairn/bin/cairn-control";
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
/// The booted bank's update signing keys.
pub const UPDATE_KEYS_PATH: &str = "/bank/cairn/keys/update";
/// The booted bank's CA certificate for control API clients.
pub const CONTROL_CA_PATH: &str = "/bank/cairn/keys/ca.crt";
/// The booted bank's build number.
pub const BUILD_PATH: &str = "/bank/cairn/build";
/// The booted bank's board name.
pub const BOARD_PATH: &str = "/bank/cairn/board";
/// The booted bank's services binary.
pub const CONTROL_BIN_PATH: &str = "/bank/cairn/bin/cairn-control";

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
        assert_eq!(UPDATE_KEYS_PATH, booted(UPDATE_KEYS_DIR));
        assert_eq!(CONTROL_CA_PATH, booted(CONTROL_CA));
        assert_eq!(BUILD_PATH, booted(BUILD));
        assert_eq!(BOARD_PATH, booted(BOARD));
        assert_eq!(CONTROL_BIN_PATH, booted(CONTROL_BIN));
        assert_eq!(logging_ca(2), format!("{LOGGING_CA_DIR}/2.pem"));
    }
}
