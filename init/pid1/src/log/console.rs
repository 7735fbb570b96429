//! PID 1's console: where its own lines and every app's output go.
//!
//! One [`Console`] for the whole process, opened on /dev/console at boot and
//! drained by the run loop when the console is writable (see
//! `cairn_logging::console` for why it never blocks). The crash path writes
//! to it without waiting on its lock.

use std::fs::OpenOptions;
use std::io;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use cairn_logging::console::Console;

/// How many bytes may wait for the console before lines are dropped.
const PENDING_CAP: usize = 256 * 1024;

static CONSOLE: Mutex<Console> = Mutex::new(Console::closed(PENDING_CAP));

fn global() -> MutexGuard<'static, Console> {
    CONSOLE.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Opens `path` (normally /dev/console) as the global console.
pub fn open(path: &Path) -> io::Result<()> {
    let file = OpenOptions::new()
        .append(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY | libc::O_CLOEXEC)
        .open(path)?;
    global().attach(file.into());
    Ok(())
}

/// Queues a line on the global console.
pub fn write_line(line: &str) {
    global().write_line(line);
}

/// Drains what the global console accepts now.
pub fn flush() {
    global().flush();
}

/// True when the global console has queued bytes.
pub fn has_pending() -> bool {
    global().has_pending()
}

/// A duplicate of the global console's descriptor, for polling POLLOUT.
pub fn poll_handle() -> Option<OwnedFd> {
    global().poll_handle()
}

/// Waits (bounded) for the queue to drain: used right before power-off,
/// reboot and in the crash path, where losing the last lines would hide why.
pub fn flush_for(limit: Duration) {
    let deadline = Instant::now() + limit;
    loop {
        let fd = {
            let mut console = global();
            console.flush();
            if !console.has_pending() {
                return;
            }
            console.poll_handle()
        };
        let Some(fd) = fd else { return };
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return;
        }
        let mut fds = [nix::poll::PollFd::new(
            fd.as_fd(),
            nix::poll::PollFlags::POLLOUT,
        )];
        let ms = u16::try_from(left.as_millis()).unwrap_or(u16::MAX);
        if nix::poll::poll(&mut fds, ms).is_err() {
            return;
        }
    }
}

/// Writes `line` to the global console if its lock is free, else straight to
/// a fresh descriptor for `path`: for the crash path, which may run while the
/// lock is held (a panic inside the console code) and must not deadlock.
pub fn write_line_emergency(line: &str, path: &Path) {
    if let Ok(mut console) = CONSOLE.try_lock() {
        console.write_line(line);
        return;
    }
    if let Ok(file) = OpenOptions::new()
        .write(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY | libc::O_CLOEXEC)
        .open(path)
    {
        let mut bytes = line.as_bytes().to_vec();
        bytes.push(b'\n');
        let _ = nix::unistd::write(&file, &bytes);
    }
}
