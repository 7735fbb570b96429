//! A multi-purpose static program the boot tests deploy as apps, to make the
//! guest's PID 1 deal with crashes, orphans and stubborn processes.
//!
//! ```text
//! cairn-testapp crash-after SECS [CODE]   sleep, then exit with CODE (default 1)
//! cairn-testapp orphans N                 leave N orphaned grandchildren to be reaped, then sleep until SIGTERM
//! cairn-testapp sleep                     say "up", exit 0 on SIGTERM
//! cairn-testapp ignore-term               ignore SIGTERM and sleep forever (only SIGKILL stops it)
//! cairn-testapp http-status CODE          answer every HTTP request on $PORT_HTTP with CODE, until SIGTERM
//! cairn-testapp notify-ready              send READY=1 on $NOTIFY_SOCKET, then sleep until SIGTERM
//! cairn-testapp probe OTHER               print what the app can see and do (`testapp: fact K V`), then sleep until SIGTERM
//! cairn-testapp writable-copy DIR FILE RO write its writable copies DIR and FILE (`testapp: fact K V`); exit 0 after odd starts
//! cairn-testapp fill-state ROOM HOLD      fill $STATE_DIR until the disk is full, free ROOM MiB, rewrite them after HOLD s, delete all
//! cairn-testapp deploy-probe TAG SECRET   count starts in $STATE_DIR, tell whether SECRET is there (mode, owner, checksum), sleep until SIGTERM
//! cairn-testapp escapes                   try each way out of the sandbox (`testapp: fact K V`), then answer 200 on $PORT_HTTP until SIGTERM
//! ```

use std::io::Write;
use std::process::ExitCode;
use std::thread;
use std::time::Duration;

use signal_hook::consts::SIGTERM;
use signal_hook::iterator::Signals;

#[path = "testapp/deploy.rs"]
mod deploy;
#[path = "testapp/escapes.rs"]
mod escapes;
#[path = "testapp/fill.rs"]
mod fill;
#[path = "testapp/flood.rs"]
mod flood;
#[path = "testapp/limits.rs"]
mod limits;
#[path = "testapp/ordering.rs"]
mod ordering;
#[path = "testapp/writable.rs"]
mod writable;
#[path = "testapp/zombies.rs"]
mod zombies;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let result = match args.as_slice() {
        ["crash-after", secs] => crash_after(secs, "1"),
        ["crash-after", secs, code] => crash_after(secs, code),
        ["orphans", count] => orphans(count),
        ["zombie-check", count] => zombies::zombie_check(count),
        ["sleep"] => {
            say("testapp: up");
            wait_for_sigterm()
        }
        ["ignore-term"] => ignore_term(),
        ["cat", file] => cat(file),
        ["ids"] => ids(),
        ["http-status", code] => http_status(code),
        ["notify-ready"] => notify_ready(),
        ["probe", other] => probe(other),
        ["writable-copy", dir, file, readonly] => writable::writable_copy(dir, file, readonly),
        ["fork-bomb"] => limits::fork_bomb(),
        ["memory-hog"] => limits::memory_hog(),
        ["limits-probe", port] => limits::limits_probe(port),
        ["ready-after", secs] => ordering::ready_after(secs),
        ["flood", count] => flood::flood(count, None),
        ["flood", count, rate] => flood::flood(count, Some(rate)),
        ["tick", ms] => flood::tick(ms),
        ["fill-state", room, hold] => fill::fill_state(room, hold),
        ["deploy-probe", tag, secret] => deploy::deploy_probe(tag, secret),
        ["escapes"] => escapes::escapes(),
        _ => Err(
            "usage: cairn-testapp crash-after SECS [CODE] | orphans N | sleep | ignore-term \
             | cat FILE | ids | http-status CODE | notify-ready"
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

/// Prints one `testapp: fact <key> <value>` line per observation of the
/// sandbox from inside: ids, capabilities, pids, what of the host and of
/// the app `other` is reachable, what is writable, and a counter kept in
/// `$STATE_DIR` that grows by one per start. Then waits for SIGTERM.
fn probe(other: &str) -> Result<ExitCode, String> {
    let fact = |key: &str, value: String| say(&format!("testapp: fact {key} {value}"));
    let outcome = |result: std::io::Result<()>| match result {
        Ok(()) => "ok".to_string(),
        Err(err) => format!("error:{}", err.raw_os_error().unwrap_or(0)),
    };
    let list = |dir: &str| {
        let mut names: Vec<String> = std::fs::read_dir(dir)
            .map(|d| {
                d.filter_map(|e| Some(e.ok()?.file_name().to_str()?.to_string()))
                    .collect()
            })
            .unwrap_or_default();
        names.sort();
        names
    };
    fact("pid", std::process::id().to_string());
    // SAFETY: these calls only read the calling process's credentials.
    let (uid, gid) = unsafe { (libc::getuid(), libc::getgid()) };
    fact("uid", uid.to_string());
    fact("gid", gid.to_string());
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    for key in ["CapEff", "CapPrm", "CapBnd", "NoNewPrivs"] {
        let value = status
            .lines()
            .find_map(|l| l.strip_prefix(&format!("{key}:")))
            .map_or("missing", str::trim);
        fact(key, value.to_string());
    }
    let hostname = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default();
    fact("hostname", hostname.trim().to_string());
    let pids: Vec<String> = list("/proc")
        .into_iter()
        .filter(|n| n.bytes().all(|b| b.is_ascii_digit()))
        .collect();
    fact("pids", pids.join(","));
    fact("root", list("/").join(","));
    fact("bank", outcome(std::fs::read_dir("/bank").map(|_| ())));
    let other_state = format!("/data/apps/{other}");
    fact(
        "other_state",
        outcome(std::fs::read_dir(other_state).map(|_| ())),
    );
    fact("write_root", outcome(std::fs::write("/probe", b"x")));
    fact("write_bin", outcome(std::fs::write("/bin/probe", b"x")));
    let state = std::env::var("STATE_DIR").unwrap_or_default();
    let counter = std::path::Path::new(&state).join("count");
    let count = std::fs::read_to_string(&counter)
        .ok()
        .and_then(|t| t.trim().parse::<u32>().ok())
        .unwrap_or(0)
        + 1;
    fact(
        "write_state",
        outcome(std::fs::write(&counter, count.to_string())),
    );
    fact("count", count.to_string());
    fact("write_tmp", outcome(std::fs::write("/tmp/probe", b"x")));
    let resources = std::fs::read_to_string("/run/cairn/resources.json").unwrap_or_default();
    fact("resources", resources.trim().to_string());
    fact("done", String::new());
    wait_for_sigterm()
}

/// Serves HTTP on `$PORT_HTTP` (a thread per connection), answering every
/// request with `code`: an app whose health check can be made to fail.
fn http_status(code: &str) -> Result<ExitCode, String> {
    let code: u16 = code.parse().map_err(|_| format!("bad status {code:?}"))?;
    let port = std::env::var("PORT_HTTP").map_err(|_| "no PORT_HTTP".to_string())?;
    let listener = std::net::TcpListener::bind(format!("0.0.0.0:{port}"))
        .map_err(|e| format!("cannot bind port {port}: {e}"))?;
    say(&format!("testapp: answering {code} on {port}"));
    thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            thread::spawn(move || answer_with(stream, code));
        }
    });
    wait_for_sigterm()
}

fn answer_with(mut stream: std::net::TcpStream, code: u16) {
    use std::io::Read;
    let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
    let mut head = Vec::new();
    let mut buf = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") && head.len() < 16 * 1024 {
        match stream.read(&mut buf) {
            Ok(n) if n > 0 => head.extend_from_slice(&buf[..n]),
            _ => break,
        }
    }
    let body = format!("status {code}\n");
    let _ = write!(
        stream,
        "HTTP/1.1 {code} Test\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
}

/// Says "ready" the sd_notify way, then waits for SIGTERM.
fn notify_ready() -> Result<ExitCode, String> {
    let path = std::env::var("NOTIFY_SOCKET").map_err(|_| "no NOTIFY_SOCKET".to_string())?;
    let socket = std::os::unix::net::UnixDatagram::unbound()
        .map_err(|e| format!("cannot make a socket: {e}"))?;
    socket
        .send_to(b"STATUS=up\nREADY=1\n", &path)
        .map_err(|e| format!("cannot notify {path}: {e}"))?;
    say("testapp: sent READY=1");
    wait_for_sigterm()
}
