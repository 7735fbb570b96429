//! `/run/cairn`: what PID 1 makes at every boot in a tmpfs, for itself, the
//! in-image services and (the parts an app sees) the apps.

/// PID 1's runtime directory.
pub const DIR: &str = "/run/cairn";
/// Every instance's state, rewritten when it changes.
pub const STATUS: &str = "/run/cairn/status.json";
/// The socket apps send `READY=1` and `STATUS=` to.
pub const NOTIFY: &str = "/run/cairn/notify";
/// What an app may touch, as the app itself sees it.
pub const RESOURCES: &str = "/run/cairn/resources.json";
/// Each instance's root, while it is assembled.
pub const ROOTS: &str = "/run/cairn/roots";
/// Each app's runtime files (resources, writable copies).
pub const APPS: &str = "/run/cairn/apps";
/// The booted system's facts (version, build, bank, blessing, the last
/// update's outcome), for the control API.
pub const SYSTEM: &str = "/run/cairn/system.json";
/// PID 1's socket for the control API's requests (restart, reboot,
/// rollback, secrets).
pub const PID1_SOCKET: &str = "/run/cairn/pid1.sock";
/// The update writer's socket, where the control API streams bundles.
pub const UPDATE_SOCKET: &str = "/run/cairn/update.sock";
/// What the in-image services are started with.
pub const SERVICES_CONFIG: &str = "/run/cairn/services.json";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_path_is_under_the_runtime_directory() {
        for path in [
            STATUS,
            NOTIFY,
            RESOURCES,
            ROOTS,
            APPS,
            SYSTEM,
            PID1_SOCKET,
            UPDATE_SOCKET,
            SERVICES_CONFIG,
        ] {
            assert!(path.starts_with(&format!("{DIR}/")), "{path}");
        }
    }
}
