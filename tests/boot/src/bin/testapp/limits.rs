//! Test-app modes that run into the limits an app is given:
//!
//! ```text
//! cairn-testapp fork-bomb            fork children that wait forever, one per 50 ms, until fork
//!                                    fails; print how many, exit 1
//! cairn-testapp memory-hog           allocate (and touch) 1 MiB per 50 ms until killed
//! cairn-testapp limits-probe PORT    print RLIMIT_NOFILE, then bind $PORT_HTTP and PORT and print
//!                                    each outcome; keep $PORT_HTTP open until SIGTERM
//! ```

use std::process::ExitCode;
use std::thread;
use std::time::Duration;

use super::{say, wait_for_sigterm};

/// Forks until the kernel refuses. Single-threaded throughout, so the
/// children may do anything; they only wait to be killed with the instance.
pub fn fork_bomb() -> Result<ExitCode, String> {
    say("testapp: forking until refused");
    let mut children = 0u32;
    loop {
        // SAFETY: this process has no other thread; the child only pauses.
        let pid = unsafe { libc::fork() };
        match pid {
            0 => loop {
                // SAFETY: pause has no preconditions.
                unsafe { libc::pause() };
            },
            -1 => {
                let err = std::io::Error::last_os_error();
                say(&format!(
                    "testapp: forked {children} children, then fork failed: errno {}",
                    err.raw_os_error().unwrap_or(0)
                ));
                return Ok(ExitCode::from(1));
            }
            _ => {
                children += 1;
                thread::sleep(Duration::from_millis(50));
            }
        }
    }
}

/// Grows by 1 MiB at a time, writing every page, until the OOM killer ends
/// it; reports every 8 MiB.
pub fn memory_hog() -> Result<ExitCode, String> {
    const CHUNK: usize = 1 << 20;
    let mut held: Vec<Vec<u8>> = Vec::new();
    loop {
        // Non-zero, so every page is really written and counted.
        held.push(vec![0xa5; CHUNK]);
        if held.len().is_multiple_of(8) {
            say(&format!("testapp: holding {} MiB", held.len()));
        }
        thread::sleep(Duration::from_millis(50));
    }
}

/// What binding `port` on all addresses gives: the listener, or the errno.
fn try_bind(port: &str) -> Result<std::net::TcpListener, i32> {
    std::net::TcpListener::bind(format!("0.0.0.0:{port}"))
        .map_err(|err| err.raw_os_error().unwrap_or(-1))
}

/// Prints what the app's limits look like from inside, then holds its
/// declared port until SIGTERM.
pub fn limits_probe(undeclared: &str) -> Result<ExitCode, String> {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes the struct it is given.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } != 0 {
        return Err(format!("getrlimit: {}", std::io::Error::last_os_error()));
    }
    say(&format!(
        "testapp: nofile {} {}",
        limit.rlim_cur, limit.rlim_max
    ));
    let declared = std::env::var("PORT_HTTP").map_err(|_| "no PORT_HTTP".to_string())?;
    let mut keep = None;
    for port in [declared.as_str(), undeclared] {
        match try_bind(port) {
            Ok(listener) => {
                say(&format!("testapp: bind {port} ok"));
                if port == declared {
                    keep = Some(listener);
                }
            }
            Err(errno) => say(&format!("testapp: bind {port} errno {errno}")),
        }
    }
    let code = wait_for_sigterm();
    drop(keep);
    code
}
