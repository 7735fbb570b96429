//! What a new app process does to itself between fork and exec: join its
//! cgroup and take its rlimits.
//!
//! Both run in a forked copy of PID 1, which may have other threads, so they
//! make one raw system call each on data prepared before the fork: no
//! allocation, no locks.

use std::io;
use std::os::fd::RawFd;

use cairn_manifest::Limits;
use nix::sys::resource::{setrlimit, Resource};

/// One rlimit to set in the child: soft and hard value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RlimitSetting {
    pub resource: Resource,
    pub soft: u64,
    pub hard: u64,
}

/// The rlimits an app instance gets: `RLIMIT_NOFILE` from `open_files` (soft
/// and hard, so the app cannot raise it) and no core dumps (`RLIMIT_CORE` 0:
/// a dump would land in the app's tree or fail, and could hold secrets).
/// Built before the fork; pass the result to [`apply_rlimits_from_child`].
pub fn rlimits_for(limits: &Limits) -> Vec<RlimitSetting> {
    let mut settings = vec![RlimitSetting {
        resource: Resource::RLIMIT_CORE,
        soft: 0,
        hard: 0,
    }];
    if let Some(files) = limits.open_files {
        settings.push(RlimitSetting {
            resource: Resource::RLIMIT_NOFILE,
            soft: files,
            hard: files,
        });
    }
    settings
}

/// Sets each rlimit on the calling process. Async-signal-safe: one
/// setrlimit(2) per entry, no allocation. Call it while the child still has
/// the privilege to raise a hard limit (before dropping capabilities).
pub fn apply_rlimits_from_child(settings: &[RlimitSetting]) -> io::Result<()> {
    for setting in settings {
        setrlimit(setting.resource, setting.soft, setting.hard)
            .map_err(|errno| io::Error::from_raw_os_error(errno as i32))?;
    }
    Ok(())
}

/// Moves the calling process into the cgroup whose `cgroup.procs` is open as
/// `procs_fd` (see [`super::InstanceCgroup::procs_fd`]) by writing `0`, which
/// means "me". Async-signal-safe: a single write(2). Call it in the child
/// before `unshare(CLONE_NEWCGROUP)`, so that the app's cgroup namespace is
/// rooted at its own leaf, and before anything that forks.
pub fn join_from_child(procs_fd: RawFd) -> io::Result<()> {
    const SELF: &[u8] = b"0";
    // SAFETY: write(2) reads SELF.len() bytes from a static buffer; an
    // invalid `procs_fd` makes the call fail with EBADF, nothing worse.
    let written = unsafe { libc::write(procs_fd, SELF.as_ptr().cast(), SELF.len()) };
    match written {
        1 => Ok(()),
        n if n < 0 => Err(io::Error::last_os_error()),
        _ => Err(io::Error::from_raw_os_error(libc::EIO)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use nix::sys::resource::getrlimit;

    #[test]
    fn open_files_sets_both_limits_and_core_is_always_off() {
        let limits = Limits {
            open_files: Some(1024),
            ..Limits::default()
        };
        assert_eq!(
            rlimits_for(&limits),
            vec![
                RlimitSetting {
                    resource: Resource::RLIMIT_CORE,
                    soft: 0,
                    hard: 0
                },
                RlimitSetting {
                    resource: Resource::RLIMIT_NOFILE,
                    soft: 1024,
                    hard: 1024
                },
            ]
        );
    }

    #[test]
    fn without_open_files_only_core_is_limited() {
        let settings = rlimits_for(&Limits::default());
        assert_eq!(settings.len(), 1);
        assert_eq!(settings[0].resource, Resource::RLIMIT_CORE);
    }

    #[test]
    fn applies_core_limit_to_this_process() {
        // Lowering RLIMIT_CORE to 0 is always permitted and harmless for a
        // test process.
        apply_rlimits_from_child(&rlimits_for(&Limits::default())).unwrap();
        assert_eq!(getrlimit(Resource::RLIMIT_CORE).unwrap(), (0, 0));
    }

    #[test]
    fn join_reports_a_bad_descriptor() {
        let err = join_from_child(-1).unwrap_err();
        assert_eq!(err.raw_os_error(), Some(libc::EBADF));
    }
}
