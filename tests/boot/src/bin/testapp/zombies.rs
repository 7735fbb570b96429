//! `cairn-testapp zombie-check N`: whether the app's namespace reaps the
//! orphans the app leaves.
//!
//! Forks N children that each fork a grandchild and exit at once, so every
//! grandchild is orphaned and reparents to pid 1 of the app's namespace (the
//! namespace's reaper; the app itself is pid 2 and reaps nothing but its
//! direct children). Each grandchild lives 300 ms. Two seconds later the app
//! counts the processes of its namespace in state Z (its /proc is the
//! namespace's own), prints `testapp: zombies: K` and `testapp: my pid P`,
//! and waits for SIGTERM.

use std::process::ExitCode;
use std::thread;
use std::time::Duration;

use super::{say, wait_for_sigterm};

pub fn zombie_check(count: &str) -> Result<ExitCode, String> {
    let count: u32 = count.parse().map_err(|_| format!("bad count {count:?}"))?;
    for _ in 0..count {
        // SAFETY: this process is single-threaded here (no thread has been
        // started yet), and the children only fork, sleep and _exit.
        unsafe {
            match libc::fork() {
                -1 => return Err(format!("fork: {}", std::io::Error::last_os_error())),
                0 => {
                    if libc::fork() == 0 {
                        libc::usleep(300_000);
                    }
                    libc::_exit(0);
                }
                child => {
                    libc::waitpid(child, std::ptr::null_mut(), 0);
                }
            }
        }
    }
    thread::sleep(Duration::from_secs(2));
    say(&format!("testapp: zombies: {}", zombies()));
    say(&format!("testapp: my pid {}", std::process::id()));
    wait_for_sigterm()
}

/// How many processes of this namespace are zombies.
fn zombies() -> usize {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return usize::MAX;
    };
    dir.filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|name| name.bytes().all(|b| b.is_ascii_digit()))
        .filter_map(|pid| std::fs::read_to_string(format!("/proc/{pid}/stat")).ok())
        .filter(|stat| {
            // The state follows the command name, which may hold spaces.
            let rest = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
            rest.split_whitespace().next() == Some("Z")
        })
        .count()
}
