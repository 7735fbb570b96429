//! The child side of starting a sandboxed app: everything between the clone
//! and the app's exec, and the fork that puts a reaper in front of the app.
//!
//! The clone child is pid 1 of its new PID namespace. It joins its cgroup,
//! makes the cgroup namespace, sets the hostname, builds and enters the root,
//! wires stdio and passed sockets, sets rlimits and drops to the app's uid
//! with no capabilities and no_new_privs. Then it starts the app's process
//! ([`super::app_start`], a vfork-style clone): the grandchild (pid 2 of
//! the namespace) starts a session of its own, gets a clean signal state,
//! installs the system call filter and execs the app; the clone child stays
//! behind as the namespace's reaper ([`super::ns_reaper`]). The credentials
//! are dropped before that clone, once for both, so the reaper never runs
//! privileged.
//!
//! Every signal is blocked from the start of the child until the app's
//! exec: the reaper keeps them blocked to take them with `sigtimedwait`, and
//! a TERM from PID 1 that arrives during setup waits in the queue instead of
//! killing a half-built sandbox.
//!
//! In a user namespace (an unprivileged host, see [`IdMap`]) the child first
//! waits until its parent has written its uid and gid maps: until then it
//! holds no ids and no capabilities in the namespace. Supplementary groups
//! cannot be dropped there (the parent denies `setgroups`, as the kernel
//! requires before an unprivileged gid map), so the app keeps the host
//! user's, each unmapped and seen as the overflow group.
//!
//! This code runs in a forked copy of a process that may have other threads,
//! so it only makes raw, async-signal-safe system calls on data prepared
//! before the clone: no allocation, no locks, no std::env. A failed step is
//! written to the report pipe (stage, step index, errno) before `_exit(127)`.

use std::ffi::CString;
use std::io;
use std::os::fd::RawFd;

use super::signal_mask::{set_default_dispositions, set_signal_mask, ALL_SIGNALS, NO_SIGNALS};

/// One filesystem step of building a sandbox root, with every string ready
/// for the system call.
#[derive(Debug, Clone)]
pub enum RawStep {
    Mount {
        source: Option<CString>,
        target: CString,
        fstype: Option<CString>,
        flags: libc::c_ulong,
        data: Option<CString>,
    },
    Mkdir {
        path: CString,
        mode: libc::mode_t,
    },
    Touch {
        path: CString,
    },
    Symlink {
        target: CString,
        link: CString,
    },
}

/// The ids of a child in a user namespace of its own: the app's uid and gid
/// inside, the host's outside (one id each, written by the parent).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IdMap {
    pub host_uid: u32,
    pub host_gid: u32,
}

/// Everything a sandboxed child needs, prepared before the clone so the
/// child only makes system calls (see [`spawn_sandboxed`]).
#[derive(Debug, Clone)]
pub struct SandboxSpec {
    pub hostname: CString,
    /// The instance's cgroup directory: the child is created in it with
    /// `clone3(CLONE_INTO_CGROUP)` where the kernel allows.
    pub cgroup_dir: Option<RawFd>,
    /// An open `cgroup.procs` of the instance's cgroup, joined before the
    /// cgroup namespace is made (so the namespace is rooted there) when
    /// the child was not created in it.
    pub cgroup_procs: Option<RawFd>,
    pub steps: Vec<RawStep>,
    /// The directory the steps built, entered last.
    pub root: CString,
    /// The root is entered by move + chroot when pivot_root cannot leave
    /// the current one (an initramfs); elsewhere a failed pivot_root fails
    /// the start rather than leave the system's mounts in the namespace.
    pub move_root: bool,
    /// PID 1's mounts to detach when the root is entered by move + chroot.
    pub detach: Vec<CString>,
    /// Become fds 0, 1 and 2.
    pub stdio: [RawFd; 3],
    /// Become fds 3, 4, ... (socket activation); at most [`MAX_PASSED`].
    pub passed: Vec<RawFd>,
    /// (resource, soft, hard)
    pub rlimits: Vec<(libc::__rlimit_resource_t, libc::rlim_t, libc::rlim_t)>,
    pub uid: u32,
    pub gid: u32,
    /// Some: the child gets a user namespace of its own in which `uid` and
    /// `gid` are these host ids (an unprivileged host); None: it switches to
    /// `uid` and `gid` in the host's (PID 1).
    pub user_namespace: Option<IdMap>,
    /// Bounding-set capabilities 0..=last_cap are dropped.
    pub last_cap: u32,
    /// A path inside the new root.
    pub program: CString,
    pub argv: Vec<CString>,
    /// `KEY=VALUE`, the whole environment.
    pub env: Vec<CString>,
    /// The seccomp program the app's process installs just before its
    /// exec; empty: none (at most 4096 instructions, as the kernel takes).
    pub filter: Vec<libc::sock_filter>,
}

/// The most descriptors passed to one child.
pub const MAX_PASSED: usize = 64;

/// Where a sandboxed child's setup failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    Signals,
    Session,
    Cgroup,
    CgroupNamespace,
    Hostname,
    /// `index` names the step.
    Step,
    EnterRoot,
    Stdio,
    Passed,
    Rlimit,
    Capabilities,
    Ids,
    NoNewPrivs,
    /// The fork of the app from the namespace's reaper.
    Fork,
    Exec,
    /// Waiting for the parent to map the user namespace's ids.
    UserNamespace,
    /// Installing the system call filter.
    Seccomp,
}

/// Every stage, indexed by its number in a report.
pub(super) const STAGES: [Stage; 17] = [
    Stage::Signals,
    Stage::Session,
    Stage::Cgroup,
    Stage::CgroupNamespace,
    Stage::Hostname,
    Stage::Step,
    Stage::EnterRoot,
    Stage::Stdio,
    Stage::Passed,
    Stage::Rlimit,
    Stage::Capabilities,
    Stage::Ids,
    Stage::NoNewPrivs,
    Stage::Fork,
    Stage::Exec,
    Stage::UserNamespace,
    Stage::Seccomp,
];

/// The size of a failure report: stage, step index, errno (native endian).
pub(super) const REPORT_LEN: usize = 12;

/// A failed step in the child: stage, step index, errno.
type Failure = (Stage, usize, i32);

fn errno() -> i32 {
    io::Error::last_os_error()
        .raw_os_error()
        .unwrap_or(libc::EIO)
}

fn step_ok(ret: libc::c_long, stage: Stage, index: usize) -> Result<(), Failure> {
    if ret < 0 {
        Err((stage, index, errno()))
    } else {
        Ok(())
    }
}

fn opt_ptr(value: &Option<CString>) -> *const libc::c_char {
    value.as_ref().map_or(std::ptr::null(), |v| v.as_ptr())
}

/// Runs one step.
///
/// # Safety
/// Async-signal-safe: system calls on `step`'s prepared strings only.
unsafe fn run_step(step: &RawStep) -> libc::c_long {
    // SAFETY: every pointer comes from a CString that outlives the call.
    unsafe {
        match step {
            RawStep::Mount {
                source,
                target,
                fstype,
                flags,
                data,
            } => libc::c_long::from(libc::mount(
                opt_ptr(source),
                target.as_ptr(),
                opt_ptr(fstype),
                *flags,
                opt_ptr(data).cast(),
            )),
            RawStep::Mkdir { path, mode } => {
                let ret = libc::mkdir(path.as_ptr(), *mode);
                // The umask may have trimmed the mode (sticky bit, group).
                if ret < 0 {
                    return libc::c_long::from(ret);
                }
                libc::c_long::from(libc::chmod(path.as_ptr(), *mode))
            }
            RawStep::Touch { path } => {
                let fd = libc::open(
                    path.as_ptr(),
                    libc::O_CREAT | libc::O_WRONLY | libc::O_CLOEXEC,
                    0o644,
                );
                if fd >= 0 {
                    libc::close(fd);
                }
                libc::c_long::from(fd)
            }
            RawStep::Symlink { target, link } => {
                libc::c_long::from(libc::symlink(target.as_ptr(), link.as_ptr()))
            }
        }
    }
}

/// Enters `root`: pivot_root where the current root allows it, else (an
/// initramfs cannot be pivoted away from) PID 1's other mounts are detached
/// and the root is moved over `/` and chrooted into. Either way the app's
/// cwd and root are the new root and nothing of PID 1's tree is reachable.
///
/// # Safety
/// Async-signal-safe.
unsafe fn enter_root(spec: &SandboxSpec) -> Result<(), Failure> {
    let stage = Stage::EnterRoot;
    let dot = c".".as_ptr();
    // SAFETY: system calls on prepared strings.
    unsafe {
        step_ok(
            libc::c_long::from(libc::chdir(spec.root.as_ptr())),
            stage,
            0,
        )?;
        if libc::syscall(libc::SYS_pivot_root, dot, dot) == 0 {
            step_ok(
                libc::c_long::from(libc::umount2(dot, libc::MNT_DETACH)),
                stage,
                1,
            )?;
        } else if errno() == libc::EINVAL && spec.move_root {
            for target in &spec.detach {
                // Not a mount point any more, or gone with its parent: fine.
                libc::umount2(target.as_ptr(), libc::MNT_DETACH);
            }
            let moved = libc::mount(
                dot,
                c"/".as_ptr(),
                std::ptr::null(),
                libc::MS_MOVE,
                std::ptr::null(),
            );
            step_ok(libc::c_long::from(moved), stage, 2)?;
            step_ok(libc::c_long::from(libc::chroot(dot)), stage, 3)?;
        } else {
            return Err((stage, 4, errno()));
        }
        step_ok(libc::c_long::from(libc::chdir(c"/".as_ptr())), stage, 5)
    }
}

/// The kernel's capability header and data (version 3, two words).
#[repr(C)]
struct CapHeader {
    version: u32,
    pid: libc::c_int,
}

#[repr(C)]
#[derive(Clone, Copy)]
struct CapData {
    effective: u32,
    permitted: u32,
    inheritable: u32,
}

/// Drops the bounding and ambient sets, switches ids with raw system calls
/// (glibc's wrappers would try to reach the parent's other threads, which do
/// not exist in a cloned child), then clears whatever capability set is left
/// and sets no_new_privs.
///
/// # Safety
/// Async-signal-safe.
unsafe fn drop_privileges(spec: &SandboxSpec) -> Result<(), Failure> {
    // SAFETY: plain system calls with integer arguments or local structs.
    unsafe {
        for cap in 0..=spec.last_cap {
            let ret = libc::prctl(libc::PR_CAPBSET_DROP, libc::c_ulong::from(cap), 0, 0, 0);
            step_ok(libc::c_long::from(ret), Stage::Capabilities, cap as usize)?;
        }
        // Kernels without ambient capabilities have none to clear.
        libc::prctl(
            libc::PR_CAP_AMBIENT,
            libc::PR_CAP_AMBIENT_CLEAR_ALL as libc::c_ulong,
            0,
            0,
            0,
        );
        let (uid, gid) = (spec.uid, spec.gid);
        // Denied in a user namespace (see the module docs).
        if spec.user_namespace.is_none() {
            step_ok(
                libc::syscall(libc::SYS_setgroups, 0, std::ptr::null::<libc::gid_t>()),
                Stage::Ids,
                0,
            )?;
        }
        step_ok(
            libc::syscall(libc::SYS_setresgid, gid, gid, gid),
            Stage::Ids,
            1,
        )?;
        step_ok(
            libc::syscall(libc::SYS_setresuid, uid, uid, uid),
            Stage::Ids,
            2,
        )?;
        let header = CapHeader {
            version: 0x2008_0522,
            pid: 0,
        };
        let none = [CapData {
            effective: 0,
            permitted: 0,
            inheritable: 0,
        }; 2];
        step_ok(
            libc::syscall(libc::SYS_capset, &header, none.as_ptr()),
            Stage::Capabilities,
            64,
        )?;
        let nnp = libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
        step_ok(libc::c_long::from(nnp), Stage::NoNewPrivs, 0)
    }
}

/// Blocks until the parent says the ids are mapped: one byte on `fd`.
///
/// # Safety
/// Async-signal-safe.
unsafe fn wait_for_id_maps(fd: RawFd) -> Result<(), Failure> {
    let mut byte = 0u8;
    loop {
        // SAFETY: reads one byte into a local.
        let got = unsafe { libc::read(fd, (&raw mut byte).cast(), 1) };
        match got {
            1 => return Ok(()),
            n if n < 0 && errno() == libc::EINTR => continue,
            // The parent gave up (and will kill this child).
            _ => return Err((Stage::UserNamespace, 0, libc::EPIPE)),
        }
    }
}

/// Everything the clone child does before the fork, in order; the
/// descriptors from `first_free` on are left to be closed.
///
/// # Safety
/// Async-signal-safe: touches only `spec`, all built before the clone.
unsafe fn setup(
    spec: &SandboxSpec,
    maps_fd: Option<RawFd>,
    in_cgroup: bool,
) -> Result<libc::c_int, Failure> {
    // SAFETY: see the function's contract; each call is a plain system call.
    unsafe {
        let signals = set_signal_mask(ALL_SIGNALS).and_then(|()| set_default_dispositions());
        signals.map_err(|e| (Stage::Signals, 0, e.raw_os_error().unwrap_or(libc::EIO)))?;
        if let Some(fd) = maps_fd {
            wait_for_id_maps(fd)?;
        }
        step_ok(libc::c_long::from(libc::setsid()), Stage::Session, 0)?;
        if let Some(fd) = spec.cgroup_procs.filter(|_| !in_cgroup) {
            let ret = libc::write(fd, b"0".as_ptr().cast(), 1);
            step_ok(ret as libc::c_long, Stage::Cgroup, 0)?;
        }
        step_ok(
            libc::c_long::from(libc::unshare(libc::CLONE_NEWCGROUP)),
            Stage::CgroupNamespace,
            0,
        )?;
        let name = spec.hostname.as_bytes();
        let ret = libc::sethostname(name.as_ptr().cast(), name.len());
        step_ok(libc::c_long::from(ret), Stage::Hostname, 0)?;
        for (index, step) in spec.steps.iter().enumerate() {
            step_ok(run_step(step), Stage::Step, index)?;
        }
        enter_root(spec)?;
        for (target, fd) in (0..).zip(spec.stdio) {
            let ret = if fd == target {
                libc::fcntl(fd, libc::F_SETFD, 0)
            } else {
                libc::dup2(fd, target)
            };
            step_ok(libc::c_long::from(ret), Stage::Stdio, target as usize)?;
        }
        // First above the targets, so no dup2 below overwrites a
        // descriptor still to be moved; dup2 then clears close-on-exec.
        let count = spec.passed.len().min(MAX_PASSED);
        let first_free = 3 + count as libc::c_int;
        let mut moved = [-1; MAX_PASSED];
        for (index, (slot, fd)) in moved.iter_mut().zip(&spec.passed).take(count).enumerate() {
            *slot = libc::fcntl(*fd, libc::F_DUPFD_CLOEXEC, first_free);
            step_ok(libc::c_long::from(*slot), Stage::Passed, index)?;
        }
        for (index, fd) in moved.iter().take(count).enumerate() {
            let ret = libc::dup2(*fd, 3 + index as libc::c_int);
            step_ok(libc::c_long::from(ret), Stage::Passed, index)?;
        }
        for (index, (resource, soft, hard)) in spec.rlimits.iter().enumerate() {
            let limit = libc::rlimit {
                rlim_cur: *soft,
                rlim_max: *hard,
            };
            step_ok(
                libc::c_long::from(libc::setrlimit(*resource, &limit)),
                Stage::Rlimit,
                index,
            )?;
        }
        drop_privileges(spec)?;
        Ok(first_free)
    }
}

/// The grandchild, pid 2: its own session (so PID 1's reaper can signal
/// the app's whole process group), a clean signal state, then the app.
/// Returns only on failure.
///
/// # Safety
/// Async-signal-safe.
unsafe fn exec_app(
    spec: &SandboxSpec,
    first_free: libc::c_int,
    argv: &[*const libc::c_char],
    envp: &[*const libc::c_char],
) -> Failure {
    // SAFETY: plain system calls on prepared strings and pointer arrays.
    unsafe {
        if libc::setsid() < 0 {
            return (Stage::Session, 1, errno());
        }
        if let Err(err) = set_signal_mask(NO_SIGNALS) {
            return (Stage::Signals, 1, err.raw_os_error().unwrap_or(libc::EIO));
        }
        // Every descriptor PID 1 opens is close-on-exec already; this is
        // the safety net for one that is not.
        libc::syscall(
            libc::SYS_close_range,
            first_free as u32,
            u32::MAX,
            libc::CLOSE_RANGE_CLOEXEC,
        );
        // Last, so nothing of the setup is filtered; no_new_privs, which
        // an unprivileged filter needs, is set already.
        if let Err(code) = install_filter(&spec.filter) {
            return (Stage::Seccomp, 0, code);
        }
        libc::execve(spec.program.as_ptr(), argv.as_ptr(), envp.as_ptr());
        (Stage::Exec, 0, errno())
    }
}

/// Installs `filter` for this process and what it execs and forks.
///
/// # Safety
/// Async-signal-safe.
pub(crate) unsafe fn install_filter(filter: &[libc::sock_filter]) -> Result<(), i32> {
    if filter.is_empty() {
        return Ok(());
    }
    let program = libc::sock_fprog {
        len: u16::try_from(filter.len()).map_err(|_| libc::E2BIG)?,
        filter: filter.as_ptr().cast_mut(),
    };
    // SAFETY: the kernel copies the program in; it only reads `program`
    // and the instructions it points to, both alive for the call.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_seccomp,
            libc::SECCOMP_SET_MODE_FILTER,
            0,
            std::ptr::from_ref(&program),
        )
    };
    if ret < 0 {
        Err(errno())
    } else {
        Ok(())
    }
}

#[cfg(test)]
/// A fork without glibc's fork handlers (their locks may be held by a
/// thread that does not exist in this copy); returns the child's pid, 0 in
/// the child, or -1. The tests' stand-in for a namespace's reaper; the
/// reaper itself starts the app with [`super::app_start`].
///
/// # Safety
/// Async-signal-safe; the child must keep to async-signal-safe calls.
pub(super) unsafe fn raw_fork() -> libc::c_long {
    // SAFETY: a clone without CLONE_VM is a fork: the child gets a copy of
    // the address space and continues on its copy of this stack.
    unsafe {
        libc::syscall(
            libc::SYS_clone,
            libc::c_ulong::try_from(libc::SIGCHLD).unwrap_or(17),
            0usize,
            0usize,
            0usize,
            0usize,
        )
    }
}

/// Writes a failure to the report pipe: stage, step index, errno.
///
/// # Safety
/// Async-signal-safe.
unsafe fn report(fd: RawFd, (stage, index, code): Failure) {
    let mut message = [0u8; REPORT_LEN];
    message[..4].copy_from_slice(&(stage as u32).to_ne_bytes());
    message[4..8].copy_from_slice(&u32::try_from(index).unwrap_or(u32::MAX).to_ne_bytes());
    message[8..].copy_from_slice(&code.to_ne_bytes());
    // SAFETY: writes from a local buffer; a short or failed write leaves
    // the parent with an exit status instead of a reason, nothing worse.
    unsafe {
        libc::write(fd, message.as_ptr().cast(), message.len());
    }
}

/// What the app's process reads, on the reaper's stack, which stays put
/// while the reaper waits for the exec.
struct AppStart<'a> {
    spec: &'a SandboxSpec,
    first_free: libc::c_int,
    argv: &'a [*const libc::c_char],
    envp: &'a [*const libc::c_char],
    report_fd: RawFd,
}

/// The app's process, started by [`super::app_start::vfork_run`]: installs
/// the filter and execs (in [`exec_app`]), or reports why not and exits.
extern "C" fn app_main(arg: *mut libc::c_void) -> libc::c_int {
    // SAFETY: `arg` is the `AppStart` of `run`, alive until this process
    // execs or exits, since CLONE_VFORK holds the reaper until then; what
    // follows is async-signal-safe and ends in exec or `_exit`.
    unsafe {
        let start = &*arg.cast::<AppStart<'_>>();
        let failure = exec_app(start.spec, start.first_free, start.argv, start.envp);
        report(start.report_fd, failure);
        libc::_exit(127)
    }
}

/// The clone child: sets up, forks the app and becomes the reaper. Never
/// returns. In a user namespace, `maps_fd` is where the parent says the ids
/// are mapped. `in_cgroup`: it was created in its cgroup already.
///
/// # Safety
/// Async-signal-safe: runs in a cloned copy of a possibly multi-threaded
/// PID 1, touching only `spec` and the pointer arrays, all built before.
pub(super) unsafe fn run(
    spec: &SandboxSpec,
    argv: &[*const libc::c_char],
    envp: &[*const libc::c_char],
    report_fd: RawFd,
    maps_fd: Option<RawFd>,
    in_cgroup: bool,
) -> ! {
    // SAFETY: see the function's contract. `_exit` skips every destructor
    // and atexit handler of the copied parent state.
    unsafe {
        let first_free = match setup(spec, maps_fd, in_cgroup) {
            Ok(first_free) => first_free,
            Err(failure) => {
                report(report_fd, failure);
                libc::_exit(127);
            }
        };
        let mut start = AppStart {
            spec,
            first_free,
            argv,
            envp,
            report_fd,
        };
        let arg = std::ptr::from_mut(&mut start).cast::<libc::c_void>();
        match super::app_start::vfork_run(app_main, arg) {
            app if app > 0 => {
                super::ns_reaper::reap_until_exit(libc::pid_t::try_from(app).unwrap_or(2))
            }
            _ => {
                report(report_fd, (Stage::Fork, 0, errno()));
                libc::_exit(127);
            }
        }
    }
}
