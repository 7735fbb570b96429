//! Signal plumbing for a single-threaded PID 1: a blocked mask read through
//! signalfd.
//!
//! PID 1 gets no default signal actions, so every signal it acts on is blocked
//! (which also makes the kernel queue it even for init) and read from a
//! signalfd in the poll loop. Fault signals (SEGV, BUS, ILL, FPE, ABRT, SYS,
//! TRAP) are never blocked: a fault must crash into the panic/crash path, not
//! hang. Job-control stop signals are ignored so a stray SIGTSTP from the
//! console cannot stop init.

use std::io;
use std::os::fd::{AsFd, BorrowedFd};

use nix::sys::signal::{SigSet, SigmaskHow, Signal};
use nix::sys::signalfd::{SfdFlags, SignalFd};

use cairn_sys::io_err;

/// The signals PID 1 acts on.
pub const HANDLED: [Signal; 8] = [
    Signal::SIGCHLD,
    Signal::SIGTERM,
    Signal::SIGINT,
    Signal::SIGUSR1,
    Signal::SIGUSR2,
    Signal::SIGPWR,
    Signal::SIGHUP,
    Signal::SIGWINCH,
];

fn handled_set() -> SigSet {
    let mut set = SigSet::empty();
    for signal in HANDLED {
        set.add(signal);
    }
    set
}

/// Blocks [`HANDLED`] in the calling thread; threads created afterwards
/// inherit the mask, so the signals stay queued for the signalfd.
pub fn block_handled() -> io::Result<()> {
    nix::sys::signal::sigprocmask(SigmaskHow::SIG_BLOCK, Some(&handled_set()), None).map_err(io_err)
}

/// Ignores SIGTSTP, SIGTTIN, SIGTTOU and SIGPIPE. Children get default
/// dispositions back before exec (see `sys::spawn`).
pub fn ignore_job_control() -> io::Result<()> {
    for signal in [
        Signal::SIGTSTP,
        Signal::SIGTTIN,
        Signal::SIGTTOU,
        Signal::SIGPIPE,
    ] {
        // SAFETY: SIG_IGN installs no handler code, so no signal-safety
        // requirements arise.
        unsafe { nix::sys::signal::signal(signal, nix::sys::signal::SigHandler::SigIgn) }
            .map_err(io_err)?;
    }
    Ok(())
}

/// A non-blocking, close-on-exec signalfd for [`HANDLED`].
#[derive(Debug)]
pub struct Signals {
    fd: SignalFd,
}

impl Signals {
    /// Opens the signalfd; call [`block_handled`] first.
    pub fn open() -> io::Result<Signals> {
        let fd = SignalFd::with_flags(
            &handled_set(),
            SfdFlags::SFD_NONBLOCK | SfdFlags::SFD_CLOEXEC,
        )
        .map_err(io_err)?;
        Ok(Signals { fd })
    }

    /// Every queued signal number, oldest first (standard signals coalesce).
    pub fn drain(&mut self) -> Vec<i32> {
        let mut out = Vec::new();
        while let Ok(Some(info)) = self.fd.read_signal() {
            out.push(i32::try_from(info.ssi_signo).unwrap_or(0));
        }
        out
    }
}

impl AsFd for Signals {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}
