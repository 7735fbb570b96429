//! Running the manifest's `[jobs.NAME]`: when each job runs, and what
//! happens around a run.
//!
//! When a job fires is decided by the pure `cairn-schedule` crate
//! ([`on_wake`], [`on_fire`], [`reboot_due`], [`stable_delay`]); this module
//! applies those decisions to a real clock, real processes and the data
//! partition. It does not start processes itself: a [`Runner`] does (in
//! PID 1, the supervisor, which starts a run exactly as it starts an app;
//! in tests, a closure around `/bin/sh`). The supervisor's loop drives it
//! with four calls: [`Jobs::tick`] when a deadline passes, [`Jobs::on_exit`]
//! when a child ends, [`Jobs::next_deadline`] to know how long to sleep, and
//! [`Jobs::begin_stop`] at shutdown. The semantics are stated in
//! `docs/scheduling.md`; in short:
//!
//! - calendar fires wait for a plausible clock (see [`crate::clock`]);
//! - every wake-up (a fire is due, the clock stepped, the clock became
//!   plausible) asks [`on_wake`] once per job, which never runs more than
//!   one instant and never one at or before the persisted last instant;
//! - that instant is persisted (fsync, atomic rename) *before* the run
//!   starts; if it cannot be persisted, the run does not start;
//! - a late (missed) run waits a stable per-job delay and catch-ups start
//!   at least [`CATCHUP_GAP`] apart, so a boot after downtime is no storm;
//! - `@reboot` runs once per boot ID;
//! - `overlap` and `timeout` are applied per run; every run ends up in the
//!   job's bounded history.

pub mod history;
pub mod launch;
mod runs;
pub mod store;

use std::io;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use cairn_manifest::Job;
use cairn_schedule::jiff::tz::TimeZone;
use cairn_schedule::jiff::{SignedDuration, Timestamp};
use cairn_schedule::{on_wake, reboot_due, stable_delay, Clock, RunState, Schedule};
use nix::sys::signal::Signal;

pub use self::history::{Reason, HISTORY_LIMIT};
use self::runs::Run;
use self::store::JobStore;

/// Where each job's state lives on the data partition.
pub const STATE_DIR: &str = cairn_layout::data::JOBS_PATH;
/// The kernel's ID of this boot: `@reboot` runs once per value.
pub const BOOT_ID_PATH: &str = "/proc/sys/kernel/random/boot_id";
/// Catch-up runs start within this long after the decision (each job at its
/// own stable delay inside it).
pub const CATCHUP_SPREAD: Duration = Duration::from_secs(10);
/// Two catch-up runs never start closer together than this.
pub const CATCHUP_GAP: Duration = Duration::from_secs(1);
/// How long a run gets after TERM (on timeout or shutdown) before KILL.
pub const KILL_GRACE: Duration = Duration::from_secs(10);
/// A wall clock that moved this much more or less than the monotonic clock
/// between two ticks was stepped (or the machine was suspended): every job
/// is re-anchored.
pub const STEP_THRESHOLD: SignedDuration = SignedDuration::from_secs(2);

/// Starts and signals job runs. In PID 1 the supervisor implements it; a
/// test implements it with plain child processes.
pub trait Runner {
    /// Starts one run of `job`; returns its pid (the process group to
    /// signal).
    fn start(&mut self, job: &Job, reason: Reason, scheduled: Option<Timestamp>)
        -> io::Result<i32>;
    /// Sends `signal` to run `pid`.
    fn signal(&mut self, pid: i32, signal: Signal);
}

/// Where the runtime keeps its state and how it paces itself.
#[derive(Debug, Clone)]
pub struct JobsConfig {
    /// `<state_dir>/<job>/` holds `last`, `boot_id`, `history.jsonl`.
    pub state_dir: PathBuf,
    /// This boot's ID (`@reboot` runs once per value).
    pub boot_id: String,
    /// No calendar fire while the clock reads earlier than this (unless
    /// [`Jobs::mark_clock_synced`] was called).
    pub clock_floor: Timestamp,
    pub catchup_spread: Duration,
    pub catchup_gap: Duration,
    pub kill_grace: Duration,
    pub history_limit: usize,
}

impl JobsConfig {
    /// As PID 1 runs jobs: state on the data partition, this boot's ID, and
    /// `clock_floor` (the image's build time, or the release's floor).
    pub fn pid1(clock_floor: Timestamp) -> JobsConfig {
        let boot_id = std::fs::read_to_string(BOOT_ID_PATH)
            .map(|id| id.trim().to_string())
            .unwrap_or_default();
        JobsConfig {
            state_dir: PathBuf::from(STATE_DIR),
            boot_id,
            clock_floor,
            catchup_spread: CATCHUP_SPREAD,
            catchup_gap: CATCHUP_GAP,
            kill_grace: KILL_GRACE,
            history_limit: HISTORY_LIMIT,
        }
    }

    /// As `cairn dev` runs jobs on a developer's machine: state under
    /// `state_dir`, a fresh "boot" per run (so `@reboot` jobs run once per
    /// `cairn dev`), and the host's clock trusted as it is.
    pub fn dev(state_dir: PathBuf) -> JobsConfig {
        let boot_id = std::fs::read_to_string("/proc/sys/kernel/random/uuid")
            .map(|id| id.trim().to_string())
            .unwrap_or_else(|_| format!("dev-{}", std::process::id()));
        JobsConfig {
            state_dir,
            boot_id,
            clock_floor: Timestamp::UNIX_EPOCH,
            catchup_spread: CATCHUP_SPREAD,
            catchup_gap: CATCHUP_GAP,
            kill_grace: KILL_GRACE,
            history_limit: HISTORY_LIMIT,
        }
    }
}

/// One job and what the runtime knows about it.
#[derive(Debug)]
struct JobState {
    job: Job,
    schedule: Schedule,
    zone: TimeZone,
    store: JobStore,
    /// The last scheduled instant handled (as persisted).
    last: Option<Timestamp>,
    /// `last` is only where this runtime started looking (nothing was
    /// persisted yet), so a backward clock step may move it back.
    baseline_only: bool,
    /// The next fire, as of the last wake-up.
    next: Option<Timestamp>,
    /// Ask `on_wake` at the next tick whatever `next` says.
    wake_now: bool,
    overlap: RunState,
    runs: Vec<Run>,
    /// `overlap = "queue"`: the run waiting for the running one.
    queued: Option<(Reason, Option<Timestamp>)>,
    /// A missed run waiting for its spread-out start.
    catchup: Option<(Instant, Timestamp)>,
}

/// The job runtime.
#[derive(Debug)]
pub struct Jobs {
    config: JobsConfig,
    jobs: Vec<JobState>,
    plausible: bool,
    /// Wall and monotonic time at the previous tick, to notice clock steps.
    anchor: Option<(Timestamp, Instant)>,
    /// `@reboot` jobs were looked at in this boot.
    booted: bool,
    stopping: bool,
    last_catchup: Option<Instant>,
    /// The implausible clock was logged.
    warned_clock: bool,
}

fn to_signed(d: Duration) -> SignedDuration {
    SignedDuration::try_from(d).unwrap_or(SignedDuration::MAX)
}

impl Jobs {
    /// The runtime for `jobs` (the manifest's, zones already resolved). A
    /// job whose schedule or zone this build cannot use is logged and left
    /// out (the manifest check makes that impossible for a built image).
    pub fn new<'a>(jobs: impl IntoIterator<Item = &'a Job>, config: JobsConfig) -> Jobs {
        let mut states = Vec::new();
        for job in jobs {
            let schedule = match Schedule::parse(&job.schedule) {
                Ok(s) => s,
                Err(err) => {
                    tracing::error!("job {}: schedule `{}`: {err}", job.name, job.schedule);
                    continue;
                }
            };
            let zone = match cairn_schedule::zone(&job.timezone) {
                Ok(zone) => zone,
                Err(err) => {
                    tracing::error!("job {}: {err}", job.name);
                    continue;
                }
            };
            let store = JobStore::new(&config.state_dir, &job.name);
            states.push(JobState {
                job: job.clone(),
                last: store.last(),
                schedule,
                zone,
                store,
                next: None,
                baseline_only: false,
                wake_now: true,
                overlap: RunState::default(),
                runs: Vec::new(),
                queued: None,
                catchup: None,
            });
        }
        Jobs {
            config,
            jobs: states,
            plausible: false,
            anchor: None,
            booted: false,
            stopping: false,
            last_catchup: None,
            warned_clock: false,
        }
    }

    /// True when there are no jobs at all.
    pub fn is_empty(&self) -> bool {
        self.jobs.is_empty()
    }

    /// The clock was set from the network: calendar fires may start even if
    /// it reads earlier than the floor.
    pub fn mark_clock_synced(&mut self) {
        if !self.plausible {
            tracing::info!("clock set from the network; calendar jobs may run");
        }
        self.plausible = true;
    }

    /// True once calendar fires may start.
    pub fn clock_plausible(&self) -> bool {
        self.plausible
    }

    /// The next fire of job `name` as of the last wake-up.
    pub fn next_fire(&self, name: &str) -> Option<Timestamp> {
        self.jobs.iter().find(|s| s.job.name == name)?.next
    }

    /// Does what is due at wall time `now` (monotonic `mono`): `@reboot`
    /// runs at the first tick, calendar decisions once the clock is
    /// plausible, catch-ups, timeouts.
    pub fn tick(&mut self, now: Timestamp, mono: Instant, runner: &mut dyn Runner) {
        if self.stopping {
            self.advance_signals(now, mono, runner);
            return;
        }
        if self.clock_stepped(now, mono) {
            tracing::info!("wall clock stepped (now {now}); re-anchoring job schedules");
            for state in &mut self.jobs {
                state.wake_now = true;
            }
        }
        if !self.booted {
            self.booted = true;
            self.run_reboot_jobs(now, mono, runner);
        }
        if !self.plausible && now >= self.config.clock_floor {
            self.plausible = true;
        } else if !self.plausible && !self.warned_clock {
            self.warned_clock = true;
            if self.jobs.iter().any(|s| !s.schedule.is_reboot()) {
                tracing::warn!(
                    "clock reads {now}, before {}: calendar jobs wait for a plausible clock",
                    self.config.clock_floor
                );
            }
        }
        if self.plausible {
            for n in 0..self.jobs.len() {
                let Some(state) = self.jobs.get(n) else {
                    continue;
                };
                let due = state.wake_now || state.next.is_some_and(|next| next <= now);
                if due && !state.schedule.is_reboot() {
                    self.wake(n, now, mono, runner);
                }
            }
        }
        self.start_catchup(now, mono, runner);
        self.advance_signals(now, mono, runner);
    }

    /// Compares how far the wall clock and the monotonic clock moved since
    /// the previous tick.
    fn clock_stepped(&mut self, now: Timestamp, mono: Instant) -> bool {
        let stepped = self.anchor.is_some_and(|(wall, then)| {
            let moved = now.duration_since(wall);
            let elapsed = to_signed(mono.saturating_duration_since(then));
            (moved - elapsed).abs() > STEP_THRESHOLD
        });
        self.anchor = Some((now, mono));
        stepped
    }

    fn run_reboot_jobs(&mut self, now: Timestamp, mono: Instant, runner: &mut dyn Runner) {
        for n in 0..self.jobs.len() {
            let Some(state) = self.jobs.get(n) else {
                continue;
            };
            if !state.schedule.is_reboot() {
                continue;
            }
            let boot_id = self.config.boot_id.clone();
            if !reboot_due(state.store.boot_id().as_deref(), &boot_id) {
                tracing::info!("job {}: already ran in this boot", state.job.name);
                continue;
            }
            if let Err(err) = state.store.set_boot_id(&boot_id) {
                tracing::error!(
                    "job {}: cannot record this boot ({err}); not running it",
                    state.job.name
                );
                continue;
            }
            self.fire(n, Reason::Reboot, None, now, mono, runner);
        }
    }

    /// One `on_wake` decision for job `n`.
    fn wake(&mut self, n: usize, now: Timestamp, mono: Instant, runner: &mut dyn Runner) {
        let spread = self.config.catchup_spread;
        let Some(state) = self.jobs.get_mut(n) else {
            return;
        };
        let missed = match state.job.missed {
            cairn_manifest::Missed::Skip => cairn_schedule::Missed::Skip,
            cairn_manifest::Missed::RunOnce => cairn_schedule::Missed::RunOnce,
        };
        // A job with no history has missed nothing: what it has "handled"
        // starts now (in memory only; a restart starts it again).
        if state.last.is_none() || (state.baseline_only && state.last > Some(now)) {
            state.last = Some(now);
            state.baseline_only = true;
        }
        let w = on_wake(&state.schedule, &state.zone, state.last, now, missed);
        state.wake_now = false;
        state.next = w.next;
        let name = state.job.name.clone();
        match w.clock {
            Clock::Late { by } => tracing::info!(
                "job {name}: {} scheduled run(s) missed, the latest {by:#} ago; {}",
                w.passed_over + u32::from(w.run.is_some()),
                if w.run.is_some() {
                    "running it once"
                } else {
                    "not catching up (missed = \"skip\")"
                }
            ),
            Clock::Behind { by } => tracing::info!(
                "job {name}: the clock reads {by:#} before the last handled run; nothing up to it runs again"
            ),
            Clock::Normal if w.passed_over > 0 => tracing::info!(
                "job {name}: {} scheduled run(s) passed over, running the latest",
                w.passed_over
            ),
            Clock::Normal => {}
        }
        if let Some(at) = w.persist {
            state.last = Some(at);
            state.baseline_only = false;
            if let Err(err) = state.store.set_last(at) {
                tracing::error!(
                    "job {name}: cannot record the run for {at} ({err}); not running it"
                );
                return;
            }
        }
        let Some(at) = w.run else { return };
        if matches!(w.clock, Clock::Late { .. }) {
            let delay = stable_delay(&name, spread);
            tracing::info!(
                "job {name}: catch-up run for {at} starts in {} ms",
                delay.as_millis()
            );
            state.catchup = Some((mono + delay, at));
        } else {
            self.fire(n, Reason::Schedule, Some(at), now, mono, runner);
        }
    }

    /// Starts the first catch-up that is due, if the previous one started at
    /// least the gap ago.
    fn start_catchup(&mut self, now: Timestamp, mono: Instant, runner: &mut dyn Runner) {
        if self
            .last_catchup
            .is_some_and(|at| mono < at + self.config.catchup_gap)
        {
            return;
        }
        let due = self
            .jobs
            .iter()
            .enumerate()
            .filter_map(|(n, s)| s.catchup.map(|(when, _)| (when, n)))
            .filter(|(when, _)| *when <= mono)
            .min();
        if let Some((_, n)) = due {
            if let Some((_, at)) = self.jobs.get_mut(n).and_then(|s| s.catchup.take()) {
                self.last_catchup = Some(mono);
                self.fire(n, Reason::CatchUp, Some(at), now, mono, runner);
            }
        }
    }

    /// The earliest moment something is due (never before `mono`).
    pub fn next_deadline(&self, now: Timestamp, mono: Instant) -> Option<Instant> {
        let at = |wall: Timestamp| {
            let ahead = Duration::try_from(wall.duration_since(now)).unwrap_or(Duration::ZERO);
            mono + ahead
        };
        let mut deadlines: Vec<Instant> = Vec::new();
        if !self.stopping {
            if !self.booted {
                deadlines.push(mono);
            }
            let calendar = self.jobs.iter().filter(|s| !s.schedule.is_reboot());
            for state in calendar {
                if !self.plausible {
                    // The clock is looked at again each second.
                    deadlines.push(mono + Duration::from_secs(1));
                } else if state.wake_now {
                    deadlines.push(mono);
                } else if let Some(next) = state.next {
                    deadlines.push(at(next));
                }
            }
            let gap_end = self
                .last_catchup
                .map_or(mono, |t| (t + self.config.catchup_gap).max(mono));
            deadlines.extend(
                self.jobs
                    .iter()
                    .filter_map(|s| s.catchup.map(|(when, _)| when.max(gap_end))),
            );
        }
        deadlines.extend(
            self.jobs
                .iter()
                .flat_map(|s| s.runs.iter().filter_map(Run::deadline)),
        );
        deadlines.into_iter().min().map(|d| d.max(mono))
    }
}

#[cfg(test)]
mod tests;
