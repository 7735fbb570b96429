//! A child's signal mask and dispositions, set with the raw system calls
//! between clone and exec (and in the namespace reaper): async-signal-safe,
//! and without glibc's wrappers, which leave out or refuse its two internal
//! real-time signals.

use std::io;

/// The kernel's `struct sigaction` on x86_64 (not glibc's, which differs).
#[repr(C)]
struct KernelSigaction {
    handler: libc::sighandler_t,
    flags: libc::c_ulong,
    restorer: usize,
    mask: u64,
}

/// A kernel signal set with every signal (SIGKILL and SIGSTOP are never
/// blocked, whatever the set says).
pub(crate) const ALL_SIGNALS: u64 = u64::MAX;
/// A kernel signal set with no signal.
pub(crate) const NO_SIGNALS: u64 = 0;

/// Sets the calling thread's signal mask to `set` (bit n-1 is signal n).
///
/// The raw system call, because glibc's wrapper leaves out its two internal
/// real-time signals.
///
/// # Safety
/// Async-signal-safe; may run between fork (or clone) and exec.
pub(crate) unsafe fn set_signal_mask(set: u64) -> io::Result<()> {
    // SAFETY: the kernel reads 8 bytes from a local and writes nothing.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_rt_sigprocmask,
            libc::SIG_SETMASK,
            &set,
            std::ptr::null_mut::<u64>(),
            8usize,
        )
    };
    if ret < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}

/// Sets every signal's disposition to SIG_DFL: SIG_IGN survives exec, and
/// an ignored SIGCHLD would make the kernel reap children unasked.
///
/// # Safety
/// Async-signal-safe; may run between fork (or clone) and exec.
pub(crate) unsafe fn set_default_dispositions() -> io::Result<()> {
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
        // SAFETY: the kernel reads the local struct and writes nothing.
        unsafe {
            libc::syscall(
                libc::SYS_rt_sigaction,
                signal,
                &default,
                std::ptr::null_mut::<KernelSigaction>(),
                8usize,
            );
        }
    }
    Ok(())
}
