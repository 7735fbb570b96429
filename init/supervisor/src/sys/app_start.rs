//! Starting the app's process from the namespace's reaper the way
//! `posix_spawn` does: `clone(CLONE_VM | CLONE_VFORK)` on a stack of its
//! own. The new process shares the reaper's memory instead of getting a
//! copy of it, and the reaper waits until it has exec'd (or exited): no
//! page tables are copied and no page is faulted in twice, a cost a plain
//! fork pays at every start for an address space the exec throws away.
//!
//! While it shares the reaper's memory the new process only makes system
//! calls on data prepared before the first clone, writes its failure to
//! the report pipe and exits: it never returns into the reaper's code.

use std::os::fd::RawFd;

use super::sandbox_child::{exec_app, report, SandboxSpec};

/// The app's process's stack: `exec_app` is a handful of frames.
const STACK: usize = 64 << 10;

/// What the app's process reads, on the reaper's stack, which stays put
/// while the reaper waits.
struct Start<'a> {
    spec: &'a SandboxSpec,
    first_free: libc::c_int,
    argv: &'a [*const libc::c_char],
    envp: &'a [*const libc::c_char],
    report_fd: RawFd,
}

extern "C" fn app_main(arg: *mut libc::c_void) -> libc::c_int {
    // SAFETY: `arg` is the `Start` of `start_app`, alive until this process
    // execs or exits, since CLONE_VFORK holds the reaper until then; what
    // follows is async-signal-safe and ends in exec or `_exit`.
    unsafe {
        let start = &*arg.cast::<Start<'_>>();
        let failure = exec_app(start.spec, start.first_free, start.argv, start.envp);
        report(start.report_fd, failure);
        libc::_exit(127)
    }
}

/// Starts the app as the reaper's child; returns its pid once it has
/// exec'd (or failed and exited), or -1.
///
/// # Safety
/// Async-signal-safe; to be called by the reaper, single-threaded.
pub(super) unsafe fn start_app(
    spec: &SandboxSpec,
    first_free: libc::c_int,
    argv: &[*const libc::c_char],
    envp: &[*const libc::c_char],
    report_fd: RawFd,
) -> libc::c_long {
    let start = Start {
        spec,
        first_free,
        argv,
        envp,
        report_fd,
    };
    // SAFETY: a fresh private mapping, unmapped below once the child no
    // longer runs on it; `clone` gets its top (stacks grow down), which
    // mmap aligns to a page; the child runs only `app_main`.
    unsafe {
        let stack = libc::mmap(
            std::ptr::null_mut(),
            STACK,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_STACK,
            -1,
            0,
        );
        if stack == libc::MAP_FAILED {
            return -1;
        }
        let pid = libc::clone(
            app_main,
            stack.cast::<u8>().add(STACK).cast(),
            libc::CLONE_VM | libc::CLONE_VFORK | libc::SIGCHLD,
            std::ptr::from_ref(&start).cast_mut().cast(),
        );
        libc::munmap(stack, STACK);
        libc::c_long::from(pid)
    }
}
