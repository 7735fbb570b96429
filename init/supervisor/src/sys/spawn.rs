//! Starting an app: the plain child's pre-exec hook, and PID 1's side of
//! starting a sandboxed one (the child's side is in [`super::sandbox_child`]).
//!
//! std's `Command` forks, wires stdio and then runs our `pre_exec` hook. std
//! does not reset the signal mask (it inherits the parent's since Rust 1.66),
//! and SIG_IGN dispositions survive exec, so the hook restores both: an app
//! must not start with SIGCHLD/SIGTERM blocked or SIGPIPE ignored because PID 1
//! has them so. It then starts a new session (so the whole process group can be
//! signalled), enters the app's root, drops every supplementary group, the gid
//! and the uid, and sets no_new_privs.
//!
//! The hook runs in a forked copy of a process that may have other threads (the
//! DHCP renewer), so it only makes raw, async-signal-safe system calls on data
//! prepared before the fork: no allocation, no locks, no std::env.

use std::ffi::CString;
use std::io;
use std::os::fd::AsRawFd;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::Command;

use super::sandbox_child::{self, IdMap, SandboxSpec, Stage, REPORT_LEN, STAGES};
use super::signal_mask::{set_default_dispositions, set_signal_mask, NO_SIGNALS};

/// What the child does to itself before exec.
#[derive(Debug, Clone, Default)]
pub struct ChildSetup {
    /// chroot into this directory (and chdir to its `/`).
    pub root: Option<CString>,
    /// Switch to this uid and gid, with no supplementary groups.
    pub ids: Option<(u32, u32)>,
}

impl ChildSetup {
    /// A setup that chroots into `root` when given.
    pub fn new(root: Option<&Path>, ids: Option<(u32, u32)>) -> io::Result<ChildSetup> {
        let root = match root {
            Some(path) => Some(CString::new(path.as_os_str().as_bytes())?),
            None => None,
        };
        Ok(ChildSetup { root, ids })
    }
}

fn check(ret: libc::c_int) -> io::Result<()> {
    if ret < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}

/// Restores the default signal mask and dispositions (see the module docs).
///
/// # Safety
/// Async-signal-safe; may run between fork (or clone) and exec.
unsafe fn reset_signals() -> io::Result<()> {
    // SAFETY: both are async-signal-safe, as this function promises.
    unsafe {
        set_signal_mask(NO_SIGNALS)?;
        set_default_dispositions()
    }
}

/// The body of the pre-exec hook; see the module docs for the order and why.
fn prepare_child(setup: &ChildSetup) -> io::Result<()> {
    // SAFETY: only async-signal-safe system calls, on memory owned by
    // `setup` (built before fork, never mutated) or local to this frame.
    unsafe {
        reset_signals()?;
        check(libc::setsid())?;
        if let Some(root) = &setup.root {
            check(libc::chroot(root.as_ptr()))?;
        }
        check(libc::chdir(c"/".as_ptr()))?;
        if let Some((uid, gid)) = setup.ids {
            check(libc::setgroups(0, std::ptr::null()))?;
            check(libc::setgid(gid))?;
            check(libc::setuid(uid))?;
            check(libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0))?;
        }
        // Every descriptor PID 1 opens is close-on-exec already; this is the
        // safety net for one that is not. Old kernels lack close_range: ignore.
        libc::syscall(
            libc::SYS_close_range,
            3u32,
            u32::MAX,
            libc::CLOSE_RANGE_CLOEXEC,
        );
    }
    Ok(())
}

/// Installs the pre-exec hook on `command`.
pub fn apply(command: &mut Command, setup: ChildSetup) {
    // SAFETY: `prepare_child` is async-signal-safe (see above), so it may run
    // between fork and exec even when the parent has other threads.
    unsafe {
        command.pre_exec(move || prepare_child(&setup));
    }
}

/// Why a sandboxed child did not start.
#[derive(Debug)]
pub enum SpawnError {
    /// PID 1's side failed (pipe, clone).
    Os(io::Error),
    /// The child reported a failed setup step, then exited (and was reaped).
    Setup {
        stage: Stage,
        index: usize,
        error: io::Error,
    },
}

/// The namespaces made at clone; the cgroup namespace comes later, after the
/// child joined its cgroup.
const CLONE_FLAGS: libc::c_int =
    libc::CLONE_NEWNS | libc::CLONE_NEWPID | libc::CLONE_NEWIPC | libc::CLONE_NEWUTS;

fn pointers(strings: &[CString]) -> Vec<*const libc::c_char> {
    strings
        .iter()
        .map(|s| s.as_ptr())
        .chain(std::iter::once(std::ptr::null()))
        .collect()
}

/// `struct clone_args` of clone3(2), up to `cgroup` (CLONE_ARGS_SIZE_VER2).
#[repr(C)]
#[derive(Debug, Default)]
struct CloneArgs {
    flags: u64,
    pidfd: u64,
    child_tid: u64,
    parent_tid: u64,
    exit_signal: u64,
    stack: u64,
    stack_size: u64,
    tls: u64,
    set_tid: u64,
    set_tid_size: u64,
    cgroup: u64,
}

/// clone3's flag: create the child in the cgroup `CloneArgs::cgroup` names.
const CLONE_INTO_CGROUP: u64 = 0x2_0000_0000;

/// A fork-like clone3 with `flags`, the child created in the cgroup whose
/// directory is open as `dir`. The child's pid, 0 in the child, or -1 when
/// the kernel cannot (no clone3, no cgroup v2 there): the caller falls back.
///
/// # Safety
/// As a fork: the child must keep to async-signal-safe calls.
unsafe fn clone_into_cgroup(flags: libc::c_int, dir: std::os::fd::RawFd) -> libc::c_long {
    let args = CloneArgs {
        flags: u64::try_from(flags).unwrap_or(0) | CLONE_INTO_CGROUP,
        exit_signal: u64::try_from(libc::SIGCHLD).unwrap_or(17),
        cgroup: u64::try_from(dir).unwrap_or(u64::MAX),
        ..CloneArgs::default()
    };
    // SAFETY: `args` is a valid clone_args of the size passed; without
    // CLONE_VM and without a stack the child runs on a copy of this one.
    unsafe {
        libc::syscall(
            libc::SYS_clone3,
            std::ptr::from_ref(&args),
            std::mem::size_of::<CloneArgs>(),
        )
    }
}

/// Starts `spec.program` in new mount, PID, IPC, UTS and cgroup namespaces
/// (and a user namespace when `spec.user_namespace` says so), set up as
/// `spec` says. Returns the pid (in PID 1's namespace) of the namespace's
/// reaper once the app has exec'd, or the step that failed, reported
/// through a close-on-exec pipe as std's `Command` does.
///
/// The child is created by a raw clone with fork semantics (no shared
/// memory, so no stack of its own is needed): only a clone can put the new
/// process itself in a new PID namespace, where it is pid 1. It forks the
/// app (pid 2 inside) and stays as its reaper, exiting with the app's
/// status (see [`super::ns_reaper`]), so the pid returned here stands for
/// the whole instance: signals sent to it reach the app, and its exit is
/// the app's.
///
/// In a user namespace the child cannot map its own ids to anything but
/// the host user, so this side writes the maps (`setgroups` denied, then
/// the uid and gid maps) and then lets the child go on.
pub fn spawn_sandboxed(spec: &SandboxSpec) -> Result<i32, SpawnError> {
    let argv = pointers(&spec.argv);
    let envp = pointers(&spec.env);
    let cloexec = nix::fcntl::OFlag::O_CLOEXEC;
    let os = |e| SpawnError::Os(cairn_sys::io_err(e));
    let (report_read, report_write) = nix::unistd::pipe2(cloexec).map_err(os)?;
    let maps = match spec.user_namespace {
        Some(_) => Some(nix::unistd::pipe2(cloexec).map_err(os)?),
        None => None,
    };
    let maps_fd = maps.as_ref().map(|(read, _)| read.as_raw_fd());
    let flags = if spec.user_namespace.is_some() {
        CLONE_FLAGS | libc::CLONE_NEWUSER
    } else {
        CLONE_FLAGS
    };
    // Created in its cgroup where the kernel can (Linux 5.7+, cgroup v2):
    // no migration afterwards, which under load is the slowest part of a
    // start. Otherwise the child moves itself in first thing.
    let mut in_cgroup = false;
    let mut pid = -1;
    if let Some(dir) = spec.cgroup_dir {
        // SAFETY: as the clone below; the child runs only `sandbox_child::run`.
        pid = unsafe { clone_into_cgroup(flags, dir) };
        in_cgroup = pid >= 0;
    }
    if !in_cgroup {
        // SAFETY: a fork-like clone (no CLONE_VM): the child gets a copy of
        // this address space and only runs `sandbox_child::run`, which is
        // async-signal-safe and never returns to Rust code that could
        // allocate or unwind.
        pid = unsafe {
            libc::syscall(
                libc::SYS_clone,
                libc::c_ulong::try_from(flags | libc::SIGCHLD).unwrap_or(0),
                0usize,
                0usize,
                0usize,
                0usize,
            )
        };
    }
    if pid == 0 {
        let report = report_write.as_raw_fd();
        // SAFETY: in the child; see above.
        unsafe { sandbox_child::run(spec, &argv, &envp, report, maps_fd, in_cgroup) }
    }
    if pid < 0 {
        return Err(SpawnError::Os(io::Error::last_os_error()));
    }
    drop(report_write);
    let pid = i32::try_from(pid).unwrap_or(i32::MAX);
    if let (Some(ids), Some((_, go))) = (spec.user_namespace, &maps) {
        let mapped = write_id_maps(pid, ids, spec.uid, spec.gid).and_then(|()| {
            nix::unistd::write(go, &[1])
                .map(drop)
                .map_err(cairn_sys::io_err)
        });
        if let Err(err) = mapped {
            let child = nix::unistd::Pid::from_raw(pid);
            let _ = nix::sys::signal::kill(child, nix::sys::signal::Signal::SIGKILL);
            let _ = nix::sys::wait::waitpid(child, None);
            return Err(SpawnError::Os(io::Error::new(
                err.kind(),
                format!("cannot map the ids of a user namespace: {err}"),
            )));
        }
    }
    drop(maps);
    let mut message = [0u8; REPORT_LEN];
    let mut got = 0;
    while let Some(rest) = message.get_mut(got..).filter(|rest| !rest.is_empty()) {
        match nix::unistd::read(report_read.as_raw_fd(), rest) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(nix::errno::Errno::EINTR) => continue,
            Err(err) => return Err(SpawnError::Os(cairn_sys::io_err(err))),
        }
    }
    if got == 0 {
        return Ok(pid);
    }
    // The child (or the app's process before its exec) wrote why and exits
    // at once, and the reaper with it; reap it here so it is never mistaken
    // for an instance that ran.
    let _ = nix::sys::wait::waitpid(nix::unistd::Pid::from_raw(pid), None);
    // Every offset lies inside the report; bytes the child did not write
    // read as zero.
    let word = |at: usize| -> [u8; 4] {
        message
            .get(at..at + 4)
            .and_then(|bytes| bytes.try_into().ok())
            .unwrap_or_default()
    };
    let stage = usize::try_from(u32::from_ne_bytes(word(0)))
        .ok()
        .and_then(|n| STAGES.get(n))
        .copied()
        .unwrap_or(Stage::Exec);
    Err(SpawnError::Setup {
        stage,
        index: usize::try_from(u32::from_ne_bytes(word(4))).unwrap_or(usize::MAX),
        error: io::Error::from_raw_os_error(i32::from_ne_bytes(word(8))),
    })
}

/// Maps `uid` and `gid` inside the user namespace of `pid` to the host's
/// ids in `ids`, one id each, after denying `setgroups` (which the kernel
/// requires before an unprivileged process writes a gid map).
fn write_id_maps(pid: i32, ids: IdMap, uid: u32, gid: u32) -> io::Result<()> {
    let proc = Path::new("/proc").join(pid.to_string());
    let write = |name: &str, text: String| {
        std::fs::write(proc.join(name), text)
            .map_err(|e| io::Error::new(e.kind(), format!("{name}: {e}")))
    };
    write("setgroups", "deny".to_string())?;
    write("uid_map", format!("{uid} {} 1\n", ids.host_uid))?;
    write("gid_map", format!("{gid} {} 1\n", ids.host_gid))
}

/// Whether this process may create a user namespace: a throwaway child is
/// cloned into one and exits at once. The error says why not (the kernel's
/// answer, e.g. `EPERM` when unprivileged user namespaces are disabled).
pub fn probe_user_namespace() -> io::Result<()> {
    // SAFETY: a fork-like clone whose child only calls `_exit`.
    let pid = unsafe {
        libc::syscall(
            libc::SYS_clone,
            libc::c_ulong::try_from(libc::CLONE_NEWUSER | libc::SIGCHLD).unwrap_or(0),
            0usize,
            0usize,
            0usize,
            0usize,
        )
    };
    if pid == 0 {
        // SAFETY: async-signal-safe; ends the child without running any of
        // the parent's copied state.
        unsafe { libc::_exit(0) }
    }
    if pid < 0 {
        return Err(io::Error::last_os_error());
    }
    let pid = nix::unistd::Pid::from_raw(i32::try_from(pid).unwrap_or(i32::MAX));
    nix::sys::wait::waitpid(pid, None).map_err(cairn_sys::io_err)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use nix::sys::signal::{SigSet, SigmaskHow, Signal};
    use std::process::Stdio;

    fn status_field(status: &str, name: &str) -> u64 {
        let line = status
            .lines()
            .find(|l| l.starts_with(name))
            .unwrap_or_else(|| panic!("{name} missing"));
        u64::from_str_radix(line.split_whitespace().nth(1).unwrap(), 16).unwrap()
    }

    #[test]
    fn child_starts_with_clean_signal_state_in_a_new_session() {
        // Run in a dedicated thread so the blocked mask stays local to it.
        let out = std::thread::spawn(|| {
            let mut set = SigSet::empty();
            set.add(Signal::SIGTERM);
            set.add(Signal::SIGUSR1);
            nix::sys::signal::pthread_sigmask(SigmaskHow::SIG_BLOCK, Some(&set), None).unwrap();
            let mut cmd = Command::new("/bin/sh");
            cmd.args([
                "-c",
                "cat /proc/self/status; echo sid=$(cut -d' ' -f6 /proc/self/stat) pid=$$",
            ]);
            cmd.stdout(Stdio::piped());
            apply(&mut cmd, ChildSetup::new(None, None).unwrap());
            cmd.output().unwrap()
        })
        .join()
        .unwrap();
        let text = String::from_utf8(out.stdout).unwrap();
        // `cat` is a child of sh; its mask and ignores come from our setup.
        assert_eq!(status_field(&text, "SigBlk:"), 0, "{text}");
        assert_eq!(status_field(&text, "SigIgn:"), 0, "{text}");
        let last = text.lines().last().unwrap();
        let sid = last
            .split_whitespace()
            .next()
            .unwrap()
            .trim_start_matches("sid=");
        let pid = last
            .split_whitespace()
            .nth(1)
            .unwrap()
            .trim_start_matches("pid=");
        assert_eq!(sid, pid, "the shell leads its own session");
    }

    #[test]
    fn reports_a_failing_setup_to_the_parent() {
        let mut cmd = Command::new("/bin/true");
        let setup = ChildSetup::new(Some(Path::new("/nonexistent-cairn-root")), None).unwrap();
        apply(&mut cmd, setup);
        assert!(cmd.spawn().is_err());
    }
}
