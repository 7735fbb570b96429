//! Runs the supervisor loop on the host, unprivileged and not as PID 1 (as a
//! child subreaper), against small shell programs: output capture with
//! prefixes, restart with backoff, readiness, `after`, orphan reaping, and an
//! orderly stop that escalates to SIGKILL.
//!
//! `harness = false`: the supervisor reaps with `waitpid(-1)`, which would
//! steal the children of tests running in parallel threads, so the scenarios
//! run one after another in the main thread.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use cairn_init::supervisor::{Supervisor, SupervisorConfig, Timings};
use cairn_manifest::{App, Limits, Restart, Sockets};

struct Console {
    path: PathBuf,
    seen: usize,
}

impl Console {
    /// The console text written since the last call.
    fn take(&mut self) -> String {
        cairn_init::console::flush();
        let text = std::fs::read_to_string(&self.path).unwrap();
        let new = text[self.seen..].to_string();
        self.seen = text.len();
        new
    }
}

fn app(name: &str, script: &str, restart: Restart) -> App {
    App {
        name: name.to_string(),
        bundle: PathBuf::from(name),
        exec: vec!["/bin/sh".to_string(), "-c".to_string(), script.to_string()],
        env: BTreeMap::new(),
        instances: 1,
        after: Vec::new(),
        restart,
        stop_timeout: Duration::from_secs(5),
        sockets: Sockets::Bound,
        ports: BTreeMap::new(),
        paths: BTreeMap::new(),
        limits: Limits::default(),
        health: None,
    }
}

fn config() -> SupervisorConfig {
    SupervisorConfig {
        timings: Timings {
            ready_after: Duration::from_millis(300),
            ..Timings::default()
        },
        ..SupervisorConfig::host()
    }
}

fn run_for(sv: &mut Supervisor, limit: Duration) {
    let end = Instant::now() + limit;
    while Instant::now() < end {
        sv.turn(&mut [], Duration::from_millis(50));
    }
}

fn line_index(text: &str, needle: &str) -> usize {
    text.lines()
        .position(|l| l.contains(needle))
        .unwrap_or_else(|| panic!("no line with {needle:?} in:\n{text}"))
}

fn output_capture_and_restart_with_backoff(console: &mut Console) {
    let crashy = app(
        "crashy",
        "echo hi; echo oops >&2; exit 3",
        Restart::OnFailure,
    );
    let mut sv = Supervisor::new(config(), [&crashy]);
    run_for(&mut sv, Duration::from_millis(1500));
    sv.stop_blocking();
    let text = console.take();
    let starts = text.matches("cairn: app crashy started (pid ").count();
    assert!(starts >= 3, "expected at least 3 starts:\n{text}");
    assert!(
        text.matches("[crashy] hi\n").count() >= starts - 1,
        "{text}"
    );
    assert!(text.contains("[crashy] oops\n"), "{text}");
    assert!(
        text.contains("cairn: app crashy exited (status 3), restarting in 200ms\n"),
        "{text}"
    );
    assert!(
        text.contains("cairn: app crashy exited (status 3), restarting in 400ms\n"),
        "{text}"
    );
    assert!(
        !text.contains("all apps ready"),
        "a crash loop is never ready:\n{text}"
    );
}

fn readiness_instances_after_and_stop(console: &mut Console) {
    let oneshot = app("oneshot", "echo done", Restart::Never);
    let mut steady = app(
        "steady",
        "echo up $CAIRN_APP $CAIRN_INSTANCE $PORT_HTTP; exec sleep 30",
        Restart::Always,
    );
    steady.instances = 2;
    steady.ports.insert("http".to_string(), 8080);
    let mut late = app("late", "echo late-start; exec sleep 30", Restart::Always);
    late.after = vec!["steady".to_string()];
    let mut sv = Supervisor::new(config(), [&late, &oneshot, &steady]);
    let start = Instant::now();
    let mut ready = false;
    while !ready && start.elapsed() < Duration::from_secs(5) {
        sv.turn(&mut [], Duration::from_millis(50));
        ready = sv.take_all_ready();
    }
    assert!(ready, "never all ready:\n{}", console.take());
    assert!(!sv.take_all_ready(), "all-ready is reported once");
    assert_eq!(sv.running_pids().len(), 3);
    sv.stop_blocking();
    assert!(sv.running_pids().is_empty());
    let text = console.take();
    assert!(text.contains("[oneshot] done\n"), "{text}");
    assert!(
        text.contains("cairn: app oneshot exited (status 0), not restarting\n"),
        "{text}"
    );
    assert!(text.contains("[steady] up steady 0 8080\n"), "{text}");
    assert!(text.contains("[steady.1] up steady 1 8081\n"), "{text}");
    assert!(text.contains("cairn: all apps ready ("), "{text}");
    // `late` waits for both instances of `steady` to be ready ...
    assert!(line_index(&text, "app late started") > line_index(&text, "app steady.1 started"));
    // ... and, depending on it, is stopped before them.
    assert!(line_index(&text, "app late stopped") < line_index(&text, "app steady stopped"));
    assert!(text.contains("cairn: stopping apps\n"), "{text}");
    assert!(
        text.contains("cairn: app steady.1 stopped (signal SIGTERM)\n"),
        "{text}"
    );
}

fn orphans_are_reaped_and_output_outlives_its_writer(console: &mut Console) {
    let parent = app(
        "parent",
        "(sleep 0.3; echo orphan-done) & echo parent-exits; printf no-newline >&2",
        Restart::Never,
    );
    let mut sv = Supervisor::new(config(), [&parent]);
    run_for(&mut sv, Duration::from_millis(1200));
    let text = console.take();
    assert!(text.contains("[parent] parent-exits\n"), "{text}");
    assert!(text.contains("[parent] orphan-done\n"), "{text}");
    // The last line on stderr had no newline; it is printed when the pipe
    // closes, which is when the orphan (holding it too) exits.
    assert!(text.contains("[parent] no-newline"), "{text}");
    assert!(text.contains("cairn: reaped orphan pid "), "{text}");
    assert!(text.contains(" (status 0)\n"), "{text}");
    assert_eq!(sv.open_streams(), 0);
    assert!(!cairn_init::sys::process::has_children());
}

fn a_stubborn_app_is_killed_after_its_stop_timeout(console: &mut Console) {
    let mut stubborn = app(
        "stubborn",
        "trap '' TERM; echo trapped; while true; do sleep 0.1; done",
        Restart::Always,
    );
    stubborn.stop_timeout = Duration::from_millis(500);
    let mut sv = Supervisor::new(config(), [&stubborn]);
    run_for(&mut sv, Duration::from_millis(800));
    let begun = Instant::now();
    sv.stop_blocking();
    let took = begun.elapsed();
    let text = console.take();
    assert!(
        took >= Duration::from_millis(450),
        "stopped too early: {took:?}\n{text}"
    );
    assert!(
        took < Duration::from_secs(3),
        "stopped too late: {took:?}\n{text}"
    );
    assert!(text.contains("[stubborn] trapped\n"), "{text}");
    assert!(
        text.contains("cairn: warning: app stubborn did not stop in 500ms, killing it\n"),
        "{text}"
    );
    assert!(
        text.contains("cairn: app stubborn stopped (signal SIGKILL)\n"),
        "{text}"
    );
    // The group went with it: nothing is left to reap after a moment.
    run_for(&mut sv, Duration::from_millis(300));
    assert!(!cairn_init::sys::process::has_children());
}

fn a_missing_program_is_retried_not_fatal(console: &mut Console) {
    let mut ghost = app("ghost", "", Restart::OnFailure);
    ghost.exec = vec!["/nonexistent/cairn-ghost".to_string()];
    let mut sv = Supervisor::new(config(), [&ghost]);
    run_for(&mut sv, Duration::from_millis(500));
    sv.stop_blocking();
    let text = console.take();
    assert!(
        text.contains("cairn: error: app ghost could not start: No such file or directory (os error 2), retrying in 200ms\n"),
        "{text}"
    );
}

type Scenario = fn(&mut Console);

fn main() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("console.log");
    std::fs::write(&path, "").unwrap();
    cairn_init::log::init(&cairn_init::log::LogSetup {
        console: Some(path.clone()),
        kmsg: None,
    })
    .unwrap();
    cairn_init::sys::process::set_child_subreaper().unwrap();
    let mut console = Console { path, seen: 0 };

    let scenarios: [(&str, Scenario); 5] = [
        (
            "output_capture_and_restart_with_backoff",
            output_capture_and_restart_with_backoff,
        ),
        (
            "readiness_instances_after_and_stop",
            readiness_instances_after_and_stop,
        ),
        (
            "orphans_are_reaped_and_output_outlives_its_writer",
            orphans_are_reaped_and_output_outlives_its_writer,
        ),
        (
            "a_stubborn_app_is_killed_after_its_stop_timeout",
            a_stubborn_app_is_killed_after_its_stop_timeout,
        ),
        (
            "a_missing_program_is_retried_not_fatal",
            a_missing_program_is_retried_not_fatal,
        ),
    ];
    for (name, scenario) in scenarios {
        println!("test {name} ...");
        scenario(&mut console);
        println!("test {name} ... ok");
    }
    println!("{} passed, 0 failed", scenarios.len());
}
