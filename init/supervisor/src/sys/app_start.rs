//! Starting a process from the namespace's reaper the way `posix_spawn`
//! does: `clone(CLONE_VM | CLONE_VFORK)` on a stack of its own. The new
//! process shares the reaper's memory instead of getting a copy of it, and
//! the reaper waits until it has exec'd (or exited): no page tables are
//! copied and no page is faulted in twice, a cost a plain fork pays at
//! every start for an address space the exec throws away.
//!
//! This module knows nothing of what the new process runs:
//! `sandbox_child` passes the function (which execs the app) and its
//! argument, so the two files depend one way only.

/// The new process's stack: what runs on it is a handful of frames.
const STACK: usize = 64 << 10;

/// Runs `child(arg)` in a new process that shares this one's memory, and
/// returns its pid once it has exec'd or exited, or -1.
///
/// # Safety
/// `child` must only make async-signal-safe calls on memory prepared
/// before, and end in exec or `_exit`: it must never return into the
/// caller's code, whose stack and memory it shares. `arg` must stay valid
/// until then, which `CLONE_VFORK` guarantees for the caller's stack. To
/// be called single-threaded.
pub(super) unsafe fn vfork_run(
    child: extern "C" fn(*mut libc::c_void) -> libc::c_int,
    arg: *mut libc::c_void,
) -> libc::c_long {
    // SAFETY: a fresh private mapping, unmapped below once the child no
    // longer runs on it (CLONE_VFORK returns only after its exec or exit);
    // `clone` gets its top (stacks grow down), which mmap aligns to a
    // page; the child runs only `child`, under the contract above.
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
            child,
            stack.cast::<u8>().add(STACK).cast(),
            libc::CLONE_VM | libc::CLONE_VFORK | libc::SIGCHLD,
            arg,
        );
        libc::munmap(stack, STACK);
        libc::c_long::from(pid)
    }
}
