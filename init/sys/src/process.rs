//! Process-level calls: identity, reaping, signalling processes and groups.
//!
//! `waitpid` is called through libc rather than nix: nix turns an exit by a
//! real-time signal into an error after the child has already been reaped,
//! which would lose the pid. Here the raw status is decoded by hand.

use std::io;

use nix::sys::signal::Signal;

use crate::io_err;

/// True when this process is the system's init.
pub fn is_pid1() -> bool {
    std::process::id() == 1
}

/// Makes orphaned descendants reparent to this process instead of PID 1, so
/// the supervisor behaves the same when it runs on a developer's machine.
pub fn set_child_subreaper() -> io::Result<()> {
    nix::sys::prctl::set_child_subreaper(true).map_err(io_err)
}

/// How a child ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitStatus {
    /// exit(code)
    Code(i32),
    /// Killed by this signal number.
    Signal(i32),
}

impl ExitStatus {
    /// Exit code 0.
    pub fn success(self) -> bool {
        self == ExitStatus::Code(0)
    }
}

impl std::fmt::Display for ExitStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match *self {
            ExitStatus::Code(code) => write!(f, "status {code}"),
            ExitStatus::Signal(sig) => match Signal::try_from(sig) {
                Ok(signal) => write!(f, "signal {}", signal.as_str()),
                Err(_) => write!(f, "signal {sig}"),
            },
        }
    }
}

/// The result of one non-blocking wait.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reaped {
    /// This child ended and is gone now.
    Child { pid: i32, status: ExitStatus },
    /// Children exist but none has ended.
    NoneReady,
    /// There are no children at all.
    NoChildren,
}

/// `waitpid(-1, WNOHANG)`, once.
pub fn reap_one() -> io::Result<Reaped> {
    let mut raw: libc::c_int = 0;
    loop {
        // SAFETY: waitpid only writes the status into the int we pass.
        let pid = unsafe { libc::waitpid(-1, &mut raw, libc::WNOHANG) };
        if pid > 0 {
            let status = if libc::WIFSIGNALED(raw) {
                ExitStatus::Signal(libc::WTERMSIG(raw))
            } else {
                ExitStatus::Code(libc::WEXITSTATUS(raw))
            };
            return Ok(Reaped::Child { pid, status });
        }
        if pid == 0 {
            return Ok(Reaped::NoneReady);
        }
        let err = io::Error::last_os_error();
        match err.raw_os_error() {
            Some(libc::EINTR) => continue,
            Some(libc::ECHILD) => return Ok(Reaped::NoChildren),
            _ => return Err(err),
        }
    }
}

/// True while this process has children (running or not yet reaped).
pub fn has_children() -> bool {
    // SAFETY: siginfo_t is plain data; waitid writes into it and WNOWAIT
    // leaves any ended child to be reaped later.
    let ret = unsafe {
        let mut info: libc::siginfo_t = std::mem::zeroed();
        libc::waitid(
            libc::P_ALL,
            0,
            &mut info,
            libc::WEXITED | libc::WNOHANG | libc::WNOWAIT,
        )
    };
    !(ret < 0 && io::Error::last_os_error().raw_os_error() == Some(libc::ECHILD))
}

/// Sends `signal` to the process group `pgid`.
pub fn signal_group(pgid: i32, signal: Signal) -> io::Result<()> {
    nix::sys::signal::killpg(nix::unistd::Pid::from_raw(pgid), signal).map_err(io_err)
}

/// Sends `signal` to one process.
pub fn signal_process(pid: i32, signal: Signal) -> io::Result<()> {
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), signal).map_err(io_err)
}

/// This process's resident memory in KiB, from /proc/self/status.
pub fn rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    vm_rss_kib(&status)
}

/// The `VmRSS:` value of a /proc/PID/status text, in KiB.
fn vm_rss_kib(status: &str) -> Option<u64> {
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_vm_rss_from_status_text() {
        let status = "Name:\tcairn-init\nVmPeak:\t  9000 kB\nVmRSS:\t    2148 kB\nThreads:\t1\n";
        assert_eq!(vm_rss_kib(status), Some(2148));
        assert_eq!(vm_rss_kib("Name:\tx\n"), None);
    }

    #[test]
    fn exit_status_display_names_codes_and_signals() {
        assert_eq!(ExitStatus::Code(3).to_string(), "status 3");
        assert_eq!(ExitStatus::Signal(9).to_string(), "signal SIGKILL");
        assert_eq!(ExitStatus::Signal(40).to_string(), "signal 40");
        assert!(ExitStatus::Code(0).success());
        assert!(!ExitStatus::Signal(15).success());
    }
}
