//! The supervisor's side of health: scheduling checks, taking their results
//! and NOTIFY_SOCKET messages, and restarting an instance that turned red.
//!
//! `http` and `tcp` checks go to the worker pool; `exec` checks are child
//! processes started through the same path as the app itself (its tree, its
//! uid, its cgroup), their output on the console as `[<app> check] `, killed (the whole group) when they outlive
//! the check's timeout, and reaped by the same loop as the apps. At most one
//! check per instance is under way at a time; the next one is due `interval`
//! after the last result.

use std::path::Path;
use std::time::Instant;

use cairn_manifest::{App, HealthCheck, Restart};
use nix::sys::signal::Signal;

use super::{CheckChild, Phase, Supervisor};
use crate::health::pool::Job;
use crate::health::probe::Probe;
use crate::health::{Light, Outcome};
use crate::notify::{self, Notice};
use cairn_sys::process::ExitStatus;

/// True when the app's check runs on the worker pool.
pub(super) fn needs_pool(app: &App) -> bool {
    matches!(
        app.health.as_ref().map(|h| &h.check),
        Some(HealthCheck::Http { .. } | HealthCheck::Tcp { .. })
    )
}

/// The network probe of one instance, or why there is none.
fn probe_for(app: &App, offset: u16, index: u32) -> Result<Probe, String> {
    let port = |name: &str| {
        app.port_for(name, offset, index)
            .and_then(|p| u16::try_from(p).ok())
            .ok_or_else(|| format!("no port {name}"))
    };
    match app.health.as_ref().map(|h| &h.check) {
        Some(HealthCheck::Http { path }) => {
            let first = app
                .ports
                .keys()
                .next()
                .ok_or_else(|| "no port to check".to_string())?;
            Ok(Probe::Http {
                port: port(first)?,
                path: path.clone(),
            })
        }
        Some(HealthCheck::Tcp { port: name }) => Ok(Probe::Tcp {
            port: port(name)?,
            name: name.clone(),
        }),
        _ => Err("not a network check".to_string()),
    }
}

// Indexing: `n` ranges over `0..self.instances.len()`, is a position in
// `instances`, or (a health result's tag) has been looked up with `get` in
// `apply_outcome` first; `inst.app` is the index `with_processes` gave the
// instance into `apps`. Neither vector changes length after `with_processes`
// (see `Supervisor`).
#[allow(clippy::indexing_slicing)]
impl Supervisor {
    /// Signals a whole process group, or the process if the group is gone.
    pub(super) fn send(&mut self, pid: i32, signal: Signal) {
        self.processes.signal(pid, signal);
    }

    /// Starts the checks that are due.
    pub(super) fn dispatch_checks(&mut self, now: Instant) {
        if self.stopping {
            return;
        }
        for n in 0..self.instances.len() {
            let inst = &self.instances[n];
            let due = matches!(inst.phase, Phase::Running { .. })
                && inst.next_check.is_some_and(|at| at <= now)
                && !inst.check_in_flight
                && inst.check_child.is_none();
            if !due {
                continue;
            }
            let app = &self.apps[inst.app];
            let Some(health) = &app.health else { continue };
            let run = inst.run;
            let timeout = health.timeout;
            if let HealthCheck::Exec { argv } = &health.check {
                let argv = argv.clone();
                self.start_exec_check(n, &argv, now);
                continue;
            }
            let job = probe_for(app, self.config.port_offset, inst.index).map(|probe| Job {
                tag: (n, run),
                probe,
                timeout,
            });
            let submitted = match (&job, &self.pool) {
                (Ok(job), Some(pool)) => pool.submit(job.clone()),
                _ => false,
            };
            if submitted {
                self.instances[n].check_in_flight = true;
                self.instances[n].next_check = None;
            } else {
                let why = match job {
                    Err(why) => why,
                    Ok(_) => "no health worker".to_string(),
                };
                self.apply_outcome(n, run, Err(why), now);
            }
        }
    }

    fn start_exec_check(&mut self, n: usize, argv: &[String], now: Instant) {
        let inst = &self.instances[n];
        let app = &self.apps[inst.app];
        let (run, timeout) = (inst.run, app.health.as_ref().map(|h| h.timeout));
        let mut checker = app.clone();
        checker.exec = app.expand_args(argv, self.config.port_offset, inst.index);
        let label = format!("{} check", inst.label);
        // A check runs in the instance's cgroup: it counts against the
        // instance's limits and binds no port the instance may not.
        let spawned = self.processes.start_check(
            &checker,
            inst.index,
            &self.config,
            inst.confinement.as_ref(),
        );
        match spawned {
            Ok(started) => {
                let pid = started.pid;
                // What a check prints is shown like an app's output.
                for fd in [started.stdout, started.stderr].into_iter().flatten() {
                    if let Err(err) = self.streams.add(&label, fd) {
                        tracing::debug!("{label}: output not captured: {err}");
                    }
                }
                let inst = &mut self.instances[n];
                inst.next_check = None;
                inst.check_child = Some(CheckChild {
                    pid,
                    run,
                    deadline: now + timeout.unwrap_or_default(),
                    killed: false,
                });
            }
            Err(err) => {
                let name = argv.first().map(String::as_str).unwrap_or_default();
                self.apply_outcome(n, run, Err(format!("exec {name}: {err}")), now);
            }
        }
    }

    /// Handles the end of an exec check; false when `pid` is not one.
    pub(super) fn on_check_exit(&mut self, pid: i32, status: ExitStatus, now: Instant) -> bool {
        let Some(n) = self
            .instances
            .iter()
            .position(|i| i.check_child.is_some_and(|c| c.pid == pid))
        else {
            return false;
        };
        let Some(child) = self.instances[n].check_child.take() else {
            return false;
        };
        if child.killed {
            return true;
        }
        let app = &self.apps[self.instances[n].app];
        let name = match app.health.as_ref().map(|h| &h.check) {
            Some(HealthCheck::Exec { argv }) => argv.first().cloned().unwrap_or_default(),
            _ => String::new(),
        };
        let outcome = if status.success() {
            Ok(format!("exec {name}: exit 0"))
        } else {
            Err(format!("exec {name}: {status}"))
        };
        self.apply_outcome(n, child.run, outcome, now);
        true
    }

    /// Takes the results the worker pool has delivered.
    pub(super) fn receive_results(&mut self, now: Instant) {
        let Some(pool) = &self.pool else { return };
        for done in pool.results() {
            let (n, run) = done.tag;
            if let Some(inst) = self.instances.get_mut(n) {
                if inst.run == run {
                    inst.check_in_flight = false;
                }
            }
            self.apply_outcome(n, run, done.outcome, now);
        }
    }

    /// Applies one check's outcome to run `run` of instance `n`.
    fn apply_outcome(&mut self, n: usize, run: u64, outcome: Outcome, now: Instant) {
        let interval = {
            let Some(inst) = self.instances.get(n) else {
                return;
            };
            if inst.run != run || !matches!(inst.phase, Phase::Running { .. }) {
                return;
            }
            match &self.apps[inst.app].health {
                Some(h) => h.interval,
                None => return,
            }
        };
        let inst = &mut self.instances[n];
        inst.next_check = Some(now + interval);
        let Some(tracker) = inst.health.as_mut() else {
            return;
        };
        let assessment = tracker.record(now, &outcome);
        if assessment.light == Light::Green {
            self.mark_ready(n, &assessment.reason);
        }
        self.set_light(n, assessment.light, &assessment.reason);
        if assessment.light == Light::Red {
            self.recycle(n, now);
        }
    }

    /// Stops a red instance so it is restarted, if its policy restarts it.
    fn recycle(&mut self, n: usize, now: Instant) {
        let app = &self.apps[self.instances[n].app];
        if app.restart == Restart::Never {
            return;
        }
        let stop_timeout = app.stop_timeout;
        if let Phase::Running { pid, since } = self.instances[n].phase {
            tracing::info!(
                "app {} is unhealthy; stopping it to restart it",
                self.instances[n].label
            );
            self.send(pid, Signal::SIGTERM);
            let inst = &mut self.instances[n];
            inst.next_check = None;
            inst.phase = Phase::Recycling {
                pid,
                since,
                deadline: now + stop_timeout,
                killed: false,
            };
        }
    }

    /// Escalates recycling instances that do not stop.
    pub(super) fn advance_recycling(&mut self, now: Instant) {
        let grace = self.config.timings.kill_grace;
        for n in 0..self.instances.len() {
            let Phase::Recycling {
                pid,
                since,
                deadline,
                killed,
            } = self.instances[n].phase
            else {
                continue;
            };
            if deadline > now {
                continue;
            }
            if killed {
                let inst = &mut self.instances[n];
                tracing::error!("app {} survived SIGKILL; giving up on it", inst.label);
                inst.phase = Phase::Ended(None);
                self.set_light(n, Light::Red, "survived SIGKILL");
            } else {
                self.send(pid, Signal::SIGKILL);
                self.instances[n].phase = Phase::Recycling {
                    pid,
                    since,
                    deadline: now + grace,
                    killed: true,
                };
                self.kill_cgroup(n);
            }
        }
    }

    /// Kills exec checks that outlived their timeout; each counts as failed.
    pub(super) fn advance_checks(&mut self, now: Instant) {
        for n in 0..self.instances.len() {
            let Some(child) = self.instances[n].check_child else {
                continue;
            };
            if child.killed || child.deadline > now {
                continue;
            }
            self.send(child.pid, Signal::SIGKILL);
            self.instances[n].check_child = Some(CheckChild {
                killed: true,
                ..child
            });
            let name = match self.apps[self.instances[n].app].health.as_ref() {
                Some(h) => match &h.check {
                    HealthCheck::Exec { argv } => argv.first().cloned().unwrap_or_default(),
                    _ => String::new(),
                },
                None => String::new(),
            };
            self.apply_outcome(n, child.run, Err(format!("exec {name}: timed out")), now);
        }
    }

    /// When the next check or exec-check timeout is due.
    pub(super) fn check_deadlines(&self, now: Instant) -> Vec<Instant> {
        self.instances
            .iter()
            .filter_map(|i| match (i.check_child, i.next_check) {
                (Some(child), _) if !child.killed => Some(child.deadline.max(now)),
                (None, Some(at))
                    if !i.check_in_flight
                        && !self.stopping
                        && matches!(i.phase, Phase::Running { .. }) =>
                {
                    Some(at.max(now))
                }
                _ => None,
            })
            .collect()
    }

    /// Reads NOTIFY_SOCKET and applies each message to the instance that
    /// sent it (or whose descendant did).
    pub(super) fn receive_notifications(&mut self) {
        let Some(socket) = &self.notify else { return };
        let datagrams = socket.receive();
        if datagrams.is_empty() {
            return;
        }
        let pids: Vec<i32> = self
            .instances
            .iter()
            .filter(|i| matches!(i.phase, Phase::Running { .. } | Phase::Recycling { .. }))
            .filter_map(|i| i.pid())
            .collect();
        for datagram in datagrams {
            let owner = notify::attribute(datagram.pid, &pids, Path::new("/proc"))
                .and_then(|pid| self.instances.iter().position(|i| i.pid() == Some(pid)));
            let Some(n) = owner else {
                tracing::debug!("notify message from pid {} ignored", datagram.pid);
                continue;
            };
            self.instances[n].notified = true;
            for notice in datagram.notices {
                match notice {
                    Notice::Ready => self.mark_ready(n, "READY=1"),
                    Notice::Status(text) => self.instances[n].app_status = Some(text),
                    Notice::Stopping => {
                        let label = &self.instances[n].label;
                        tracing::debug!("app {label} says it is stopping");
                    }
                    Notice::UpdateLock(held) => {
                        let inst = &mut self.instances[n];
                        if inst.update_lock != held {
                            let what = if held { "holds" } else { "released" };
                            tracing::info!("app {} {what} its update lock", inst.label);
                        }
                        inst.update_lock = held;
                    }
                }
            }
        }
    }
}
