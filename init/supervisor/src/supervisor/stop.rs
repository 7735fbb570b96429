//! Stopping apps in order at shutdown.
//!
//! An app is sent SIGTERM (to its whole process group) once no app that
//! starts after it (`after`) is still running, so dependents go first. Each
//! then gets its own `stop_timeout` before SIGKILL, and a short grace after
//! that; output keeps being read throughout, so the last lines an app prints
//! while stopping reach the console.

use std::time::{Duration, Instant};

use nix::sys::signal::Signal;

use super::backoff::format_duration;
use super::{Phase, Supervisor};

// Indexing: `n` ranges over `0..self.instances.len()` and every app index is
// an instance's `app`, which `with_processes` took from `apps`; neither
// vector changes length after `with_processes` (see `Supervisor`).
#[allow(clippy::indexing_slicing)]
impl Supervisor {
    /// Begins an orderly stop: restarts are cancelled and apps are sent
    /// SIGTERM, dependents first, each then given its `stop_timeout`.
    pub fn begin_stop(&mut self) {
        self.begin_stop_at(Instant::now());
    }

    /// [`begin_stop`](Supervisor::begin_stop) at `now`.
    pub fn begin_stop_at(&mut self, now: Instant) {
        if self.stopping {
            return;
        }
        self.stopping = true;
        tracing::info!("stopping apps");
        let checks: Vec<i32> = self
            .instances
            .iter_mut()
            .filter_map(|inst| {
                let check = inst.check_child.as_mut().filter(|c| !c.killed)?;
                check.killed = true;
                Some(check.pid)
            })
            .collect();
        // A health check under way ends with the app.
        for pid in checks {
            self.send(pid, Signal::SIGKILL);
        }
        for inst in &mut self.instances {
            inst.next_check = None;
            inst.phase = match inst.phase {
                Phase::Running { pid, .. } | Phase::Recycling { pid, .. } => {
                    Phase::StopPending { pid }
                }
                Phase::Waiting | Phase::Due(_) => Phase::Ended(None),
                other => other,
            };
        }
        self.begin_stop_jobs();
        self.advance(now);
    }

    /// True when no instance is left running (after [`begin_stop`]).
    ///
    /// [`begin_stop`]: Supervisor::begin_stop
    pub fn stop_finished(&self) -> bool {
        self.instances.iter().all(|i| i.pid().is_none()) && self.jobs_stopped()
    }

    /// Stops every app and waits for it, for hosts and tests; PID 1 runs the
    /// same steps inside its own loop so it keeps watching its signals.
    pub fn stop_blocking(&mut self) {
        self.begin_stop();
        while !self.stop_finished() {
            self.turn(&mut [], Duration::from_millis(100));
        }
        self.drain_output();
    }

    /// True when an instance of an app that starts after `app` still runs.
    fn has_running_dependents(&self, app: usize) -> bool {
        let name = &self.apps[app].name;
        self.instances
            .iter()
            .any(|i| i.pid().is_some() && self.apps[i.app].after.iter().any(|dep| dep == name))
    }

    pub(super) fn advance_stop(&mut self, now: Instant) {
        let grace = self.config.timings.kill_grace;
        for n in 0..self.instances.len() {
            let app = self.instances[n].app;
            match self.instances[n].phase {
                Phase::StopPending { pid } if !self.has_running_dependents(app) => {
                    self.send(pid, Signal::SIGTERM);
                    let deadline = now + self.apps[app].stop_timeout;
                    self.instances[n].phase = Phase::Stopping {
                        pid,
                        deadline,
                        killed: false,
                    };
                }
                Phase::Stopping {
                    pid,
                    deadline,
                    killed: false,
                } if deadline <= now => {
                    tracing::warn!(
                        "app {} did not stop in {}, killing it",
                        self.instances[n].label,
                        format_duration(self.apps[app].stop_timeout)
                    );
                    self.send(pid, Signal::SIGKILL);
                    self.kill_cgroup(n);
                    self.instances[n].phase = Phase::Stopping {
                        pid,
                        deadline: now + grace,
                        killed: true,
                    };
                }
                Phase::Stopping {
                    deadline,
                    killed: true,
                    ..
                } if deadline <= now => {
                    tracing::error!(
                        "app {} survived SIGKILL; giving up on it",
                        self.instances[n].label
                    );
                    self.instances[n].phase = Phase::Ended(None);
                }
                _ => {}
            }
        }
    }
}
