//! How the supervisor starts apps, where it writes, and its timing knobs.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Duration;

use cairn_layout::{bank, data, run};

use super::{backoff, breaker};
use crate::cgroup::CgroupRoot;
use crate::sandbox::SandboxPaths;

/// Timing knobs; production values by default, shorter in tests.
#[derive(Debug, Clone)]
pub struct Timings {
    /// Running this long without exiting (and without a word on
    /// NOTIFY_SOCKET) makes an instance of an app without `[health]` ready.
    pub ready_after: Duration,
    pub backoff_floor: Duration,
    pub backoff_cap: Duration,
    /// A run this long resets the backoff.
    pub stable_after: Duration,
    /// How long to wait for a group after SIGKILL before giving up on it.
    pub kill_grace: Duration,
    /// Failures within `breaker_window` that mark an instance failed.
    pub breaker_limit: u32,
    pub breaker_window: Duration,
}

impl Default for Timings {
    fn default() -> Self {
        Timings {
            ready_after: Duration::from_secs(1),
            backoff_floor: backoff::FLOOR,
            backoff_cap: backoff::CAP,
            stable_after: backoff::STABLE_AFTER,
            kill_grace: Duration::from_secs(2),
            breaker_limit: breaker::LIMIT,
            breaker_window: breaker::WINDOW,
        }
    }
}

/// How apps are started.
#[derive(Debug, Clone)]
pub struct SupervisorConfig {
    /// `<apps_root>/<name>` is each app's tree.
    pub apps_root: PathBuf,
    /// chroot into the app's tree (PID 1); off on a developer's machine.
    pub chroot: bool,
    /// Run as the app's own uid/gid with no supplementary groups.
    pub drop_privileges: bool,
    /// Added to every port.
    pub port_offset: u16,
    pub timings: Timings,
    /// Where NOTIFY_SOCKET is bound; apps get the same path in their
    /// environment. None: no socket, and no NOTIFY_SOCKET variable.
    pub notify_socket: Option<PathBuf>,
    /// Where the state of every instance is written on every change.
    pub status_file: Option<PathBuf>,
    /// Where crash reports are persisted ...
    pub crash_dir: Option<PathBuf>,
    /// ... provided this directory is a mount point (the data partition).
    pub crash_mount: Option<PathBuf>,
    /// Where each instance gets its cgroup (limits, port guard, a kill that
    /// leaves nothing behind). None: no cgroup v2 hierarchy to use, so the
    /// limits that need one are not enforced (with a warning each).
    pub cgroups: Option<Arc<CgroupRoot>>,
    /// Where each instance's sandbox comes from (a booted system's paths,
    /// or a `cairn dev` directory), and whose uid it runs as.
    pub sandbox: SandboxPaths,
    /// Set once the wall clock is known to be right (PID 1's SNTP client);
    /// until then calendar jobs wait for a plausible clock. None: the clock
    /// is trusted as it is (a developer's machine).
    pub clock_synced: Option<&'static AtomicBool>,
    /// The system's own services, by name, run beside the apps (PID 1's
    /// control API and update writer): each is started as a plain child of
    /// PID 1, outside any sandbox, cgroup leaf or port guard, as the uid
    /// given (None: root). Supervision is the same as for an app:
    /// restarts, backoff, the breaker, readiness, the stop order.
    pub services: BTreeMap<String, Option<u32>>,
}

impl SupervisorConfig {
    /// As PID 1 runs apps: chrooted into /bank/apps/<name>, unprivileged.
    pub fn pid1(port_offset: u16) -> SupervisorConfig {
        SupervisorConfig {
            apps_root: PathBuf::from(bank::APPS_PATH),
            chroot: true,
            drop_privileges: true,
            port_offset,
            timings: Timings::default(),
            notify_socket: Some(PathBuf::from(run::NOTIFY)),
            status_file: Some(PathBuf::from(run::STATUS)),
            crash_dir: Some(PathBuf::from(data::CRASHES_PATH)),
            crash_mount: Some(PathBuf::from(data::MOUNT_POINT)),
            cgroups: None,
            sandbox: SandboxPaths::booted(),
            clock_synced: None,
            services: BTreeMap::new(),
        }
    }

    /// As on a developer's machine: no chroot, no uid change, nothing
    /// written outside what the caller configures.
    pub fn host() -> SupervisorConfig {
        SupervisorConfig {
            apps_root: PathBuf::from("/"),
            chroot: false,
            drop_privileges: false,
            port_offset: 0,
            timings: Timings::default(),
            notify_socket: None,
            status_file: None,
            crash_dir: None,
            crash_mount: None,
            cgroups: None,
            sandbox: SandboxPaths::booted(),
            clock_synced: None,
            services: BTreeMap::new(),
        }
    }
}
