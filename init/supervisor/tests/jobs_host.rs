//! The job runtime with real processes on the host, unprivileged: runs are
//! started exactly as the supervisor starts an app on a developer's machine
//! (`supervisor::app::command` with the host configuration, the job turned
//! into an app by `jobs::launch::app_for`), as `/bin/sh` programs.
//!
//! The wall clock handed to the runtime is the real monotonic clock shifted
//! to just before a fire instant, so minute schedules fire within
//! milliseconds and lateness is measured against real process starts.
//! Each test reaps only its own children (`waitpid(pid)`), so the tests may
//! run in parallel threads.

use std::io::{self, Read};
use std::os::fd::OwnedFd;
use std::path::Path;
use std::time::{Duration, Instant};

use cairn_manifest::{Job, Limits, Missed, Overlap};
use cairn_schedule::jiff::{SignedDuration, Timestamp};
use cairn_supervisor::jobs::launch::app_for;
use cairn_supervisor::jobs::{Jobs, JobsConfig, Reason, Runner};
use cairn_supervisor::supervisor::{app, SupervisorConfig};
use cairn_sys::process::ExitStatus;
use nix::sys::signal::Signal;
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::Pid;

fn job(name: &str, schedule: &str, script: &str) -> Job {
    Job {
        name: name.into(),
        schedule: schedule.into(),
        timezone: "UTC".into(),
        bundle: Default::default(),
        exec: vec!["/bin/sh".into(), "-c".into(), script.into()],
        env: Default::default(),
        overlap: Overlap::Skip,
        missed: Missed::Skip,
        timeout: None,
        paths: Default::default(),
        limits: Limits::default(),
        security: Default::default(),
    }
}

/// Starts runs as the supervisor does on a host; remembers their output.
#[derive(Default)]
struct HostRunner {
    pids: Vec<i32>,
    outputs: Vec<(i32, OwnedFd)>,
    starts: Vec<(String, Reason, Option<Timestamp>, Instant)>,
    signals: Vec<(i32, Signal)>,
}

impl Runner for HostRunner {
    fn start(
        &mut self,
        job: &Job,
        reason: Reason,
        scheduled: Option<Timestamp>,
    ) -> io::Result<i32> {
        let mut app = app_for(job, Duration::from_millis(300));
        if let Some(at) = scheduled {
            app.env.insert("CAIRN_SCHEDULED".into(), at.to_string());
        }
        let mut spawned = app::command(&app, 0, &SupervisorConfig::host())?.spawn()?;
        let pid = i32::try_from(spawned.id()).unwrap();
        self.starts
            .push((job.name.clone(), reason, scheduled, Instant::now()));
        self.pids.push(pid);
        if let Some(out) = spawned.stdout.take() {
            self.outputs.push((pid, out));
        }
        Ok(pid)
    }

    fn signal(&mut self, pid: i32, signal: Signal) {
        self.signals.push((pid, signal));
        let _ = nix::sys::signal::killpg(Pid::from_raw(pid), signal)
            .or_else(|_| nix::sys::signal::kill(Pid::from_raw(pid), signal));
    }
}

impl HostRunner {
    /// Reaps this runner's ended children.
    fn reaped(&mut self) -> Vec<(i32, ExitStatus)> {
        let mut ended = Vec::new();
        self.pids.retain(|pid| {
            match waitpid(Pid::from_raw(*pid), Some(WaitPidFlag::WNOHANG)) {
                Ok(WaitStatus::Exited(_, code)) => ended.push((*pid, ExitStatus::Code(code))),
                Ok(WaitStatus::Signaled(_, sig, _)) => {
                    ended.push((*pid, ExitStatus::Signal(sig as i32)))
                }
                _ => return true,
            }
            false
        });
        ended
    }

    fn output(&mut self, pid: i32) -> String {
        let index = self.outputs.iter().position(|(p, _)| *p == pid).unwrap();
        let (_, fd) = self.outputs.remove(index);
        let mut text = String::new();
        std::fs::File::from(fd).read_to_string(&mut text).unwrap();
        text
    }
}

/// A wall clock running at real speed from `start`.
struct Wall {
    start: Timestamp,
    mono: Instant,
}

impl Wall {
    fn starting_at(start: &str) -> Wall {
        Wall {
            start: start.parse().unwrap(),
            mono: Instant::now(),
        }
    }

    fn now(&self) -> (Timestamp, Instant) {
        let mono = Instant::now();
        let elapsed = SignedDuration::try_from(mono - self.mono).unwrap();
        (self.start.checked_add(elapsed).unwrap(), mono)
    }
}

fn config(dir: &Path) -> JobsConfig {
    JobsConfig {
        state_dir: dir.to_path_buf(),
        boot_id: "host-boot".into(),
        clock_floor: "2025-01-01T00:00:00Z".parse().unwrap(),
        catchup_spread: Duration::from_millis(500),
        catchup_gap: Duration::from_millis(200),
        kill_grace: Duration::from_millis(300),
        history_limit: 100,
    }
}

/// Runs the loop as the supervisor would: tick, sleep until the next
/// deadline (at most 20 ms), reap, until `done` or `limit` passes.
fn drive(
    jobs: &mut Jobs,
    runner: &mut HostRunner,
    wall: &Wall,
    limit: Duration,
    mut done: impl FnMut(&Jobs, &HostRunner) -> bool,
) {
    let until = Instant::now() + limit;
    while Instant::now() < until && !done(jobs, runner) {
        let (now, mono) = wall.now();
        jobs.tick(now, mono, runner);
        let wait = jobs
            .next_deadline(now, mono)
            .map_or(Duration::from_millis(20), |d| d - mono)
            .min(Duration::from_millis(20));
        std::thread::sleep(wait);
        for (pid, status) in runner.reaped() {
            let (now, mono) = wall.now();
            assert!(jobs.on_exit(pid, status, now, mono, runner));
        }
    }
}

fn history(dir: &Path, name: &str) -> Vec<String> {
    std::fs::read_to_string(dir.join(name).join("history.jsonl"))
        .unwrap_or_default()
        .lines()
        .map(str::to_string)
        .collect()
}

#[test]
fn a_job_fires_on_time_with_the_app_environment_and_its_history() {
    let dir = tempfile::tempdir().unwrap();
    let every = job(
        "tick",
        "* * * * *",
        "echo \"job=$CAIRN_APP at=$CAIRN_SCHEDULED\"; exit 3",
    );
    let mut jobs = Jobs::new([&every], config(dir.path()));
    let mut runner = HostRunner::default();
    let wall = Wall::starting_at("2027-01-01T00:00:59.7Z");
    drive(
        &mut jobs,
        &mut runner,
        &wall,
        Duration::from_secs(5),
        |j, r| !r.starts.is_empty() && !j.is_running("tick"),
    );
    assert_eq!(runner.starts.len(), 1);
    let (_, reason, scheduled, started) = runner.starts[0].clone();
    assert_eq!(reason, Reason::Schedule);
    assert_eq!(scheduled, Some("2027-01-01T00:01:00Z".parse().unwrap()));
    // Started at its instant (300 ms after the test began), not before;
    // the bound after it leaves room for a loaded machine.
    let late = started.duration_since(wall.mono);
    assert!(
        late >= Duration::from_millis(300) && late < Duration::from_millis(550),
        "{late:?}"
    );
    let pid = *runner.outputs.first().map(|(p, _)| p).unwrap();
    assert_eq!(runner.output(pid), "job=tick at=2027-01-01T00:01:00Z\n");
    let lines = history(dir.path(), "tick");
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert!(lines[0].contains("\"code\":3"), "{}", lines[0]);
    assert!(
        lines[0].contains(&format!(
            "\"log\":\"{}\"",
            cairn_layout::data::log_dir("tick")
        )),
        "{}",
        lines[0]
    );
    let last = std::fs::read_to_string(dir.path().join("tick/last")).unwrap();
    assert_eq!(last, "2027-01-01T00:01:00Z\n");
}

#[test]
fn timeout_terms_then_kills_a_run_that_ignores_term() {
    let dir = tempfile::tempdir().unwrap();
    let mut stubborn = job("stubborn", "* * * * *", "trap '' TERM; sleep 30");
    stubborn.timeout = Some(Duration::from_millis(400));
    let mut jobs = Jobs::new([&stubborn], config(dir.path()));
    let mut runner = HostRunner::default();
    let wall = Wall::starting_at("2027-01-01T00:00:59.9Z");
    let began = Instant::now();
    drive(
        &mut jobs,
        &mut runner,
        &wall,
        Duration::from_secs(10),
        |_, _| !history(dir.path(), "stubborn").is_empty(),
    );
    let took = began.elapsed();
    let signals: Vec<Signal> = runner.signals.iter().map(|(_, s)| *s).collect();
    assert_eq!(signals, [Signal::SIGTERM, Signal::SIGKILL]);
    // 100 ms to the fire, 400 ms timeout, 300 ms grace.
    assert!(
        took >= Duration::from_millis(800) && took < Duration::from_secs(3),
        "{took:?}"
    );
    let line = &history(dir.path(), "stubborn")[0];
    assert!(line.contains("\"timed_out\":true"), "{line}");
    assert!(line.contains("\"signal\":9"), "{line}");
}

#[test]
fn overlap_skip_with_a_real_long_run_then_stop_at_shutdown() {
    let dir = tempfile::tempdir().unwrap();
    let long = job("long", "* * * * *", "sleep 30");
    let mut jobs = Jobs::new([&long], config(dir.path()));
    let mut runner = HostRunner::default();
    // Two fires 60 s apart in wall time, 1 s apart in real time: a clock
    // step forward of 59 s between them is "on time" for the second.
    let wall = Wall::starting_at("2027-01-01T00:00:59.8Z");
    drive(
        &mut jobs,
        &mut runner,
        &wall,
        Duration::from_secs(3),
        |_, r| !r.starts.is_empty(),
    );
    let shifted = Wall {
        start: wall
            .start
            .checked_add(SignedDuration::from_secs(60))
            .unwrap(),
        mono: wall.mono,
    };
    drive(
        &mut jobs,
        &mut runner,
        &shifted,
        Duration::from_millis(500),
        |_, _| false,
    );
    assert_eq!(runner.starts.len(), 1, "the second fire was skipped");
    assert!(jobs.is_running("long"));
    let (now, mono) = shifted.now();
    jobs.begin_stop(now, mono, &mut runner);
    drive(
        &mut jobs,
        &mut runner,
        &shifted,
        Duration::from_secs(5),
        |j, _| j.stop_finished(),
    );
    assert!(jobs.stop_finished());
    assert_eq!(
        runner.signals.len(),
        1,
        "sleep ends on TERM: {:?}",
        runner.signals
    );
    let line = &history(dir.path(), "long")[0];
    assert!(
        line.contains("\"signal\":15") && line.contains("\"timed_out\":false"),
        "{line}"
    );
}

#[test]
fn missed_run_once_catches_up_once_at_boot_and_reboot_runs_once() {
    let dir = tempfile::tempdir().unwrap();
    let mut nightly = job("nightly", "30 2 * * *", "echo caught up");
    nightly.missed = Missed::RunOnce;
    let at_boot = job("at-boot", "@reboot", "echo booted");
    cairn_supervisor::jobs::store::JobStore::new(dir.path(), "nightly")
        .set_last("2026-12-25T02:30:00Z".parse().unwrap())
        .unwrap();
    let mut jobs = Jobs::new([&nightly, &at_boot], config(dir.path()));
    let mut runner = HostRunner::default();
    let wall = Wall::starting_at("2027-01-01T12:00:00Z");
    drive(
        &mut jobs,
        &mut runner,
        &wall,
        Duration::from_secs(5),
        |j, r| r.starts.len() == 2 && !j.is_running("nightly") && !j.is_running("at-boot"),
    );
    let mut kinds: Vec<(String, Reason, Option<Timestamp>)> = runner
        .starts
        .iter()
        .map(|(n, r, at, _)| (n.clone(), *r, *at))
        .collect();
    kinds.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(
        kinds,
        [
            ("at-boot".into(), Reason::Reboot, None),
            (
                "nightly".into(),
                Reason::CatchUp,
                Some("2027-01-01T02:30:00Z".parse().unwrap())
            ),
        ]
    );
    // A restart of the runtime within the same boot runs neither again.
    let mut again = Jobs::new([&nightly, &at_boot], config(dir.path()));
    let mut runner2 = HostRunner::default();
    drive(
        &mut again,
        &mut runner2,
        &wall,
        Duration::from_secs(1),
        |_, _| false,
    );
    assert!(runner2.starts.is_empty());
    assert_eq!(history(dir.path(), "nightly").len(), 1);
    assert_eq!(history(dir.path(), "at-boot").len(), 1);
}

/// 100 fires of a real job each start exactly once, for their own instant,
/// never early (each fire is reached by stepping the wall clock to 50 ms
/// before it). Prints the lateness, from the scheduled instant to the
/// process being started, as median and max: the figure docs/benchmarks.md
/// reports (run with `--nocapture`); it is not asserted, as timing belongs
/// to benchmarks, not tests.
#[test]
fn each_of_100_fires_starts_once_never_early() {
    let dir = tempfile::tempdir().unwrap();
    let quick = job("quick", "* * * * *", "exit 0");
    let mut jobs = Jobs::new([&quick], config(dir.path()));
    let mut runner = HostRunner::default();
    let base: Timestamp = "2027-01-01T00:01:00Z".parse().unwrap();
    let mut lateness = Vec::new();
    for i in 0..100i64 {
        let fire = base.checked_add(SignedDuration::from_mins(i)).unwrap();
        let wall = Wall {
            start: fire.checked_sub(SignedDuration::from_millis(50)).unwrap(),
            mono: Instant::now(),
        };
        let expected = wall.mono + Duration::from_millis(50);
        let count = runner.starts.len();
        drive(
            &mut jobs,
            &mut runner,
            &wall,
            Duration::from_secs(5),
            |j, r| r.starts.len() > count && !j.is_running("quick"),
        );
        assert_eq!(runner.starts.len(), count + 1, "fire {i}");
        let (_, _, scheduled, started) = runner.starts[count];
        assert_eq!(scheduled, Some(fire));
        assert!(started >= expected, "fire {i} started early");
        lateness.push(started - expected);
    }
    lateness.sort();
    let median = lateness[lateness.len() / 2];
    let max = lateness[lateness.len() - 1];
    eprintln!("job lateness over 100 fires: median {median:?}, max {max:?}");
}
