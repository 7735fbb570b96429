//! A multi-purpose static program the boot tests deploy as apps, to make the
//! guest's PID 1 deal with crashes, orphans and stubborn processes.
//!
//! ```text
//! cairn-testapp crash-after SECS [CODE]   sleep, then exit with CODE (default 1)
//! cairn-testapp orphans N                 leave N grandchildren for PID 1 to reap, then sleep until SIGTERM
//! cairn-testapp sleep                     say "up", exit 0 on SIGTERM
//! cairn-testapp ignore-term               ignore SIGTERM and sleep forever (only SIGKILL stops it)
//! ```

use std::io::Write;
use std::process::ExitCode;
use std::thread;
use std::time::Duration;

use signal_hook::consts::SIGTERM;
use signal_hook::iterator::Signals;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let result = match args.as_slice() {
        ["crash-after", secs] => crash_after(secs, "1"),
        ["crash-after", secs, code] => crash_after(secs, code),
        ["orphans", count] => orphans(count),
        ["sleep"] => {
            say("testapp: up");
            wait_for_sigterm()
        }
        ["ignore-term"] => ignore_term(),
        ["cat", file] => cat(file),
        ["ids"] => ids(),
        _ => Err(
            "usage: cairn-testapp crash-after SECS [CODE] | orphans N | sleep | ignore-term \
             | cat FILE | ids"
                .to_string(),
        ),
    };
    match result {
        Ok(code) => code,
        Err(message) => {
            eprintln!("testapp: {message}");
            ExitCode::from(2)
        }
    }
}

/// Prints a line and flushes it, so it is on the console before whatever
/// comes next (a fork, an exit).
fn say(line: &str) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{line}");
    let _ = out.flush();
}

/// Prints a file of the app's tree, then stays up until SIGTERM.
fn cat(file: &str) -> Result<ExitCode, String> {
    let text = std::fs::read_to_string(file).map_err(|e| format!("cannot read {file}: {e}"))?;
    for line in text.lines() {
        say(line);
    }
    wait_for_sigterm()
}

/// Prints who the app runs as, then stays up until SIGTERM.
fn ids() -> Result<ExitCode, String> {
    // SAFETY: these calls only read the calling process's credentials and
    // flags; getgroups with size 0 and a null list only counts the groups.
    let (uid, gid, groups, no_new_privs) = unsafe {
        (
            libc::getuid(),
            libc::getgid(),
            libc::getgroups(0, std::ptr::null_mut()),
            libc::prctl(libc::PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0),
        )
    };
    say(&format!(
        "testapp: uid={uid} gid={gid} groups={groups} no_new_privs={no_new_privs}"
    ));
    wait_for_sigterm()
}

fn crash_after(secs: &str, code: &str) -> Result<ExitCode, String> {
    let secs: f64 = secs.parse().map_err(|_| format!("bad seconds {secs:?}"))?;
    let code: u8 = code
        .parse()
        .map_err(|_| format!("bad exit code {code:?}"))?;
    thread::sleep(Duration::from_secs_f64(secs));
    say(&format!("testapp: crashing with {code}"));
    Ok(ExitCode::from(code))
}

/// Forks `count` children that each fork a grandchild and exit at once, so
/// each grandchild is orphaned and reparented to PID 1 (the reaper). The
/// grandchild names itself, lives 300 ms and exits 0.
fn orphans(count: &str) -> Result<ExitCode, String> {
    let count: u32 = count.parse().map_err(|_| format!("bad count {count:?}"))?;
    say(&format!("testapp: making {count} orphans"));
    for _ in 0..count {
        // SAFETY: this process is single-threaded here (no thread has been
        // started yet), so the child may do anything after fork.
        let child = unsafe { libc::fork() };
        match child {
            -1 => return Err(format!("fork: {}", std::io::Error::last_os_error())),
            0 => {
                // SAFETY: as above; the child is single-threaded.
                let grandchild = unsafe { libc::fork() };
                if grandchild == 0 {
                    // SAFETY: getpid has no preconditions.
                    let pid = unsafe { libc::getpid() };
                    say(&format!("testapp: orphan pid {pid}"));
                    thread::sleep(Duration::from_millis(300));
                }
                // SAFETY: _exit ends this forked process without running the
                // parent's atexit handlers or flushing its copied buffers.
                unsafe { libc::_exit(0) };
            }
            pid => {
                let mut status = 0;
                // SAFETY: waiting for our own child with a valid status pointer.
                unsafe { libc::waitpid(pid, &mut status, 0) };
            }
        }
    }
    wait_for_sigterm()
}

fn wait_for_sigterm() -> Result<ExitCode, String> {
    let mut signals = Signals::new([SIGTERM]).map_err(|e| format!("cannot handle SIGTERM: {e}"))?;
    if signals.forever().next().is_some() {
        say("testapp: got SIGTERM");
    }
    Ok(ExitCode::SUCCESS)
}

fn ignore_term() -> Result<ExitCode, String> {
    // SAFETY: setting SIGTERM's disposition to SIG_IGN installs no handler code.
    let previous = unsafe { libc::signal(libc::SIGTERM, libc::SIG_IGN) };
    if previous == libc::SIG_ERR {
        return Err(format!("signal: {}", std::io::Error::last_os_error()));
    }
    say("testapp: ignoring SIGTERM");
    loop {
        thread::sleep(Duration::from_secs(3600));
    }
}
