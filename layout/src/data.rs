//! The data partition: the only writable, persistent place. Relative paths are
//! as the builder lays out the empty filesystem; absolute ones are where a
//! booted system finds them, under [`MOUNT_POINT`].

/// Where PID 1 mounts it.
pub const MOUNT_POINT: &str = "/data";
/// The ext4 volume label (the same as the partition's name).
pub const LABEL: &str = crate::partition::DATA;

/// The OS's own state.
pub const SYSTEM: &str = "cairn";
/// How many times this system has booted.
pub const BOOT_COUNT: &str = "cairn/boot-count";
/// Crash reports of apps.
pub const CRASHES: &str = "cairn/crashes";
/// Each job's last scheduled instant and run history.
pub const JOBS: &str = "cairn/jobs";
/// The device's own identity for the control API: `server.crt` and
/// `server.key` (root only), made for it at build or by `cairn provision`.
pub const IDENTITY: &str = "cairn/identity";
/// The device's certificate chain (PEM), readable by all.
pub const IDENTITY_CERT: &str = "cairn/identity/server.crt";
/// The device's private key (PEM), readable by the control API's uid only.
pub const IDENTITY_KEY: &str = "cairn/identity/server.key";
/// Secrets stored with `cairn secret set`, one file each (root only).
pub const SECRETS: &str = "cairn/secrets";
/// What the update writer and PID 1 record of an update: `pending`,
/// `outcome` and `last` (`key=value` lines, see docs/bundle-format.md).
pub const UPDATE: &str = "cairn/update";
/// App state (the `state` paths the manifest grants), by app.
pub const APPS: &str = "apps";
/// Log files, by source.
pub const LOGS: &str = "logs";
/// The directories an empty data partition starts with.
pub const TOP_DIRS: [&str; 3] = [APPS, SYSTEM, LOGS];

/// `/data/cairn`.
pub const SYSTEM_PATH: &str = "/data/cairn";
/// `/data/cairn/crashes`.
pub const CRASHES_PATH: &str = "/data/cairn/crashes";
/// `/data/cairn/jobs`.
pub const JOBS_PATH: &str = "/data/cairn/jobs";
/// `/data/cairn/identity`.
pub const IDENTITY_PATH: &str = "/data/cairn/identity";
/// `/data/cairn/identity/server.crt`.
pub const IDENTITY_CERT_PATH: &str = "/data/cairn/identity/server.crt";
/// `/data/cairn/identity/server.key`.
pub const IDENTITY_KEY_PATH: &str = "/data/cairn/identity/server.key";
/// `/data/cairn/secrets`.
pub const SECRETS_PATH: &str = "/data/cairn/secrets";
/// `/data/cairn/update`.
pub const UPDATE_PATH: &str = "/data/cairn/update";
/// `/data/apps`.
pub const APPS_PATH: &str = "/data/apps";
/// `/data/logs`.
pub const LOGS_PATH: &str = "/data/logs";

/// Where a booted system finds `relative`.
pub fn booted(relative: &str) -> String {
    format!("{MOUNT_POINT}/{relative}")
}

/// `/data/logs/<source>`: the log directory of an app, a job, `cairn` or
/// `kernel`.
pub fn log_dir(source: &str) -> String {
    format!("{LOGS_PATH}/{source}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn absolute_paths_are_the_mount_point_joined_with_the_relative_ones() {
        assert_eq!(SYSTEM_PATH, booted(SYSTEM));
        assert_eq!(CRASHES_PATH, booted(CRASHES));
        assert_eq!(JOBS_PATH, booted(JOBS));
        assert_eq!(APPS_PATH, booted(APPS));
        assert_eq!(LOGS_PATH, booted(LOGS));
        assert_eq!(IDENTITY_PATH, booted(IDENTITY));
        assert_eq!(IDENTITY_CERT_PATH, booted(IDENTITY_CERT));
        assert_eq!(IDENTITY_KEY_PATH, booted(IDENTITY_KEY));
        assert!(IDENTITY_CERT.starts_with(&format!("{IDENTITY}/")));
        assert!(IDENTITY_KEY.starts_with(&format!("{IDENTITY}/")));
        assert_eq!(SECRETS_PATH, booted(SECRETS));
        assert_eq!(UPDATE_PATH, booted(UPDATE));
        assert_eq!(log_dir("web"), format!("{LOGS_PATH}/web"));
    }
}
