//! Restarts an operator asks for (`POST /v1/apps/NAME/restart`), and the
//! update locks an update's reboot waits for.

use std::time::Instant;

use nix::sys::signal::Signal;

use super::{Phase, Supervisor};
use crate::health::Light;

// Indexing: `n` ranges over `0..self.instances.len()`, and `inst.app` is an
// index the supervisor assigned from `apps`; neither vector changes length
// after `Supervisor::with_processes`.
#[allow(clippy::indexing_slicing)]
impl Supervisor {
    /// Stops every instance of `app` (SIGTERM, its `stop_timeout`, SIGKILL)
    /// and starts it again at once, whatever its restart policy; an instance
    /// that is not running (failed, or done) is started again too, with its
    /// breaker and backoff reset. Error when the app is unknown or the
    /// system is stopping.
    pub fn restart_app(&mut self, app: &str, now: Instant) -> Result<usize, String> {
        if self.stopping {
            return Err("the system is stopping".to_string());
        }
        let Some(index) = self.apps.iter().position(|a| a.name == app) else {
            return Err(format!("there is no app {app}"));
        };
        let stop_timeout = self.apps[index].stop_timeout;
        let mut count = 0;
        for n in 0..self.instances.len() {
            if self.instances[n].app != index {
                continue;
            }
            count += 1;
            let t = &self.config.timings;
            let (floor, cap, stable) = (t.backoff_floor, t.backoff_cap, t.stable_after);
            let (limit, window) = (t.breaker_limit, t.breaker_window);
            let inst = &mut self.instances[n];
            inst.backoff = super::backoff::Backoff::new(floor, cap, stable);
            inst.breaker = super::breaker::Breaker::new(limit, window);
            match inst.phase {
                Phase::Running { pid, since } => {
                    inst.restart_requested = true;
                    inst.next_check = None;
                    inst.phase = Phase::Recycling {
                        pid,
                        since,
                        deadline: now + stop_timeout,
                        killed: false,
                    };
                    tracing::info!("app {}: restart requested", inst.label);
                    self.send(pid, Signal::SIGTERM);
                }
                Phase::Recycling { .. } => inst.restart_requested = true,
                Phase::Ended(_) | Phase::Due(_) => {
                    inst.phase = Phase::Due(now);
                    tracing::info!("app {}: start requested", inst.label);
                    self.set_light(n, Light::Yellow, "starting on request");
                }
                Phase::Waiting | Phase::StopPending { .. } | Phase::Stopping { .. } => {}
            }
        }
        Ok(count)
    }

    /// The instances that hold an update lock now (`UPDATE_LOCK=1`).
    pub fn update_locks(&self) -> Vec<String> {
        self.instances
            .iter()
            .filter(|i| i.update_lock && i.pid().is_some())
            .map(|i| i.label.clone())
            .collect()
    }
}
