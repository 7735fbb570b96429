//! A logger fault loses nothing that was written: while an app's lines
//! stream through PID 1's hub, the real logger process (`cairn-init` run as
//! `cairn-logd`) is killed with SIGKILL, twice. PID 1 keeps the lines,
//! restarts the logger and sends again what was not acknowledged; in the
//! end every line is in the files, in order, at least once.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use cairn_logging::daemon::Config;
use cairn_logging::hub::Hub;
use cairn_logging::Stream;
use nix::sys::signal::{kill, Signal};
use nix::sys::wait::{waitpid, WaitPidFlag};
use nix::unistd::Pid;

const APP: &str = "steady";
const LINES: u64 = 6_000;
/// The lines at which the logger is killed.
const KILL_AT: [u64; 2] = [1_500, 4_000];

fn config(dir: &Path) -> Config {
    Config {
        dir: Some(dir.to_path_buf()),
        max_size: 64 << 10,
        keep: 1000,
        hostname: "test".into(),
        remotes: Vec::new(),
    }
}

/// One round of PID 1's loop for logging, then a short wait on the
/// logger's socket; reaps the logger if it died.
fn round(hub: &mut Hub) {
    let now = Instant::now();
    hub.service(now);
    hub.tick(now);
    let handles = hub.poll_handles();
    let mut fds: Vec<nix::poll::PollFd> = handles
        .iter()
        .map(|(fd, flags)| nix::poll::PollFd::new(std::os::fd::AsFd::as_fd(fd), *flags))
        .collect();
    let _ = nix::poll::poll(&mut fds, nix::poll::PollTimeout::from(20u8));
    let _ = waitpid(Pid::from_raw(-1), Some(WaitPidFlag::WNOHANG));
}

/// Runs rounds until the logger is up and has acknowledged everything.
fn drain(hub: &mut Hub, limit: Duration) {
    let end = Instant::now() + limit;
    while Instant::now() < end {
        round(hub);
        if hub.logger_pid().is_some() && !hub.pending() {
            return;
        }
    }
    panic!(
        "the logger never caught up; system lines: {:?}",
        hub.recent("cairn")
    );
}

/// Every line of the app's files, oldest file first.
fn logged_lines(dir: &Path) -> Vec<String> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir.join(APP))
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .collect();
    // Rotated files are named by time (digits), which sorts before `current`.
    files.sort();
    files
        .iter()
        .flat_map(|f| {
            std::fs::read_to_string(f)
                .unwrap()
                .lines()
                .map(str::to_owned)
                .collect::<Vec<_>>()
        })
        .collect()
}

#[test]
fn killing_the_logger_loses_no_line() {
    let dir = tempfile::tempdir().unwrap();
    let mut hub = Hub::new(true).with_logger_exe(PathBuf::from(env!("CARGO_BIN_EXE_cairn-init")));
    hub.configure(config(dir.path()), Instant::now());
    drain(&mut hub, Duration::from_secs(10));

    let mut killed = Vec::new();
    for i in 0..LINES {
        hub.app_line(APP, Stream::Stdout, format!("line {i:06}"), Instant::now());
        if KILL_AT.contains(&i) {
            // The logger is back from the previous kill before the next.
            let back = Instant::now() + Duration::from_secs(10);
            while hub.logger_pid().is_none() && Instant::now() < back {
                round(&mut hub);
            }
            let pid = hub.logger_pid().expect("the logger was restarted");
            // Lines in flight when it dies: sent, not yet acknowledged.
            hub.tick(Instant::now());
            kill(Pid::from_raw(i32::try_from(pid).unwrap()), Signal::SIGKILL).unwrap();
            killed.push(pid);
        }
        if i % 50 == 0 {
            round(&mut hub);
        }
    }
    drain(&mut hub, Duration::from_secs(30));
    let system = hub.recent("cairn");
    let restarts = system
        .iter()
        .filter(|l| l.contains("restarting in") && l.contains("nothing written is lost"))
        .count();
    assert_eq!(restarts, KILL_AT.len(), "{system:#?}");
    assert!(
        !system.iter().any(|l| l.contains("dropped")),
        "nothing may be dropped: {system:#?}"
    );
    let final_pid = hub.logger_pid().unwrap();
    assert!(!killed.contains(&final_pid));
    // Every logger it started is known as such when reaped, once; any other
    // pid is not one of them.
    for pid in &killed {
        assert!(hub.forget_logger(*pid), "logger {pid}");
        assert!(!hub.forget_logger(*pid));
    }
    assert!(!hub.forget_logger(std::process::id()));

    // Closing its input makes the logger sync its files and exit.
    drop(hub.close_logger());
    let _ = waitpid(Pid::from_raw(i32::try_from(final_pid).unwrap()), None);

    let mut first_seen: BTreeMap<u64, usize> = BTreeMap::new();
    let lines = logged_lines(dir.path());
    for (at, line) in lines.iter().enumerate() {
        let number: u64 = line
            .rsplit_once("line ")
            .and_then(|(_, n)| n.parse().ok())
            .unwrap_or_else(|| panic!("not an app line: {line}"));
        assert!(
            line.contains(" steady stdout line "),
            "fields missing: {line}"
        );
        first_seen.entry(number).or_insert(at);
    }
    let missing: Vec<u64> = (0..LINES).filter(|n| !first_seen.contains_key(n)).collect();
    assert!(missing.is_empty(), "lines lost: {missing:?}");
    // In order of first appearance: a resend may repeat lines, never
    // reorder them.
    let positions: Vec<usize> = first_seen.values().copied().collect();
    assert!(positions.windows(2).all(|w| w[0] < w[1]));
    // Whatever was written twice was written in the moments of the kills.
    let repeated = lines.len() as u64 - LINES;
    eprintln!(
        "{} lines, {repeated} written twice around the kills",
        lines.len()
    );
}
