//! The supervisor's side of jobs: it owns the job runtime
//! ([`crate::jobs::Jobs`]) and starts each run exactly as it starts an app
//! instance (same sandbox, user, cgroup limits, port guard, rlimits, output
//! capture), from the job's tree under `/bank/jobs`.
//!
//! The loop calls in at four points: [`Supervisor::tick_jobs`] each turn
//! before it sleeps, [`Supervisor::on_job_exit`] for every reaped child,
//! [`Supervisor::job_deadline`] for how long it may sleep, and
//! [`Supervisor::begin_stop_jobs`] / [`Supervisor::jobs_stopped`] at
//! shutdown.

use std::collections::BTreeMap;
use std::io;
use std::sync::atomic::Ordering;
use std::time::Instant;

use cairn_manifest::Job;
use cairn_schedule::jiff::Timestamp;
use nix::sys::signal::Signal;

use super::limits::{self, Confinement};
use super::streams::Streams;
use super::{Processes, Supervisor, SupervisorConfig};
use crate::jobs::launch::{app_for, trees_root};
use crate::jobs::{Jobs, Reason, Runner};
use crate::sandbox::writable::WritableCopies;
use cairn_sys::process::ExitStatus;

/// The job runtime and what confines each running job run.
#[derive(Debug)]
pub struct JobRuntime {
    jobs: Jobs,
    confinements: BTreeMap<i32, Confined>,
}

/// A running job run's cgroup and port guard (None without cgroups), with
/// what it needs to say which limit ended it, and its writable copies.
#[derive(Debug)]
struct Confined {
    job: String,
    limits: cairn_manifest::Limits,
    confinement: Option<Confinement>,
    copies: Option<WritableCopies>,
}

impl JobRuntime {
    pub fn new(jobs: Jobs) -> JobRuntime {
        JobRuntime {
            jobs,
            confinements: BTreeMap::new(),
        }
    }
}

/// Starts job runs the way the supervisor starts app instances.
struct Launcher<'a> {
    config: &'a SupervisorConfig,
    streams: &'a mut Streams,
    processes: &'a mut dyn Processes,
    confinements: &'a mut BTreeMap<i32, Confined>,
}

impl Runner for Launcher<'_> {
    fn start(
        &mut self,
        job: &Job,
        _reason: Reason,
        scheduled: Option<Timestamp>,
    ) -> io::Result<i32> {
        let mut app = app_for(job, self.config.timings.kill_grace);
        // What the run is for; after the manifest's env so it cannot be
        // spoofed by it.
        app.env.insert("CAIRN_JOB".to_string(), job.name.clone());
        if let Some(at) = scheduled {
            app.env
                .insert("CAIRN_SCHEDULED".to_string(), at.to_string());
        }
        let mut config = self.config.clone();
        config.apps_root = trees_root(&config.apps_root);
        // A job's runs have a uid of their own, never an app's.
        config.sandbox.run_as = Some(cairn_manifest::job_uid(&job.name));
        let started = self.processes.start(&app, 0, &config)?;
        let pid = started.pid;
        let confined = Confined {
            job: job.name.clone(),
            limits: job.limits.clone(),
            confinement: started.confinement,
            copies: started.copies,
        };
        self.confinements.insert(pid, confined);
        for fd in [started.stdout, started.stderr].into_iter().flatten() {
            if let Err(err) = self.streams.add(&job.name, fd) {
                tracing::warn!("job {}: output not captured: {err}", job.name);
            }
        }
        Ok(pid)
    }

    fn signal(&mut self, pid: i32, signal: Signal) {
        self.processes.signal(pid, signal);
        if signal == Signal::SIGKILL {
            // Whatever the run forked off dies with it.
            if let Some(confinement) = self
                .confinements
                .get(&pid)
                .and_then(|c| c.confinement.as_ref())
            {
                confinement.kill_all();
            }
        }
    }
}

impl Supervisor {
    /// Hands the supervisor the jobs to run (none by default).
    pub fn set_jobs(&mut self, jobs: Jobs) {
        self.jobs = (!jobs.is_empty()).then(|| JobRuntime::new(jobs));
    }

    /// Starts the job runs that are due and applies timeouts.
    pub(super) fn tick_jobs(&mut self) {
        let Some(runtime) = self.jobs.as_mut() else {
            return;
        };
        if self
            .config
            .clock_synced
            .is_some_and(|synced| synced.load(Ordering::Relaxed))
        {
            runtime.jobs.mark_clock_synced();
        }
        if let Some((jobs, mut launcher)) = self.jobs_and_launcher() {
            jobs.tick(Timestamp::now(), Instant::now(), &mut launcher);
        }
    }

    /// The job runtime, and a launcher that starts runs with the
    /// supervisor's own means (its config, output streams, confinements).
    fn jobs_and_launcher(&mut self) -> Option<(&mut Jobs, Launcher<'_>)> {
        let runtime = self.jobs.as_mut()?;
        let launcher = Launcher {
            config: &self.config,
            streams: &mut self.streams,
            processes: self.processes.as_mut(),
            confinements: &mut runtime.confinements,
        };
        Some((&mut runtime.jobs, launcher))
    }

    /// Handles the end of `pid` if it is a job run (its history, its
    /// cgroup, a queued run); false otherwise.
    pub(super) fn on_job_exit(&mut self, pid: i32, status: ExitStatus) -> bool {
        let Some(runtime) = self.jobs.as_mut() else {
            return false;
        };
        if let Some(confined) = runtime.confinements.remove(&pid) {
            let events = confined.confinement.map(Confinement::release);
            if let Some(cause) = events.and_then(|e| limits::describe(e, &confined.limits)) {
                tracing::warn!("job {}: {cause}", confined.job);
            }
            // Removes them: the next run copies afresh from what is shipped.
            drop(confined.copies);
        }
        let Some((jobs, mut launcher)) = self.jobs_and_launcher() else {
            return false;
        };
        jobs.on_exit(pid, status, Timestamp::now(), Instant::now(), &mut launcher)
    }

    /// When the job runtime next needs a turn.
    pub(super) fn job_deadline(&self, now: Instant) -> Option<Instant> {
        let runtime = self.jobs.as_ref()?;
        runtime.jobs.next_deadline(Timestamp::now(), now)
    }

    /// Shutdown: no job run starts any more; running ones get TERM, then
    /// KILL after the grace period.
    pub(super) fn begin_stop_jobs(&mut self) {
        if let Some((jobs, mut launcher)) = self.jobs_and_launcher() {
            jobs.begin_stop(Timestamp::now(), Instant::now(), &mut launcher);
        }
    }

    /// True when no job run is left.
    pub fn jobs_stopped(&self) -> bool {
        self.jobs.as_ref().is_none_or(|r| r.jobs.stop_finished())
    }

    /// The pids of running job runs.
    pub fn job_pids(&self) -> Vec<i32> {
        self.jobs
            .as_ref()
            .map(|r| r.jobs.running_pids())
            .unwrap_or_default()
    }
}
