//! How PID 1's allocator behaves.
//!
//! glibc gives every thread that allocates an arena of its own, each with
//! its own free lists and its own pages kept for reuse. PID 1 has a handful
//! of helper threads (network, DHCP, SNTP, health checks) that allocate a
//! little now and then, so one arena serves them all at no cost, and the
//! memory each extra arena would hold on to stays free.

/// Makes every thread of this process share one malloc arena. Call before
/// the first thread starts.
pub fn share_one_arena() {
    // SAFETY: mallopt only sets an allocator parameter; it is called before
    // any other thread exists, so nothing allocates concurrently.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, 1);
    }
}
