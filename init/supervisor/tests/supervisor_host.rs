//! Runs the supervisor loop on the host, unprivileged and not as PID 1 (as a
//! child subreaper), against small shell programs: output capture with
//! prefixes, restart with backoff, readiness, `after`, orphan reaping, an
//! orderly stop that escalates to SIGKILL, NOTIFY_SOCKET readiness, http and
//! exec health checks, the circuit breaker, crash reports and the status file.
//!
//! The test binary doubles as a tiny app: run as `supervisor_host notify
//! MSG DELAY_MS MSG`, it sends the first message on `$NOTIFY_SOCKET`, waits,
//! sends the second and then sleeps.
//!
//! `harness = false`: the supervisor reaps with `waitpid(-1)`, which would
//! steal the children of tests running in parallel threads, so the scenarios
//! run one after another in the main thread.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU16, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use cairn_supervisor::health::Light;
use cairn_supervisor::supervisor::{Supervisor, SupervisorConfig, Timings, Verdict};
mod support;
use support::Console;

use cairn_manifest::{App, Health, HealthCheck, Limits, Restart, Sockets};

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
        secrets: Default::default(),
        security: Default::default(),
        uses: Vec::new(),
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
    let mut sv = Supervisor::new(config(), [&crashy], console.sink());
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
    let mut sv = Supervisor::new(config(), [&late, &oneshot, &steady], console.sink());
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
    let mut sv = Supervisor::new(config(), [&parent], console.sink());
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
    assert!(!cairn_sys::process::has_children());
}

fn a_stubborn_app_is_killed_after_its_stop_timeout(console: &mut Console) {
    let mut stubborn = app(
        "stubborn",
        "trap '' TERM; echo trapped; while true; do sleep 0.1; done",
        Restart::Always,
    );
    stubborn.stop_timeout = Duration::from_millis(500);
    let mut sv = Supervisor::new(config(), [&stubborn], console.sink());
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
    assert!(!cairn_sys::process::has_children());
}

fn a_missing_program_is_retried_not_fatal(console: &mut Console) {
    let mut ghost = app("ghost", "", Restart::OnFailure);
    ghost.exec = vec!["/nonexistent/cairn-ghost".to_string()];
    let mut sv = Supervisor::new(config(), [&ghost], console.sink());
    run_for(&mut sv, Duration::from_millis(500));
    sv.stop_blocking();
    let text = console.take();
    assert!(
        text.contains("cairn: error: app ghost could not start: No such file or directory (os error 2), retrying in 200ms\n"),
        "{text}"
    );
}

fn run_until(sv: &mut Supervisor, limit: Duration, mut done: impl FnMut(&mut Supervisor) -> bool) {
    let end = Instant::now() + limit;
    while Instant::now() < end {
        sv.turn(&mut [], Duration::from_millis(50));
        if done(sv) {
            return;
        }
    }
}

fn health(check: HealthCheck, interval_ms: u64, grace_ms: u64) -> Option<Health> {
    Some(Health {
        check,
        interval: Duration::from_millis(interval_ms),
        timeout: Duration::from_millis(500),
        grace: Duration::from_millis(grace_ms),
    })
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// An HTTP server on `port` answering every request with `status` (read at
/// each request), until the process ends.
fn http_server(port: u16) -> Arc<AtomicU16> {
    let status = Arc::new(AtomicU16::new(200));
    let listener = TcpListener::bind(("127.0.0.1", port)).unwrap();
    let answer = status.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut request = Vec::new();
            let mut buf = [0u8; 512];
            while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                match stream.read(&mut buf) {
                    Ok(n) if n > 0 => request.extend_from_slice(&buf[..n]),
                    _ => break,
                }
            }
            let code = answer.load(Ordering::SeqCst);
            let _ = write!(
                stream,
                "HTTP/1.1 {code} Whatever\r\nContent-Length: 0\r\n\r\n"
            );
        }
    });
    status
}

fn notify_readiness_and_status(console: &mut Console, tmp: &Path) {
    let exe = std::env::current_exe().unwrap();
    let mut talker = app("talker", "", Restart::Always);
    talker.exec = [
        exe.to_str().unwrap(),
        "notify",
        "STATUS=warming up",
        "1200",
        "READY=1",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let mut later = app("later", "echo later-start; exec sleep 30", Restart::Always);
    later.after = vec!["talker".to_string()];
    let status_file = tmp.join("run").join("status.json");
    let config = SupervisorConfig {
        notify_socket: Some(tmp.join("run").join("notify")),
        status_file: Some(status_file.clone()),
        ..config()
    };
    let mut sv = Supervisor::new(config, [&talker, &later], console.sink());
    let began = Instant::now();
    let mut ready_at = None;
    run_until(&mut sv, Duration::from_secs(6), |sv| {
        if sv.take_all_ready() {
            ready_at = Some(began.elapsed());
        }
        ready_at.is_some()
    });
    let ready_at = ready_at.unwrap_or_else(|| panic!("never ready:\n{}", console.take()));
    // It spoke the protocol in its first second, so the 300 ms rule did
    // not apply: readiness waited for READY=1.
    assert!(ready_at >= Duration::from_millis(1200), "{ready_at:?}");
    let json = std::fs::read_to_string(&status_file).unwrap();
    assert!(
        json.contains("{\"app\":\"talker\",\"instance\":0,\"state\":\"green\",\"pid\":"),
        "{json}"
    );
    assert!(
        json.contains("\"reason\":\"READY=1\",\"status\":\"warming up\"}"),
        "{json}"
    );
    sv.stop_blocking();
    let text = console.take();
    assert!(
        text.contains("cairn: app talker yellow -> green: READY=1\n"),
        "{text}"
    );
    assert!(line_index(&text, "app later started") > line_index(&text, "talker yellow -> green"));
    assert!(
        text.contains("cairn: app later yellow -> green: running\n"),
        "{text}"
    );
}

fn http_health_green_then_red_then_restarted(console: &mut Console) {
    let port = free_port();
    let status = http_server(port);
    let mut web = app("web", "exec sleep 30", Restart::OnFailure);
    web.ports.insert("http".to_string(), port);
    web.health = health(
        HealthCheck::Http {
            path: "/healthz".to_string(),
        },
        150,
        400,
    );
    let mut sv = Supervisor::new(config(), [&web], console.sink());
    let mut verdict = None;
    run_until(&mut sv, Duration::from_secs(5), |sv| {
        verdict = sv.take_verdict();
        verdict.is_some()
    });
    assert_eq!(verdict, Some(Verdict::Bless), "{}", console.take());
    assert_eq!(sv.light("web", 0), Some(Light::Green));
    let first_pid = sv.running_pids();
    // Past the grace of this run, failures count toward red.
    run_until(&mut sv, Duration::from_millis(500), |_| false);
    status.store(500, Ordering::SeqCst);
    run_until(&mut sv, Duration::from_secs(5), |sv| {
        !sv.running_pids().is_empty() && sv.running_pids() != first_pid
    });
    assert_ne!(
        sv.running_pids(),
        first_pid,
        "not restarted:\n{}",
        console.take()
    );
    assert_eq!(sv.take_verdict(), None, "the verdict is given once");
    status.store(200, Ordering::SeqCst);
    run_until(&mut sv, Duration::from_secs(3), |sv| {
        sv.light("web", 0) == Some(Light::Green)
    });
    assert_eq!(sv.light("web", 0), Some(Light::Green));
    sv.stop_blocking();
    let text = console.take();
    let expected = [
        "cairn: app web health yellow -> green: GET /healthz: 200\n".to_string(),
        "cairn: app web health green -> yellow: GET /healthz: status 500 (1 of 3)\n".to_string(),
        "cairn: app web health yellow -> red: GET /healthz: status 500 (3 of 3)\n".to_string(),
        "cairn: app web is unhealthy; stopping it to restart it\n".to_string(),
        "cairn: app web exited (signal SIGTERM), restarting in 200ms\n".to_string(),
        "cairn: app web health red -> yellow: restarting after signal SIGTERM\n".to_string(),
    ];
    for line in &expected {
        assert!(text.contains(line.as_str()), "no {line:?} in:\n{text}");
    }
    assert!(!text.contains("crashed (signal SIGTERM)"), "{text}");
}

fn a_red_app_refuses_the_blessing(console: &mut Console) {
    let port = free_port();
    let mut db = app("db", "exec sleep 30", Restart::Never);
    db.ports.insert("sql".to_string(), port);
    db.health = health(
        HealthCheck::Tcp {
            port: "sql".to_string(),
        },
        100,
        500,
    );
    let fine = app("fine", "exec sleep 30", Restart::Always);
    let mut sv = Supervisor::new(config(), [&db, &fine], console.sink());
    let mut verdict = None;
    let began = Instant::now();
    run_until(&mut sv, Duration::from_secs(5), |sv| {
        verdict = sv.take_verdict();
        verdict.is_some()
    });
    let took = began.elapsed();
    assert_eq!(
        verdict,
        Some(Verdict::Refuse(format!(
            "app db is red: tcp sql ({port}): connection refused (3 of 3)"
        ))),
        "{}",
        console.take()
    );
    assert!(
        took >= Duration::from_millis(500),
        "red within grace: {took:?}"
    );
    // `never`: it is left running, red, and nothing blesses this boot.
    run_until(&mut sv, Duration::from_millis(600), |_| false);
    assert_eq!(sv.running_pids().len(), 2);
    assert_eq!(sv.light("db", 0), Some(Light::Red));
    assert_eq!(sv.light("fine", 0), Some(Light::Green));
    assert!(!sv.take_all_ready());
    assert_eq!(sv.take_verdict(), None);
    sv.stop_blocking();
    let text = console.take();
    assert!(
        text.contains(&format!(
            "cairn: app db health yellow -> red: tcp sql ({port}): connection refused (3 of 3)\n"
        )),
        "{text}"
    );
    assert!(!text.contains("app db is unhealthy; stopping"), "{text}");
}

fn exec_checks_pass_and_time_out(console: &mut Console) {
    let mut ok = app("okcheck", "exec sleep 30", Restart::Never);
    ok.health = health(
        HealthCheck::Exec {
            argv: vec!["/bin/sh".into(), "-c".into(), "echo checked; exit 0".into()],
        },
        200,
        5000,
    );
    let mut slow = app("slowcheck", "exec sleep 30", Restart::Never);
    slow.health = health(
        HealthCheck::Exec {
            argv: vec!["/bin/sleep".into(), "5".into()],
        },
        200,
        0,
    );
    let mut sv = Supervisor::new(config(), [&ok, &slow], console.sink());
    run_until(&mut sv, Duration::from_secs(6), |sv| {
        sv.light("okcheck", 0) == Some(Light::Green) && sv.light("slowcheck", 0) == Some(Light::Red)
    });
    assert_eq!(
        sv.light("okcheck", 0),
        Some(Light::Green),
        "{}",
        console.take()
    );
    assert_eq!(
        sv.light("slowcheck", 0),
        Some(Light::Red),
        "{}",
        console.take()
    );
    sv.stop_blocking();
    let text = console.take();
    assert!(
        text.contains("cairn: app okcheck health yellow -> green: exec /bin/sh: exit 0\n"),
        "{text}"
    );
    assert!(text.contains("[okcheck check] checked\n"), "{text}");
    assert!(
        text.contains(
            "cairn: app slowcheck health yellow -> red: exec /bin/sleep: timed out (3 of 3)\n"
        ),
        "{text}"
    );
    assert!(
        !text.contains("reaped orphan"),
        "check children are ours:\n{text}"
    );
}

fn a_crash_loop_opens_the_breaker_and_leaves_a_report(console: &mut Console, tmp: &Path) {
    let crashy = app(
        "crashy",
        "echo starting; echo 'Traceback: boom' >&2; printf 'no newline' >&2; exit 3",
        Restart::Always,
    );
    let steady = app("steady", "exec sleep 30", Restart::Always);
    let crashes = tmp.join("crashes");
    let status_file = tmp.join("status.json");
    let config = SupervisorConfig {
        timings: Timings {
            backoff_floor: Duration::from_millis(50),
            ..config().timings
        },
        crash_dir: Some(crashes.clone()),
        status_file: Some(status_file.clone()),
        ..config()
    };
    let mut sv = Supervisor::new(config, [&crashy, &steady], console.sink());
    run_until(&mut sv, Duration::from_secs(5), |sv| {
        sv.light("crashy", 0) == Some(Light::Red)
    });
    run_until(&mut sv, Duration::from_millis(500), |_| false);
    let text = console.take();
    assert_eq!(sv.light("crashy", 0), Some(Light::Red), "{text}");
    assert_eq!(sv.light("steady", 0), Some(Light::Green), "{text}");
    assert_eq!(sv.running_pids().len(), 1, "only steady runs");
    assert_eq!(
        text.matches("cairn: app crashy started (pid ").count(),
        5,
        "{text}"
    );
    assert!(
        text.contains("cairn: error: app crashy failed: crashed 5 times in 60s; not restarting\n"),
        "{text}"
    );
    assert!(
        text.contains(
            "cairn: app crashy crashed (status 3); last stderr lines:\n    Traceback: boom\n    no newline\n"
        ),
        "{text}"
    );
    assert_eq!(
        sv.take_verdict(),
        Some(Verdict::Refuse(
            "app crashy is red: crashed 5 times in 60s".to_string()
        ))
    );
    let reports: Vec<_> = std::fs::read_dir(&crashes).unwrap().collect();
    assert_eq!(reports.len(), 5, "one report per crash");
    let json = std::fs::read_to_string(&status_file).unwrap();
    assert!(
        json.contains("{\"app\":\"crashy\",\"instance\":0,\"state\":\"red\",\"pid\":null,\"restarts\":4,\"last_exit\":\"status 3\",\"reason\":\"crashed 5 times in 60s\""),
        "{json}"
    );
    sv.stop_blocking();
    console.take();
}

/// The test binary as a notify-speaking app (see the module docs).
fn notify_helper(args: &[String]) {
    let socket = std::env::var("NOTIFY_SOCKET").unwrap();
    let sock = std::os::unix::net::UnixDatagram::unbound().unwrap();
    sock.send_to(args[0].as_bytes(), &socket).unwrap();
    std::thread::sleep(Duration::from_millis(args[1].parse().unwrap()));
    sock.send_to(args[2].as_bytes(), &socket).unwrap();
    std::thread::sleep(Duration::from_secs(30));
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("notify") {
        notify_helper(&args[1..]);
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("console.log");
    cairn_sys::process::set_child_subreaper().unwrap();
    let mut console = Console::install(path);

    let dir = tmp.path().to_path_buf();
    let notify = move |c: &mut Console| notify_readiness_and_status(c, &dir.join("notify"));
    let dir = tmp.path().to_path_buf();
    let breaker = move |c: &mut Console| {
        a_crash_loop_opens_the_breaker_and_leaves_a_report(c, &dir.join("breaker"))
    };
    let mut tests = support::harness::Tests::from_args();
    tests.run("output_capture_and_restart_with_backoff", || {
        output_capture_and_restart_with_backoff(&mut console)
    });
    tests.run("readiness_instances_after_and_stop", || {
        readiness_instances_after_and_stop(&mut console)
    });
    tests.run("orphans_are_reaped_and_output_outlives_its_writer", || {
        orphans_are_reaped_and_output_outlives_its_writer(&mut console)
    });
    tests.run("a_stubborn_app_is_killed_after_its_stop_timeout", || {
        a_stubborn_app_is_killed_after_its_stop_timeout(&mut console)
    });
    tests.run("a_missing_program_is_retried_not_fatal", || {
        a_missing_program_is_retried_not_fatal(&mut console)
    });
    tests.run("notify_readiness_and_status", || notify(&mut console));
    tests.run("http_health_green_then_red_then_restarted", || {
        http_health_green_then_red_then_restarted(&mut console)
    });
    tests.run("a_red_app_refuses_the_blessing", || {
        a_red_app_refuses_the_blessing(&mut console)
    });
    tests.run("exec_checks_pass_and_time_out", || {
        exec_checks_pass_and_time_out(&mut console)
    });
    tests.run("a_crash_loop_opens_the_breaker_and_leaves_a_report", || {
        breaker(&mut console)
    });
    tests.finish();
}
