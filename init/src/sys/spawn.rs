//! The child side of starting an app: what runs between fork and exec.
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
use std::os::unix::ffi::OsStrExt;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::Command;

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

/// The kernel's `struct sigaction` on x86_64 (not glibc's, which differs).
#[repr(C)]
struct KernelSigaction {
    handler: libc::sighandler_t,
    flags: libc::c_ulong,
    restorer: usize,
    mask: u64,
}

fn check(ret: libc::c_int) -> io::Result<()> {
    if ret < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}

/// The body of the pre-exec hook; see the module docs for the order and why.
fn prepare_child(setup: &ChildSetup) -> io::Result<()> {
    // SAFETY: only async-signal-safe system calls, on memory owned by
    // `setup` (built before fork, never mutated) or local to this frame.
    unsafe {
        let mut empty: libc::sigset_t = std::mem::zeroed();
        check(libc::sigemptyset(&mut empty))?;
        check(libc::sigprocmask(
            libc::SIG_SETMASK,
            &empty,
            std::ptr::null_mut(),
        ))?;
        // The raw system call, because glibc's wrapper refuses its two
        // internal real-time signals, which can arrive ignored from whoever
        // started PID 1's parent. SIGKILL and SIGSTOP reject it; harmless.
        let default = KernelSigaction {
            handler: libc::SIG_DFL,
            flags: 0,
            restorer: 0,
            mask: 0,
        };
        for signal in 1..=64 {
            libc::syscall(
                libc::SYS_rt_sigaction,
                signal,
                &default,
                std::ptr::null_mut::<KernelSigaction>(),
                8usize,
            );
        }
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
