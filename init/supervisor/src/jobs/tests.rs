//! The runtime against a fake clock and a fake runner: no processes, no root.

use std::path::Path;
use std::time::{Duration, Instant};

use cairn_manifest::{Job, Missed, Overlap};

use super::launch::tests::job;
use super::*;
use cairn_sys::process::ExitStatus;

#[derive(Debug, Default)]
struct Fake {
    next_pid: i32,
    started: Vec<(String, Reason, Option<Timestamp>)>,
    /// What `last` held on disk at each start.
    persisted_at_start: Vec<Option<String>>,
    signals: Vec<(i32, Signal)>,
    state_dir: PathBuf,
    fail: bool,
}

impl Runner for Fake {
    fn start(
        &mut self,
        job: &Job,
        reason: Reason,
        scheduled: Option<Timestamp>,
    ) -> io::Result<i32> {
        if self.fail {
            return Err(io::Error::new(io::ErrorKind::NotFound, "no such program"));
        }
        let last = std::fs::read_to_string(self.state_dir.join(&job.name).join("last")).ok();
        self.persisted_at_start.push(last);
        self.started.push((job.name.clone(), reason, scheduled));
        self.next_pid += 1;
        Ok(1000 + self.next_pid)
    }

    fn signal(&mut self, pid: i32, signal: Signal) {
        self.signals.push((pid, signal));
    }
}

fn t(s: &str) -> Timestamp {
    s.parse().unwrap()
}

fn config(dir: &Path) -> JobsConfig {
    JobsConfig {
        state_dir: dir.to_path_buf(),
        boot_id: "boot-1".into(),
        clock_floor: t("2025-01-01T00:00:00Z"),
        catchup_spread: Duration::from_secs(10),
        catchup_gap: Duration::from_secs(1),
        kill_grace: Duration::from_secs(3),
        history_limit: 100,
    }
}

/// A wall clock and a monotonic clock that move together unless stepped.
struct Clocks {
    wall: Timestamp,
    mono: Instant,
}

impl Clocks {
    fn at(wall: &str) -> Clocks {
        Clocks {
            wall: t(wall),
            mono: Instant::now(),
        }
    }

    fn advance(&mut self, d: Duration) {
        self.wall = self.wall.checked_add(d).unwrap();
        self.mono += d;
    }

    fn tick(&self, jobs: &mut Jobs, fake: &mut Fake) {
        jobs.tick(self.wall, self.mono, fake);
    }
}

fn setup(jobs: &[Job], dir: &Path) -> (Jobs, Fake) {
    let fake = Fake {
        state_dir: dir.to_path_buf(),
        ..Fake::default()
    };
    (Jobs::new(jobs, config(dir)), fake)
}

fn history(dir: &Path, name: &str) -> Vec<String> {
    std::fs::read_to_string(dir.join(name).join("history.jsonl"))
        .unwrap_or_default()
        .lines()
        .map(str::to_string)
        .collect()
}

#[test]
fn a_fire_is_persisted_before_its_run_starts() {
    let dir = tempfile::tempdir().unwrap();
    let (mut jobs, mut fake) = setup(&[job("every", "* * * * *", &["/bin/true"])], dir.path());
    let mut c = Clocks::at("2027-01-01T00:00:30Z");
    c.tick(&mut jobs, &mut fake);
    assert!(fake.started.is_empty(), "a new job has missed nothing");
    let wait = jobs.next_deadline(c.wall, c.mono).unwrap() - c.mono;
    assert_eq!(wait, Duration::from_secs(30));
    c.advance(wait);
    c.tick(&mut jobs, &mut fake);
    assert_eq!(
        fake.started,
        [(
            "every".into(),
            Reason::Schedule,
            Some(t("2027-01-01T00:01:00Z"))
        )]
    );
    assert_eq!(
        fake.persisted_at_start,
        [Some("2027-01-01T00:01:00Z\n".to_string())]
    );
    // The run ends; its history line is written.
    c.advance(Duration::from_millis(1500));
    assert!(jobs.on_exit(1001, ExitStatus::Code(0), c.wall, c.mono, &mut fake));
    assert!(!jobs.on_exit(4242, ExitStatus::Code(0), c.wall, c.mono, &mut fake));
    let lines = history(dir.path(), "every");
    assert_eq!(lines.len(), 1);
    assert!(
        lines[0].contains("\"scheduled\":\"2027-01-01T00:01:00Z\""),
        "{}",
        lines[0]
    );
    assert!(
        lines[0].contains("\"end\":\"2027-01-01T00:01:01.5Z\""),
        "{}",
        lines[0]
    );
    assert!(lines[0].contains("\"code\":0"), "{}", lines[0]);
}

#[test]
fn a_crash_after_persisting_never_runs_the_instant_again() {
    let dir = tempfile::tempdir().unwrap();
    let mut every = job("every", "* * * * *", &["/bin/true"]);
    every.missed = Missed::RunOnce;
    let (mut jobs, mut fake) = setup(std::slice::from_ref(&every), dir.path());
    let mut c = Clocks::at("2027-01-01T00:00:59Z");
    c.tick(&mut jobs, &mut fake);
    c.advance(Duration::from_secs(1));
    c.tick(&mut jobs, &mut fake);
    assert_eq!(fake.started.len(), 1);
    // PID 1 dies here and comes back within the same minute.
    let (mut again, mut fake2) = setup(&[every], dir.path());
    c.advance(Duration::from_secs(5));
    c.tick(&mut again, &mut fake2);
    c.advance(Duration::from_secs(20));
    c.tick(&mut again, &mut fake2);
    assert!(fake2.started.is_empty(), "{:?}", fake2.started);
}

#[test]
fn overlap_skip_logs_once_and_runs_again_after_the_run_ends() {
    let dir = tempfile::tempdir().unwrap();
    let (mut jobs, mut fake) = setup(&[job("slow", "* * * * *", &["/bin/slow"])], dir.path());
    let mut c = Clocks::at("2027-01-01T00:00:00Z");
    c.tick(&mut jobs, &mut fake);
    for _ in 0..3 {
        c.advance(Duration::from_secs(60));
        c.tick(&mut jobs, &mut fake);
    }
    assert_eq!(fake.started.len(), 1, "two fires were skipped");
    assert!(jobs.on_exit(1001, ExitStatus::Code(0), c.wall, c.mono, &mut fake));
    assert!(!jobs.is_running("slow"));
    c.advance(Duration::from_secs(60));
    c.tick(&mut jobs, &mut fake);
    assert_eq!(fake.started.len(), 2);
    assert_eq!(fake.started[1].2, Some(t("2027-01-01T00:04:00Z")));
}

#[test]
fn overlap_queue_holds_one_and_starts_it_when_the_run_ends() {
    let dir = tempfile::tempdir().unwrap();
    let mut slow = job("slow", "* * * * *", &["/bin/slow"]);
    slow.overlap = Overlap::Queue;
    let (mut jobs, mut fake) = setup(&[slow], dir.path());
    let mut c = Clocks::at("2027-01-01T00:00:00Z");
    c.tick(&mut jobs, &mut fake);
    for _ in 0..3 {
        c.advance(Duration::from_secs(60));
        c.tick(&mut jobs, &mut fake);
    }
    assert_eq!(fake.started.len(), 1);
    jobs.on_exit(1001, ExitStatus::Code(0), c.wall, c.mono, &mut fake);
    assert_eq!(fake.started.len(), 2);
    assert_eq!(
        fake.started[1],
        (
            "slow".into(),
            Reason::Queued,
            Some(t("2027-01-01T00:02:00Z"))
        )
    );
    assert!(jobs.is_running("slow"));
    // Nothing more waits.
    jobs.on_exit(1002, ExitStatus::Code(0), c.wall, c.mono, &mut fake);
    assert_eq!(fake.started.len(), 2);
}

#[test]
fn overlap_allow_runs_side_by_side() {
    let dir = tempfile::tempdir().unwrap();
    let mut slow = job("slow", "* * * * *", &["/bin/slow"]);
    slow.overlap = Overlap::Allow;
    let (mut jobs, mut fake) = setup(&[slow], dir.path());
    let mut c = Clocks::at("2027-01-01T00:00:00Z");
    c.tick(&mut jobs, &mut fake);
    for _ in 0..3 {
        c.advance(Duration::from_secs(60));
        c.tick(&mut jobs, &mut fake);
    }
    assert_eq!(fake.started.len(), 3);
    assert_eq!(jobs.running_pids(), [1001, 1002, 1003]);
}

#[test]
fn timeout_sends_term_then_kill() {
    let dir = tempfile::tempdir().unwrap();
    let mut slow = job("slow", "* * * * *", &["/bin/slow"]);
    slow.timeout = Some(Duration::from_secs(5));
    let (mut jobs, mut fake) = setup(&[slow], dir.path());
    let mut c = Clocks::at("2027-01-01T00:00:59Z");
    c.tick(&mut jobs, &mut fake);
    c.advance(Duration::from_secs(1));
    c.tick(&mut jobs, &mut fake);
    assert_eq!(fake.started.len(), 1);
    let deadline = jobs.next_deadline(c.wall, c.mono).unwrap();
    assert_eq!(deadline - c.mono, Duration::from_secs(5));
    c.advance(Duration::from_secs(5));
    c.tick(&mut jobs, &mut fake);
    assert_eq!(fake.signals, [(1001, Signal::SIGTERM)]);
    c.advance(Duration::from_secs(3));
    c.tick(&mut jobs, &mut fake);
    assert_eq!(fake.signals[1], (1001, Signal::SIGKILL));
    jobs.on_exit(1001, ExitStatus::Signal(9), c.wall, c.mono, &mut fake);
    let lines = history(dir.path(), "slow");
    assert!(lines[0].contains("\"timed_out\":true"), "{}", lines[0]);
    assert!(lines[0].contains("\"signal\":9"), "{}", lines[0]);
}

fn persist_last(dir: &Path, name: &str, at: &str) {
    store::JobStore::new(dir, name).set_last(t(at)).unwrap();
}

#[test]
fn missed_run_once_fires_once_at_boot_spread_out_and_one_after_another() {
    let dir = tempfile::tempdir().unwrap();
    let mut a = job("alpha", "30 2 * * *", &["/bin/a"]);
    let mut b = job("bravo", "*/5 * * * *", &["/bin/b"]);
    let mut s = job("skipper", "30 2 * * *", &["/bin/s"]);
    a.missed = Missed::RunOnce;
    b.missed = Missed::RunOnce;
    s.missed = Missed::Skip;
    for name in ["alpha", "bravo", "skipper"] {
        persist_last(dir.path(), name, "2027-01-01T02:30:00Z");
    }
    let (mut jobs, mut fake) = setup(&[a, b, s], dir.path());
    let mut c = Clocks::at("2027-01-05T12:03:00Z");
    c.tick(&mut jobs, &mut fake);
    assert!(fake.started.is_empty(), "catch-ups wait their stable delay");
    // Walk through the spread, a tenth of a second at a time.
    let mut started_at = Vec::new();
    for step in 0..120 {
        c.advance(Duration::from_millis(100));
        let before = fake.started.len();
        c.tick(&mut jobs, &mut fake);
        if fake.started.len() > before {
            started_at.push(step);
        }
    }
    let names: Vec<(&str, Reason, Option<Timestamp>)> = fake
        .started
        .iter()
        .map(|(n, r, at)| (n.as_str(), *r, *at))
        .collect();
    assert_eq!(names.len(), 2, "{names:?}");
    assert!(names.contains(&("alpha", Reason::CatchUp, Some(t("2027-01-05T02:30:00Z")))));
    assert!(names.contains(&("bravo", Reason::CatchUp, Some(t("2027-01-05T12:00:00Z")))));
    assert!(started_at[1] - started_at[0] >= 10, "{started_at:?}");
    // Every job recorded the latest instant, run or not.
    for (name, at) in [
        ("alpha", "2027-01-05T02:30:00Z\n"),
        ("skipper", "2027-01-05T02:30:00Z\n"),
    ] {
        let text = std::fs::read_to_string(dir.path().join(name).join("last")).unwrap();
        assert_eq!(text, at);
    }
}

#[test]
fn reboot_runs_once_per_boot_id() {
    let dir = tempfile::tempdir().unwrap();
    let at_boot = job("init-db", "@reboot", &["/bin/init-db"]);
    let (mut jobs, mut fake) = setup(std::slice::from_ref(&at_boot), dir.path());
    // Before the clock is plausible, too: @reboot is not on the calendar.
    let c = Clocks::at("1970-01-01T00:00:10Z");
    c.tick(&mut jobs, &mut fake);
    c.tick(&mut jobs, &mut fake);
    assert_eq!(fake.started, [("init-db".into(), Reason::Reboot, None)]);
    let (mut restarted, mut fake2) = setup(std::slice::from_ref(&at_boot), dir.path());
    c.tick(&mut restarted, &mut fake2);
    assert!(fake2.started.is_empty());
    let mut next_boot = config(dir.path());
    next_boot.boot_id = "boot-2".into();
    let mut rebooted = Jobs::new([&at_boot], next_boot);
    c.tick(&mut rebooted, &mut fake2);
    assert_eq!(fake2.started.len(), 1);
}

#[test]
fn calendar_fires_wait_for_a_plausible_clock() {
    let dir = tempfile::tempdir().unwrap();
    let mut every = job("every", "* * * * *", &["/bin/e"]);
    every.missed = Missed::RunOnce;
    persist_last(dir.path(), "every", "2027-01-01T00:00:00Z");
    let (mut jobs, mut fake) = setup(&[every], dir.path());
    let mut c = Clocks::at("1970-01-01T00:00:00Z");
    for _ in 0..3 {
        c.tick(&mut jobs, &mut fake);
        c.advance(Duration::from_secs(60));
    }
    assert!(fake.started.is_empty());
    assert!(!jobs.clock_plausible());
    // The clock is behind the persisted instant: nothing to do once synced.
    jobs.mark_clock_synced();
    c.tick(&mut jobs, &mut fake);
    assert!(fake.started.is_empty());
    assert_eq!(jobs.next_fire("every"), Some(t("2027-01-01T00:01:00Z")));
}

#[test]
fn clock_steps_re_anchor_without_repeats_or_storms() {
    let dir = tempfile::tempdir().unwrap();
    let mut daily = job("daily", "0 3 * * *", &["/bin/d"]);
    daily.missed = Missed::RunOnce;
    let (mut jobs, mut fake) = setup(&[daily], dir.path());
    let mut c = Clocks::at("2027-01-01T02:59:59Z");
    c.tick(&mut jobs, &mut fake);
    c.advance(Duration::from_secs(1));
    c.tick(&mut jobs, &mut fake);
    assert_eq!(fake.started.len(), 1);
    jobs.on_exit(1001, ExitStatus::Code(0), c.wall, c.mono, &mut fake);
    // Backward by a day: 03:00 of 2027-01-01 comes again but does not run.
    c.wall = c.wall.checked_sub(SignedDuration::from_hours(24)).unwrap();
    c.tick(&mut jobs, &mut fake);
    c.advance(Duration::from_secs(3600 * 24));
    c.tick(&mut jobs, &mut fake);
    assert_eq!(fake.started.len(), 1, "{:?}", fake.started);
    // Forward by a week and five hours: one catch-up, not seven runs.
    c.wall = c
        .wall
        .checked_add(SignedDuration::from_hours(24 * 7 + 5))
        .unwrap();
    c.tick(&mut jobs, &mut fake);
    c.advance(Duration::from_secs(11));
    c.tick(&mut jobs, &mut fake);
    assert_eq!(fake.started.len(), 2);
    assert_eq!(fake.started[1].1, Reason::CatchUp);
    assert_eq!(fake.started[1].2, Some(t("2027-01-08T03:00:00Z")));
}

#[test]
fn shutdown_terms_then_kills_and_starts_nothing_more() {
    let dir = tempfile::tempdir().unwrap();
    let mut q = job("q", "* * * * *", &["/bin/q"]);
    q.overlap = Overlap::Queue;
    let (mut jobs, mut fake) = setup(&[q], dir.path());
    let mut c = Clocks::at("2027-01-01T00:00:00Z");
    c.tick(&mut jobs, &mut fake);
    c.advance(Duration::from_secs(60));
    c.tick(&mut jobs, &mut fake);
    c.advance(Duration::from_secs(60));
    c.tick(&mut jobs, &mut fake); // queued
    jobs.begin_stop(c.wall, c.mono, &mut fake);
    assert_eq!(fake.signals, [(1001, Signal::SIGTERM)]);
    assert!(!jobs.stop_finished());
    c.advance(Duration::from_secs(3));
    c.tick(&mut jobs, &mut fake);
    assert_eq!(fake.signals[1], (1001, Signal::SIGKILL));
    jobs.on_exit(1001, ExitStatus::Signal(9), c.wall, c.mono, &mut fake);
    assert!(jobs.stop_finished());
    c.advance(Duration::from_secs(600));
    c.tick(&mut jobs, &mut fake);
    assert_eq!(fake.started.len(), 1, "the queued run was dropped");
    assert!(jobs.next_deadline(c.wall, c.mono).is_none());
}

#[test]
fn a_run_that_cannot_start_is_in_the_history() {
    let dir = tempfile::tempdir().unwrap();
    let (mut jobs, mut fake) = setup(&[job("bad", "* * * * *", &["/bin/none"])], dir.path());
    fake.fail = true;
    let mut c = Clocks::at("2027-01-01T00:00:59Z");
    c.tick(&mut jobs, &mut fake);
    c.advance(Duration::from_secs(1));
    c.tick(&mut jobs, &mut fake);
    let lines = history(dir.path(), "bad");
    assert_eq!(lines.len(), 1);
    assert!(lines[0].contains("\"code\":127"), "{}", lines[0]);
    assert!(!jobs.is_running("bad"));
    // The next minute is tried again (skip does not hold on to a failure).
    fake.fail = false;
    c.advance(Duration::from_secs(60));
    c.tick(&mut jobs, &mut fake);
    assert_eq!(fake.started.len(), 1);
}

#[test]
fn jobs_in_their_own_zone() {
    let dir = tempfile::tempdir().unwrap();
    let mut berlin = job("berlin", "30 2 * * *", &["/bin/b"]);
    berlin.timezone = "Europe/Berlin".into();
    let mut bad = job("bad", "30 2 * * *", &["/bin/b"]);
    bad.timezone = "CEST".into();
    let (mut jobs, mut fake) = setup(&[berlin, bad], dir.path());
    let c = Clocks::at("2027-03-27T12:00:00Z");
    c.tick(&mut jobs, &mut fake);
    // 02:30 does not exist on 2027-03-28 in Berlin: 03:00 CEST = 01:00 UTC.
    assert_eq!(jobs.next_fire("berlin"), Some(t("2027-03-28T01:00:00Z")));
    assert_eq!(
        jobs.next_fire("bad"),
        None,
        "a bad zone is left out, loudly"
    );
}
