//! Each instance's state as others see it: its colour (logged when it
//! changes, and deciding the boot's verdict when it turns red first), its
//! crash reports, and the status file.

use super::crash_report::{self, CrashReport};
use super::status::{self, InstanceStatus};
use super::{Supervisor, Verdict};
use crate::health::Light;
use cairn_sys::process::ExitStatus;

// Indexing: `n` is an instance number a caller in this module took from
// `0..self.instances.len()` or a position in `instances`, and `inst.app` the
// index `with_processes` gave it into `apps`; neither vector changes length
// after `with_processes` (see `Supervisor`).
#[allow(clippy::indexing_slicing)]
impl Supervisor {
    /// Every instance's state, as written to the status file.
    pub fn statuses(&self) -> Vec<InstanceStatus> {
        self.instances
            .iter()
            .map(|i| InstanceStatus {
                app: self.apps[i.app].name.clone(),
                instance: i.index,
                state: i.light,
                pid: i.pid(),
                restarts: i.restarts,
                last_exit: i.last_exit.map(|s| s.to_string()),
                reason: i.reason.clone(),
                status: i.app_status.clone(),
            })
            .collect()
    }

    /// The app whose instance turned red before everything was ready, which
    /// refused the boot its blessing.
    pub fn refused_by(&self) -> Option<&str> {
        self.refused_by.as_deref()
    }

    /// The stderr lines of `app`'s last crash report (empty when it did not
    /// crash in this boot).
    pub fn last_stderr(&self, app: &str) -> &[String] {
        self.last_crash.get(app).map_or(&[], Vec::as_slice)
    }

    /// The state of instance `index` of `app`, if there is one.
    pub fn light(&self, app: &str, index: u32) -> Option<Light> {
        self.instances
            .iter()
            .find(|i| i.index == index && self.apps[i.app].name == app)
            .map(|i| i.light)
    }

    /// Logs and keeps the crash report of instance `n`; `cause` is the limit
    /// it hit, if any.
    pub(super) fn report_crash(&mut self, n: usize, status: ExitStatus, cause: Option<String>) {
        let inst = &self.instances[n];
        let report = CrashReport {
            app: self.apps[inst.app].name.clone(),
            instance: inst.index,
            label: inst.label.clone(),
            status,
            cause,
            unix_time: crash_report::unix_now(),
            stderr: self.streams.take_tail(n, self.sink.as_mut()),
        };
        report.log(self.sink.as_mut());
        self.last_crash
            .insert(report.app.clone(), report.stderr.clone());
        let Some(dir) = &self.config.crash_dir else {
            return;
        };
        if let Some(mount) = &self.config.crash_mount {
            if !crash_report::is_mount_point(mount) {
                return;
            }
        }
        if let Err(err) = report.persist(dir, crash_report::KEEP_PER_APP) {
            tracing::warn!("crash report of {} not saved: {err}", report.label);
        }
    }

    /// Sets instance `n`'s state; a change of colour is logged.
    pub(super) fn set_light(&mut self, n: usize, light: Light, reason: &str) {
        let inst = &mut self.instances[n];
        let from = inst.light;
        inst.light = light;
        inst.reason = reason.to_string();
        if from == light || self.stopping {
            return;
        }
        let what = if self.apps[inst.app].health.is_some() {
            " health"
        } else {
            ""
        };
        tracing::info!("app {}{what} {from} -> {light}: {reason}", inst.label);
        if light == Light::Red && !self.all_ready_reported && self.verdict.is_none() {
            self.verdict = Some(Verdict::Refuse(format!(
                "app {} is red: {reason}",
                inst.label
            )));
            self.verdict_pending = true;
            self.refused_by = Some(self.apps[inst.app].name.clone());
        }
    }

    /// Instance `n`'s current run is ready.
    pub(super) fn mark_ready(&mut self, n: usize, why: &str) {
        let inst = &mut self.instances[n];
        if inst.ready {
            return;
        }
        inst.ready = true;
        inst.ever_ready = true;
        if self.apps[inst.app].health.is_none() {
            self.set_light(n, Light::Green, why);
        }
    }

    pub(super) fn write_status(&mut self) {
        let Some(path) = &self.config.status_file else {
            return;
        };
        let text = status::render(&self.statuses());
        if self.last_status.as_deref() == Some(text.as_str()) {
            return;
        }
        if let Err(err) = cairn_sys::fs::write_atomically(path, text.as_bytes()) {
            tracing::debug!("status file not written: {err}");
        }
        self.last_status = Some(text);
    }
}
