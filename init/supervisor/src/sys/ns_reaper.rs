//! The reaper that is pid 1 of every app's PID namespace, with the app as
//! its only child (pid 2), like tini or `docker run --init`.
//!
//! Pid 1 of a namespace has two duties an ordinary program does not know
//! about: orphans of the namespace reparent to it and stay zombies until it
//! reaps them, and the kernel drops every signal it has no handler for (so
//! an app without a SIGTERM handler could not be stopped with TERM). The
//! reaper takes both off the app:
//!
//! - every signal is blocked and taken with `rt_sigtimedwait`; after each
//!   wakeup, and at least once a second in case one was lost, it reaps with
//!   `wait4(-1, WNOHANG)` until nothing is left;
//! - SIGTERM, SIGINT, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2, SIGWINCH and
//!   SIGCONT are forwarded to the app's process group (the app leads its own
//!   session), or to the app alone if that group is gone; the app is an
//!   ordinary process, so a signal it has no handler for takes its default
//!   action. Other signals are taken and dropped;
//! - when the app ends, the reaper exits with the app's exit code, or with
//!   128 + N when a signal N killed it: pid 1 of a namespace cannot die of
//!   its own signal, so the death is reported the way shells and container
//!   runtimes do (SIGKILL is 137). Its exit ends the namespace, and the
//!   kernel kills whatever the app left running in it.
//!
//! It runs in a forked copy of PID 1, already as the app's uid and gid with
//! no capabilities and no_new_privs (see [`super::sandbox_child`]). It
//! closes every descriptor, so it holds none of the app's pipes open, and
//! makes itself non-dumpable, so the app (same uid) cannot read its memory
//! through ptrace or /proc. Only raw, async-signal-safe system calls, no
//! allocation.

/// The signals passed on to the app.
pub const FORWARDED: [libc::c_int; 8] = [
    libc::SIGTERM,
    libc::SIGINT,
    libc::SIGHUP,
    libc::SIGQUIT,
    libc::SIGUSR1,
    libc::SIGUSR2,
    libc::SIGWINCH,
    libc::SIGCONT,
];

/// The exit code that reports a `wait4` status: the exit code itself, or
/// 128 + N for a death by signal N.
pub fn exit_code(status: libc::c_int) -> libc::c_int {
    if libc::WIFSIGNALED(status) {
        128 + libc::WTERMSIG(status)
    } else {
        libc::WEXITSTATUS(status)
    }
}

/// Reaps every ended child without blocking; returns the app's exit code
/// once the app is among them.
///
/// # Safety
/// Async-signal-safe.
unsafe fn reap_all(app: libc::pid_t) -> Option<libc::c_int> {
    let mut app_code = None;
    loop {
        let mut status: libc::c_int = 0;
        // SAFETY: wait4 writes only the status int we pass.
        let pid = unsafe {
            libc::wait4(
                -1,
                &mut status,
                libc::WNOHANG,
                std::ptr::null_mut::<libc::rusage>(),
            )
        };
        if pid == app {
            app_code = Some(exit_code(status));
        } else if pid > 0 {
            // An orphan of the app: reaped, nothing else to do.
        } else if pid < 0 && std::io::Error::last_os_error().raw_os_error() == Some(libc::EINTR) {
            continue;
        } else if pid < 0 && app_code.is_none() {
            // No child at all, yet the app was never seen to end: nothing
            // is left to wait for (cannot happen with SIGCHLD at default).
            return Some(127);
        } else {
            return app_code;
        }
    }
}

/// Sends `signal` to the app's process group, or to the app itself when it
/// has left that group.
///
/// # Safety
/// Async-signal-safe.
unsafe fn forward(app: libc::pid_t, signal: libc::c_int) {
    // SAFETY: kill takes plain integers.
    unsafe {
        if libc::kill(-app, signal) < 0 {
            libc::kill(app, signal);
        }
    }
}

/// Becomes the namespace's reaper for the child `app`: never returns, exits
/// with the app's status (see the module docs).
///
/// # Safety
/// Async-signal-safe; call in a single-threaded process (a fork) whose
/// signals are all blocked already, so none is lost before the loop.
pub unsafe fn reap_until_exit(app: libc::pid_t) -> ! {
    // SAFETY: plain system calls on integers and locals.
    unsafe {
        // Blocked already; again, so the contract holds even if the caller
        // forgot. Failure leaves the mask as it was: nothing better to do.
        let _ = super::signal_mask::set_signal_mask(super::signal_mask::ALL_SIGNALS);
        libc::prctl(libc::PR_SET_DUMPABLE, 0, 0, 0, 0);
        libc::syscall(libc::SYS_close_range, 0u32, u32::MAX, 0u32);
        let all: u64 = u64::MAX;
        let second = libc::timespec {
            tv_sec: 1,
            tv_nsec: 0,
        };
        loop {
            if let Some(code) = reap_all(app) {
                libc::_exit(code);
            }
            let mut info: libc::siginfo_t = std::mem::zeroed();
            let signal = libc::syscall(libc::SYS_rt_sigtimedwait, &all, &mut info, &second, 8usize);
            let signal = libc::c_int::try_from(signal).unwrap_or(-1);
            if FORWARDED.contains(&signal) {
                forward(app, signal);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::ffi::CString;
    use std::time::{Duration, Instant};

    #[test]
    fn exit_codes_follow_the_shell_convention() {
        // Raw wait statuses: exit code in bits 8..16, signal in bits 0..7.
        assert_eq!(exit_code(0), 0);
        assert_eq!(exit_code(3 << 8), 3);
        assert_eq!(exit_code(libc::SIGKILL), 137);
        assert_eq!(exit_code(libc::SIGTERM), 143);
        // A core dump flag does not change the signal.
        assert_eq!(exit_code(libc::SIGSEGV | 0x80), 139);
    }

    /// Forks a reaper (as a subreaper, standing in for pid 1 of a namespace)
    /// whose app runs `/bin/sh -c script` in a session of its own; returns
    /// the reaper's pid.
    fn start(script: &str) -> libc::pid_t {
        let sh = CString::new("/bin/sh").unwrap();
        let args = [
            sh.clone(),
            CString::new("-c").unwrap(),
            CString::new(script).unwrap(),
        ];
        let argv: Vec<*const libc::c_char> = args
            .iter()
            .map(|a| a.as_ptr())
            .chain(std::iter::once(std::ptr::null()))
            .collect();
        let envp = [std::ptr::null::<libc::c_char>()];
        // SAFETY: the children make only async-signal-safe calls on data
        // prepared above, and end in exec or _exit.
        unsafe {
            let reaper = super::super::sandbox_child::raw_fork();
            assert!(reaper >= 0);
            if reaper != 0 {
                return libc::pid_t::try_from(reaper).unwrap();
            }
            let _ =
                super::super::signal_mask::set_signal_mask(super::super::signal_mask::ALL_SIGNALS);
            libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0);
            let app = super::super::sandbox_child::raw_fork();
            if app == 0 {
                libc::setsid();
                let _ = super::super::signal_mask::set_signal_mask(
                    super::super::signal_mask::NO_SIGNALS,
                );
                libc::execve(sh.as_ptr(), argv.as_ptr(), envp.as_ptr());
                libc::_exit(126);
            }
            if app < 0 {
                libc::_exit(125);
            }
            reap_until_exit(libc::pid_t::try_from(app).unwrap_or(0))
        }
    }

    /// Waits for `pid`; its raw status, or None after `limit`.
    fn wait_for(pid: libc::pid_t, limit: Duration) -> Option<libc::c_int> {
        let start = Instant::now();
        while start.elapsed() < limit {
            let mut status = 0;
            // SAFETY: waiting for our own child with a valid status pointer.
            let ret = unsafe { libc::waitpid(pid, &mut status, libc::WNOHANG) };
            if ret == pid {
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }

    #[test]
    fn exits_with_the_apps_code_and_reports_a_signal_as_128_plus_n() {
        let reaper = start("exit 3");
        let status = wait_for(reaper, Duration::from_secs(10)).unwrap();
        assert_eq!(
            (libc::WIFEXITED(status), libc::WEXITSTATUS(status)),
            (true, 3)
        );
        let reaper = start("kill -KILL $$");
        let status = wait_for(reaper, Duration::from_secs(10)).unwrap();
        assert_eq!(libc::WEXITSTATUS(status), 137);
    }

    #[test]
    fn forwards_term_to_an_app_without_a_handler() {
        // `exec sleep` leaves no shell and no handler: TERM's default action.
        // Its output goes nowhere, so a sleep left behind by a failure holds
        // no pipe of the test run open.
        let reaper = start("exec sleep 30 </dev/null >/dev/null 2>&1");
        std::thread::sleep(Duration::from_millis(200));
        // SAFETY: signalling our own child.
        unsafe { libc::kill(reaper, libc::SIGTERM) };
        let status = wait_for(reaper, Duration::from_secs(5));
        if status.is_none() {
            // SAFETY: signalling our own child; not pid 1 of a namespace.
            unsafe { libc::kill(reaper, libc::SIGKILL) };
        }
        let status = status.expect("the app did not stop");
        assert_eq!(libc::WEXITSTATUS(status), 128 + libc::SIGTERM);
    }

    #[test]
    fn reaps_orphans_while_the_app_runs() {
        // Orphans reparent to the reaper (a subreaper here). While the app
        // still runs, none of them may be left a zombie.
        let reaper = start("for i in 1 2 3; do (sleep 0.1 &); done; sleep 1; exit 0");
        std::thread::sleep(Duration::from_millis(700));
        let zombies: Vec<String> = std::fs::read_dir("/proc")
            .unwrap()
            .filter_map(|e| e.ok()?.file_name().into_string().ok())
            .filter(|name| name.bytes().all(|b| b.is_ascii_digit()))
            .filter_map(|pid| std::fs::read_to_string(format!("/proc/{pid}/stat")).ok())
            .filter(|stat| {
                let after = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
                let fields: Vec<&str> = after.split_whitespace().collect();
                fields.first() == Some(&"Z") && fields.get(1) == Some(&reaper.to_string().as_str())
            })
            .collect();
        assert!(zombies.is_empty(), "zombies of the reaper: {zombies:?}");
        let status = wait_for(reaper, Duration::from_secs(10)).unwrap();
        assert_eq!(libc::WEXITSTATUS(status), 0);
    }
}
