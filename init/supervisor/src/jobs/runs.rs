//! Runs of a job: starting them under the `overlap` policy, ending them
//! (history, the queued run), and the TERM-then-KILL steps of `timeout` and
//! shutdown.

use std::time::Instant;

use cairn_schedule::jiff::Timestamp;
use cairn_schedule::{on_fire, OnFire, Overlap};
use nix::sys::signal::Signal;

use super::history::{self, Entry, Reason};
use super::launch::log_location;
use super::{Jobs, Runner};
use cairn_sys::process::ExitStatus;

/// Where a run is in being stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stage {
    Running,
    /// TERM sent; KILL at the deadline.
    Terminated,
    /// KILL sent; forgotten at the deadline if it still has not ended.
    Killed,
}

/// One started run.
#[derive(Debug, Clone)]
pub(super) struct Run {
    pid: i32,
    reason: Reason,
    scheduled: Option<Timestamp>,
    start: Timestamp,
    /// The timeout, or the end of the current grace period.
    deadline: Option<Instant>,
    stage: Stage,
    timed_out: bool,
}

impl Run {
    pub(super) fn deadline(&self) -> Option<Instant> {
        self.deadline
    }
}

fn describe(reason: Reason, scheduled: Option<Timestamp>) -> String {
    match scheduled {
        Some(at) => format!("{} run for {at}", reason.as_str()),
        None => format!("{} run", reason.as_str()),
    }
}

impl Jobs {
    /// A fire of job `n`: start, queue or skip it per its `overlap`.
    pub(super) fn fire(
        &mut self,
        n: usize,
        reason: Reason,
        scheduled: Option<Timestamp>,
        now: Timestamp,
        mono: Instant,
        runner: &mut dyn Runner,
    ) {
        let Some(state) = self.jobs.get_mut(n) else {
            return;
        };
        let policy = match state.job.overlap {
            cairn_manifest::Overlap::Skip => Overlap::Skip,
            cairn_manifest::Overlap::Queue => Overlap::Queue,
            cairn_manifest::Overlap::Allow => Overlap::Allow,
        };
        let (decision, after) = on_fire(policy, state.overlap);
        state.overlap = after;
        let name = &state.job.name;
        match decision {
            OnFire::Start => self.start_run(n, reason, scheduled, now, mono, runner),
            OnFire::Queue => {
                tracing::info!(
                    "job {name}: {} waits for the running one (overlap = \"queue\")",
                    describe(reason, scheduled)
                );
                state.queued = Some((reason, scheduled));
            }
            OnFire::Skip { log: true } => tracing::info!(
                "job {name}: {} skipped, the previous run is still going (overlap = \"{}\"); further skips during this run are not logged",
                describe(reason, scheduled),
                if policy == Overlap::Queue { "queue\", one already waiting" } else { "skip" }
            ),
            OnFire::Skip { log: false } => {}
        }
    }

    fn start_run(
        &mut self,
        n: usize,
        reason: Reason,
        scheduled: Option<Timestamp>,
        now: Timestamp,
        mono: Instant,
        runner: &mut dyn Runner,
    ) {
        let limit = self.config.history_limit;
        let Some(state) = self.jobs.get_mut(n) else {
            return;
        };
        let name = state.job.name.clone();
        match runner.start(&state.job, reason, scheduled) {
            Ok(pid) => {
                let late = scheduled.map_or(0, |at| now.duration_since(at).as_millis());
                tracing::info!(
                    "job {name} started (pid {pid}, {}, {late} ms after its time)",
                    describe(reason, scheduled)
                );
                state.runs.push(Run {
                    pid,
                    reason,
                    scheduled,
                    start: now,
                    deadline: state.job.timeout.map(|t| mono + t),
                    stage: Stage::Running,
                    timed_out: false,
                });
            }
            Err(err) => {
                tracing::error!("job {name} could not start: {err}");
                state.overlap.running = !state.runs.is_empty();
                let entry = Entry {
                    job: name.clone(),
                    reason,
                    scheduled,
                    start: now,
                    end: now,
                    status: None,
                    start_error: Some(err.to_string()),
                    timed_out: false,
                    log: log_location(&name),
                };
                if let Err(err) = history::append(state.store.dir(), &entry, limit) {
                    tracing::warn!("job {name}: history not written: {err}");
                }
            }
        }
    }

    /// Handles the end of `pid`; false when it is not a job run.
    pub fn on_exit(
        &mut self,
        pid: i32,
        status: ExitStatus,
        now: Timestamp,
        mono: Instant,
        runner: &mut dyn Runner,
    ) -> bool {
        let found = self
            .jobs
            .iter()
            .enumerate()
            .find_map(|(n, s)| s.runs.iter().position(|r| r.pid == pid).map(|i| (n, i)));
        let Some((n, i)) = found else {
            return false;
        };
        let limit = self.config.history_limit;
        let Some(state) = self.jobs.get_mut(n) else {
            return false;
        };
        let run = state.runs.remove(i);
        let name = state.job.name.clone();
        let took = now.duration_since(run.start);
        tracing::info!(
            "job {name} exited ({status}{}) after {} ms",
            if run.timed_out { ", timed out" } else { "" },
            took.as_millis()
        );
        let entry = Entry {
            job: name.clone(),
            reason: run.reason,
            scheduled: run.scheduled,
            start: run.start,
            end: now,
            status: Some(status),
            start_error: None,
            timed_out: run.timed_out,
            log: log_location(&name),
        };
        if let Err(err) = history::append(state.store.dir(), &entry, limit) {
            tracing::warn!("job {name}: history not written: {err}");
        }
        if state.runs.is_empty() {
            state.overlap.running = false;
            state.overlap.skipped_this_run = false;
            let queued = state.queued.take();
            state.overlap.queued = false;
            if let Some((_, scheduled)) = queued.filter(|_| !self.stopping) {
                self.fire(n, Reason::Queued, scheduled, now, mono, runner);
            }
        }
        true
    }

    /// Timeouts and the grace periods after TERM and KILL.
    pub(super) fn advance_signals(
        &mut self,
        now: Timestamp,
        mono: Instant,
        runner: &mut dyn Runner,
    ) {
        let grace = self.config.kill_grace;
        let stopping = self.stopping;
        for state in &mut self.jobs {
            let name = &state.job.name;
            let timeout = state.job.timeout;
            state.runs.retain_mut(|run| {
                if run.deadline.is_none_or(|d| d > mono) {
                    return true;
                }
                match run.stage {
                    Stage::Running => {
                        let limit = timeout.map_or(0, |t| t.as_millis());
                        tracing::warn!(
                            "job {name}: run (pid {}) exceeded its timeout of {limit} ms after {} ms; sending TERM",
                            run.pid,
                            now.duration_since(run.start).as_millis()
                        );
                        run.timed_out = !stopping;
                        runner.signal(run.pid, Signal::SIGTERM);
                        run.stage = Stage::Terminated;
                        run.deadline = Some(mono + grace);
                        true
                    }
                    Stage::Terminated => {
                        tracing::warn!(
                            "job {name}: run (pid {}) still going {} ms after TERM; sending KILL",
                            run.pid,
                            grace.as_millis()
                        );
                        runner.signal(run.pid, Signal::SIGKILL);
                        run.stage = Stage::Killed;
                        run.deadline = Some(mono + grace);
                        true
                    }
                    Stage::Killed => {
                        tracing::error!(
                            "job {name}: run (pid {}) survived KILL; giving up on it",
                            run.pid
                        );
                        false
                    }
                }
            });
            if state.runs.is_empty() {
                state.overlap.running = false;
            }
        }
    }

    /// Shutdown: no run starts any more; running ones get TERM, then KILL
    /// after the grace period.
    pub fn begin_stop(&mut self, now: Timestamp, mono: Instant, runner: &mut dyn Runner) {
        if self.stopping {
            return;
        }
        self.stopping = true;
        let grace = self.config.kill_grace;
        let mut count = 0;
        for state in &mut self.jobs {
            state.queued = None;
            state.catchup = None;
            for run in &mut state.runs {
                if run.stage == Stage::Running {
                    runner.signal(run.pid, Signal::SIGTERM);
                    run.stage = Stage::Terminated;
                    run.deadline = Some(mono + grace);
                    count += 1;
                }
            }
        }
        if count > 0 {
            tracing::info!(
                "stopping {count} job run(s), {} ms before KILL",
                grace.as_millis()
            );
        }
        self.advance_signals(now, mono, runner);
    }

    /// True when no run is left (after [`Jobs::begin_stop`]).
    pub fn stop_finished(&self) -> bool {
        self.jobs.iter().all(|s| s.runs.is_empty())
    }

    /// The pids of every running job run.
    pub fn running_pids(&self) -> Vec<i32> {
        self.jobs
            .iter()
            .flat_map(|s| s.runs.iter().map(|r| r.pid))
            .collect()
    }

    /// True while a run of job `name` is going.
    pub fn is_running(&self, name: &str) -> bool {
        self.jobs
            .iter()
            .any(|s| s.job.name == name && !s.runs.is_empty())
    }
}
