//! One cgroup v2 leaf per app instance: limits, accounting and a reliable kill.
//!
//! Process groups and sessions can be escaped (`setsid`, double fork); a cgroup
//! cannot. So every app instance runs in its own leaf,
//! `<root>/cairn/apps/<app>/<instance>`, which PID 1 uses for three things:
//!
//! - **limits** from `[apps.X.limits]`: `memory.max` (with swap off and
//!   `memory.oom.group = 1`, so an OOM kills the whole instance and nothing
//!   outside it), `pids.max` and `cpu.max`;
//! - **a kill that leaves nothing behind** at stop and restart
//!   ([`InstanceCgroup::kill_all`]);
//! - **why it died**: the `oom_kill` and pids `max` counters
//!   ([`InstanceCgroup::events`]).
//!
//! cgroup v2's no-internal-process rule means a cgroup that hands controllers
//! to its children must not hold processes itself, so PID 1 moves itself to
//! the leaf `<root>/cairn/init` ([`CgroupRoot::setup`]) before enabling
//! `cpu`, `memory` and `pids` down the tree. A controller the kernel (or a
//! delegating parent, under `cairn dev`) does not offer is reported, not fatal:
//! the app still runs, and the supervisor says which limit it cannot enforce.
//!
//! A child joins its leaf between fork and exec by writing `0` to the leaf's
//! `cgroup.procs` through a descriptor opened before the fork
//! ([`join_from_child`]); open files and core dumps are capped by rlimits set
//! in the same window ([`apply_rlimits_from_child`]).

mod child;
mod instance;
mod root;
mod values;

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

pub use child::{
    apply_rlimits_from_child, join_and_limit_in_child, join_from_child, rlimits_for, RlimitSetting,
};
pub use instance::{Events, InstanceCgroup, JoinFds};
pub use root::{CgroupRoot, Unavailable};
pub use values::{cgroup2_mount_point, cpu_max, own_cgroup, Controller, CPU_PERIOD_US};

/// What went wrong while managing a cgroup; every variant names the path or
/// app it concerns.
#[derive(Debug, thiserror::Error)]
pub enum CgroupError {
    #[error("{path} is not a cgroup v2 hierarchy (it has no cgroup.controllers)")]
    NotCgroup2 { path: PathBuf },
    #[error("app {app}: {name:?} cannot name a cgroup: {why}")]
    InvalidName {
        app: String,
        name: String,
        why: &'static str,
    },
    #[error("app {app}: {why}")]
    InvalidLimit { app: String, why: String },
    #[error("cannot {action} {path}: {source}")]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("cannot enable controller {controller} in {path}: {source}")]
    Enable {
        controller: Controller,
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("cgroup {path} still holds processes; not removed")]
    Busy { path: PathBuf },
}

impl CgroupError {
    fn io(action: &'static str, path: impl Into<PathBuf>, source: io::Error) -> CgroupError {
        CgroupError::Io {
            action,
            path: path.into(),
            source,
        }
    }
}

/// Creates the cgroup `dir`; one that exists already is fine.
fn make_dir(dir: &Path) -> Result<(), CgroupError> {
    match fs::create_dir(dir) {
        Ok(()) => Ok(()),
        Err(err) if err.kind() == io::ErrorKind::AlreadyExists => Ok(()),
        Err(err) => Err(CgroupError::io("create cgroup", dir, err)),
    }
}
