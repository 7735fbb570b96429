//! The supervisor's decisions, with a recording fake for processes and time
//! driven by the test: restart policy, backoff, the circuit breaker, `after`
//! ordering, the verdict, and the order and escalation of a stop. No real
//! process and no global state, so these run in parallel.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use cairn_logging::Stream;
use cairn_manifest::{App, Health, HealthCheck, Limits, Restart, Sockets};
use cairn_sys::process::ExitStatus;
use nix::sys::signal::Signal;

use super::fake::{Call, Fake};
use super::{Phase, Sink, Supervisor, SupervisorConfig, Timings, Verdict};
use crate::health::Light;

/// Keeps what an embedding program would be told.
#[derive(Debug, Default)]
struct Quiet {
    all_ready: u32,
}

impl Sink for Quiet {
    fn line(&mut self, _label: &str, _stream: Stream, _line: String) {}
    fn console(&mut self, _line: &str) {}
    fn reaped_unknown(&mut self, _pid: i32, _status: ExitStatus) {}
    fn all_ready(&mut self) {
        self.all_ready += 1;
    }
}

const FLOOR: Duration = Duration::from_millis(100);
const READY_AFTER: Duration = Duration::from_millis(500);

fn timings() -> Timings {
    Timings {
        ready_after: READY_AFTER,
        backoff_floor: FLOOR,
        backoff_cap: Duration::from_millis(800),
        stable_after: Duration::from_secs(10),
        kill_grace: Duration::from_secs(1),
        breaker_limit: 5,
        breaker_window: Duration::from_secs(60),
    }
}

fn app(name: &str, restart: Restart) -> App {
    App {
        name: name.to_string(),
        bundle: PathBuf::from(name),
        exec: vec![format!("/bin/{name}")],
        env: BTreeMap::new(),
        instances: 1,
        after: Vec::new(),
        restart,
        stop_timeout: Duration::from_secs(3),
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

fn after(mut app: App, deps: &[&str]) -> App {
    app.after = deps.iter().map(|d| d.to_string()).collect();
    app
}

fn supervisor(apps: &[App]) -> (Supervisor, Fake) {
    supervisor_with(apps, timings())
}

fn supervisor_with(apps: &[App], timings: Timings) -> (Supervisor, Fake) {
    let fake = Fake::default();
    let config = SupervisorConfig {
        timings,
        ..SupervisorConfig::host()
    };
    let sv = Supervisor::with_processes(
        config,
        apps,
        Box::new(Quiet::default()),
        Box::new(fake.clone()),
    );
    (sv, fake)
}

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn phase(sv: &Supervisor, app: &str) -> Phase {
    sv.instances
        .iter()
        .find(|i| sv.apps[i.app].name == app)
        .map(|i| i.phase)
        .unwrap()
}

#[test]
fn a_crash_is_restarted_after_a_backoff_that_doubles_up_to_its_cap() {
    // A breaker that never opens here: only the backoff is looked at.
    let timings = Timings {
        breaker_limit: 100,
        ..timings()
    };
    let (mut sv, fake) = supervisor_with(&[app("web", Restart::Always)], timings);
    let t0 = Instant::now();
    sv.step(t0);
    let mut delays = Vec::new();
    let mut at = t0;
    for _ in 0..5 {
        let pid = fake.pid_of("web").unwrap();
        at += ms(10);
        fake.exit(pid, ExitStatus::Code(3));
        sv.step(at);
        let Phase::Due(due) = phase(&sv, "web") else {
            panic!("not waiting to restart: {:?}", phase(&sv, "web"));
        };
        // Not a moment early...
        sv.step(due - ms(1));
        assert!(fake.pid_of("web").is_none());
        // ...and at once when due.
        sv.step(due);
        assert!(fake.pid_of("web").is_some());
        delays.push(due - at);
        at = due;
    }
    assert_eq!(delays, [ms(100), ms(200), ms(400), ms(800), ms(800)]);
    assert_eq!(fake.started("web").len(), 6);
    assert_eq!(sv.statuses()[0].restarts, 5);
}

#[test]
fn the_restart_policy_decides_what_an_exit_leads_to() {
    let cases = [
        (Restart::Always, ExitStatus::Code(0), true, Light::Yellow),
        (Restart::OnFailure, ExitStatus::Code(0), false, Light::Green),
        (Restart::OnFailure, ExitStatus::Code(1), true, Light::Yellow),
        (Restart::Never, ExitStatus::Signal(11), false, Light::Red),
    ];
    for (policy, status, restarts, light) in cases {
        let (mut sv, fake) = supervisor(&[app("job", policy)]);
        let t0 = Instant::now();
        sv.step(t0);
        fake.exit(fake.pid_of("job").unwrap(), status);
        sv.step(t0 + ms(5));
        sv.step(t0 + ms(5) + FLOOR);
        let starts = fake.started("job").len();
        assert_eq!(starts == 2, restarts, "{policy:?} {status:?}");
        if !restarts {
            assert_eq!(sv.light("job", 0), Some(light), "{policy:?} {status:?}");
            assert_eq!(phase(&sv, "job"), Phase::Ended(Some(status)));
        }
    }
}

#[test]
fn five_crashes_within_the_window_open_the_breaker_for_good() {
    let (mut sv, fake) =
        supervisor(&[app("crashy", Restart::Always), app("calm", Restart::Always)]);
    let t0 = Instant::now();
    sv.step(t0);
    let mut at = t0;
    for _ in 0..5 {
        at += ms(20);
        fake.exit(fake.pid_of("crashy").unwrap(), ExitStatus::Code(1));
        sv.step(at);
        if let Phase::Due(due) = phase(&sv, "crashy") {
            at = due;
            sv.step(at);
        }
    }
    assert_eq!(
        phase(&sv, "crashy"),
        Phase::Ended(Some(ExitStatus::Code(1)))
    );
    assert_eq!(sv.light("crashy", 0), Some(Light::Red));
    assert!(sv.statuses()[0].reason.contains("crashed 5 times in 60s"));
    // Nothing brings it back, while its neighbour goes on.
    sv.step(at + Duration::from_secs(120));
    assert_eq!(fake.started("crashy").len(), 5);
    assert!(fake.pid_of("calm").is_some());
    // It turned red before all apps were ready: no blessing for this boot.
    assert!(matches!(sv.take_verdict(), Some(Verdict::Refuse(why)) if why.contains("crashy")));
    assert_eq!(sv.refused_by(), Some("crashy"));
}

#[test]
fn crashes_spread_over_more_than_the_window_keep_being_restarted() {
    let (mut sv, fake) = supervisor(&[app("flaky", Restart::Always)]);
    let t0 = Instant::now();
    sv.step(t0);
    for round in 1..=8u64 {
        // Each run lasts 20 s: a stable run resets the backoff, and no five
        // failures fall within one minute.
        let at = t0 + Duration::from_secs(20 * round);
        fake.exit(fake.pid_of("flaky").unwrap(), ExitStatus::Code(1));
        sv.step(at);
        sv.step(at + FLOOR);
    }
    assert_eq!(fake.started("flaky").len(), 9);
    assert!(fake.pid_of("flaky").is_some());
}

#[test]
fn a_start_that_fails_is_retried_with_backoff_then_given_up() {
    let (mut sv, fake) = supervisor(&[app("ghost", Restart::OnFailure)]);
    fake.fail_starts("ghost");
    let t0 = Instant::now();
    let mut at = t0;
    sv.step(at);
    let mut tries = 1;
    while let Phase::Due(due) = phase(&sv, "ghost") {
        at = due;
        sv.step(at);
        tries += 1;
        assert!(tries < 10, "never gave up");
    }
    assert_eq!(tries, 5);
    assert_eq!(sv.light("ghost", 0), Some(Light::Red));
    assert!(
        sv.statuses()[0].reason.contains("crashed 5 times"),
        "{:?}",
        sv.statuses()
    );
    assert!(fake.calls().is_empty());
}

#[test]
fn an_app_starts_only_once_the_apps_it_comes_after_are_ready() {
    let (mut sv, fake) = supervisor(&[
        app("db", Restart::Always),
        after(app("web", Restart::Always), &["db"]),
        after(app("worker", Restart::Always), &["web", "db"]),
    ]);
    let t0 = Instant::now();
    sv.step(t0);
    assert_eq!(fake.started("db").len(), 1);
    assert!(fake.started("web").is_empty());
    // db is ready after READY_AFTER without a word on NOTIFY_SOCKET.
    sv.step(t0 + READY_AFTER - ms(1));
    assert!(fake.started("web").is_empty());
    sv.step(t0 + READY_AFTER);
    sv.step(t0 + READY_AFTER);
    assert_eq!(fake.started("web").len(), 1);
    assert!(fake.started("worker").is_empty());
    sv.step(t0 + READY_AFTER * 2);
    sv.step(t0 + READY_AFTER * 2);
    assert_eq!(fake.started("worker").len(), 1);
    let order: Vec<String> = fake
        .calls()
        .into_iter()
        .filter_map(|c| match c {
            Call::Start { app, .. } => Some(app),
            _ => None,
        })
        .collect();
    assert_eq!(order, ["db", "web", "worker"]);
}

#[test]
fn every_instance_ready_blesses_once() {
    let mut web = app("web", Restart::Always);
    web.instances = 3;
    let (mut sv, fake) = supervisor(&[web]);
    let t0 = Instant::now();
    sv.step(t0);
    assert_eq!(fake.started("web").len(), 3);
    assert_eq!(sv.take_verdict(), None);
    sv.step(t0 + READY_AFTER);
    assert!(sv.take_all_ready());
    assert_eq!(sv.take_verdict(), Some(Verdict::Bless));
    sv.step(t0 + READY_AFTER * 2);
    assert!(!sv.take_all_ready());
    assert_eq!(sv.take_verdict(), None);
}

#[test]
fn a_stop_goes_dependents_first_and_kills_what_outlives_its_stop_timeout() {
    let (mut sv, fake) = supervisor(&[
        app("db", Restart::Always),
        after(app("web", Restart::Always), &["db"]),
        after(app("cache", Restart::Always), &["db"]),
    ]);
    fake.ignore_term("cache");
    let t0 = Instant::now();
    sv.step(t0);
    sv.step(t0 + READY_AFTER);
    sv.step(t0 + READY_AFTER);
    let (db, web, cache) = (
        fake.pid_of("db").unwrap(),
        fake.pid_of("web").unwrap(),
        fake.pid_of("cache").unwrap(),
    );
    fake.clear();
    let stop = t0 + Duration::from_secs(5);
    sv.begin_stop_at(stop);
    // The dependents get TERM; db waits for them.
    assert_eq!(
        fake.signals(),
        [(web, Signal::SIGTERM), (cache, Signal::SIGTERM)]
    );
    sv.step(stop + ms(10));
    // web is gone, cache ignores TERM: db still waits.
    assert!(!fake.signals().contains(&(db, Signal::SIGTERM)));
    // cache's stop_timeout passes: KILL, and then db's turn.
    sv.step(stop + Duration::from_secs(3));
    assert!(fake.signals().contains(&(cache, Signal::SIGKILL)));
    sv.step(stop + Duration::from_secs(3) + ms(10));
    assert_eq!(fake.signals().last(), Some(&(db, Signal::SIGTERM)));
    sv.step(stop + Duration::from_secs(3) + ms(20));
    assert!(sv.stop_finished());
    // Nothing restarted during the stop.
    assert!(fake
        .calls()
        .iter()
        .all(|c| matches!(c, Call::Signal { .. })));
}

#[test]
fn an_unhealthy_instance_is_stopped_and_started_again() {
    let mut web = app("web", Restart::Always);
    web.health = Some(Health {
        check: HealthCheck::Exec {
            argv: vec!["/bin/check".to_string()],
        },
        interval: ms(100),
        timeout: ms(50),
        grace: Duration::ZERO,
    });
    let (mut sv, fake) = supervisor(&[web]);
    let t0 = Instant::now();
    sv.step(t0);
    let first = fake.pid_of("web").unwrap();
    let mut at = t0;
    // Three failing checks in a row turn it red, and a red instance is
    // stopped so that it restarts.
    for checks in 1..=3 {
        at += ms(100);
        sv.step(at);
        let check = fake
            .calls()
            .iter()
            .rev()
            .find_map(|c| match c {
                Call::Check { pid, .. } => Some(*pid),
                _ => None,
            })
            .unwrap();
        fake.exit(check, ExitStatus::Code(1));
        sv.step(at);
        let stopped = fake.signals().contains(&(first, Signal::SIGTERM));
        assert_eq!(stopped, checks == 3, "after {checks} failed checks");
    }
    assert!(
        matches!(sv.take_verdict(), Some(Verdict::Refuse(why)) if why.contains("status 1 (3 of 3)"))
    );
    assert!(fake.signals().contains(&(first, Signal::SIGTERM)));
    sv.step(at + ms(1));
    sv.step(at + ms(1) + FLOOR);
    let second = fake.pid_of("web").unwrap();
    assert_ne!(first, second);
    assert_eq!(fake.started("web"), [first, second]);
}

#[test]
fn an_operator_restart_starts_an_app_again_whatever_its_policy() {
    let (mut sv, fake) = supervisor(&[app("once", Restart::Never)]);
    let t0 = Instant::now();
    sv.step(t0);
    let first = fake.pid_of("once").unwrap();
    assert_eq!(sv.restart_app("once", t0 + ms(10)), Ok(1));
    assert!(fake.signals().contains(&(first, Signal::SIGTERM)));
    sv.step(t0 + ms(20));
    sv.step(t0 + ms(20));
    let second = fake.pid_of("once").unwrap();
    assert_ne!(first, second);
    assert_eq!(sv.statuses()[0].restarts, 1);
    // A failed app (its breaker open) comes back too, with a fresh breaker.
    assert_eq!(
        sv.restart_app("nope", t0),
        Err("there is no app nope".to_string())
    );
}

#[test]
fn a_failed_app_is_started_again_on_request() {
    let (mut sv, fake) = supervisor(&[app("crashy", Restart::Always)]);
    let t0 = Instant::now();
    sv.step(t0);
    let mut at = t0;
    while !matches!(phase(&sv, "crashy"), Phase::Ended(_)) {
        at += ms(20);
        if let Some(pid) = fake.pid_of("crashy") {
            fake.exit(pid, ExitStatus::Code(1));
        }
        sv.step(at);
        if let Phase::Due(due) = phase(&sv, "crashy") {
            at = due;
            sv.step(at);
        }
    }
    let starts = fake.started("crashy").len();
    assert_eq!(sv.restart_app("crashy", at), Ok(1));
    sv.step(at);
    assert_eq!(fake.started("crashy").len(), starts + 1);
    // It may fail again four times before the fresh breaker opens.
    for _ in 0..4 {
        at += ms(20);
        fake.exit(fake.pid_of("crashy").unwrap(), ExitStatus::Code(1));
        sv.step(at);
        assert!(matches!(phase(&sv, "crashy"), Phase::Due(_)));
        if let Phase::Due(due) = phase(&sv, "crashy") {
            at = due;
            sv.step(at);
        }
    }
}

#[test]
fn no_restart_while_the_system_stops() {
    let (mut sv, _fake) = supervisor(&[app("web", Restart::Always)]);
    let t0 = Instant::now();
    sv.step(t0);
    sv.begin_stop_at(t0);
    assert!(sv.restart_app("web", t0).is_err());
}
