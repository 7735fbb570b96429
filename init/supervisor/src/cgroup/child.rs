//! What a new app process does to itself between fork and exec: join its
//! cgroup and take its rlimits.
//!
//! Both run in a forked copy of PID 1, which may have other threads, so they
//! make one raw system call each on data prepared before the fork: no
//! allocation, no locks.

use std::io;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::os::unix::process::CommandExt;
use std::process::Command;

use cairn_manifest::Limits;
use nix::sys::resource::{setrlimit, Resource};

/// One rlimit to set in the child: soft and hard value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RlimitSetting {
    pub resource: Resource,
    pub soft: u64,
    pub hard: u64,
}

impl RlimitSetting {
    /// As the sandbox's child setup takes it: (resource, soft, hard).
    pub fn raw(&self) -> (libc::__rlimit_resource_t, u64, u64) {
        // nix's `Resource` is the C enum's value (repr(u32) on glibc).
        (
            self.resource as libc::__rlimit_resource_t,
            self.soft,
            self.hard,
        )
    }
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

/// Makes a plain (unsandboxed) child of `command` join the cgroup whose
/// `cgroup.procs` is `procs` and take `rlimits` between fork and exec, before
/// any hook installed later (such as the one that drops its uid). The
/// descriptor stays open as long as `command` does.
pub fn join_and_limit_in_child(
    command: &mut Command,
    procs: Option<OwnedFd>,
    rlimits: Vec<RlimitSetting>,
) {
    let hook = move || {
        if let Some(fd) = &procs {
            join_from_child(fd.as_raw_fd())?;
        }
        apply_rlimits_from_child(&rlimits)
    };
    // SAFETY: the hook makes only async-signal-safe calls (one write(2) and
    // one setrlimit(2) per entry) on data moved into it before the fork, so
    // it may run between fork and exec even when the parent has threads.
    unsafe {
        command.pre_exec(hook);
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
    fn raw_settings_carry_the_c_resource_number() {
        let limits = Limits {
            open_files: Some(64),
            ..Limits::default()
        };
        let raw: Vec<_> = rlimits_for(&limits)
            .iter()
            .map(RlimitSetting::raw)
            .collect();
        assert_eq!(
            raw,
            vec![(libc::RLIMIT_CORE, 0, 0), (libc::RLIMIT_NOFILE, 64, 64)]
        );
    }

    #[test]
    fn a_plain_child_takes_its_rlimits_before_exec() {
        let limits = Limits {
            open_files: Some(77),
            ..Limits::default()
        };
        let mut command = Command::new("/bin/sh");
        command.args(["-c", "ulimit -n; ulimit -Hn; ulimit -c"]);
        join_and_limit_in_child(&mut command, None, rlimits_for(&limits));
        let out = command.output().unwrap();
        assert!(out.status.success(), "{out:?}");
        assert_eq!(String::from_utf8_lossy(&out.stdout), "77\n77\n0\n");
    }

    #[test]
    fn join_reports_a_bad_descriptor() {
        let err = join_from_child(-1).unwrap_err();
        assert_eq!(err.raw_os_error(), Some(libc::EBADF));
    }
}
