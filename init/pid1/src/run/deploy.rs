//! The run loop's side of updates: blessing the boot, the new version's
//! health gate, rolling back, and the system file that tells the control
//! API all of it.

use std::path::Path;
use std::time::Instant;

use cairn_supervisor::Verdict;

use super::system_file::{self, SystemFacts};
use super::Runtime;
use crate::boot::entries::{self, Changed};
use crate::boot::esp;
use crate::sys::power::PowerAction;

impl Runtime {
    /// Reads the ESP's entries (both banks' versions) for the system file.
    pub(super) fn scan_entries(&mut self) {
        match esp::with_esp(self.esp.as_ref(), Path::new("/dev"), entries::list) {
            Ok(listed) => self.entries = listed,
            Err(err) => tracing::warn!("cannot read the boot entries: {err}"),
        }
    }

    /// Rewrites `/run/cairn/system.json`.
    pub(super) fn write_system_file(&self) {
        let text = system_file::render(&SystemFacts {
            hostname: &self.hostname,
            board: &self.board,
            me: &self.side,
            boot: self.boot_count,
            blessed: self.blessed,
            on_trial: self.gate.on_trial(),
            booted_at: self.booted_at,
            entries: &self.entries,
            last_update: self.gate.last(),
            log_drops: &self.log_drops,
        });
        if let Err(err) =
            cairn_sys::fs::write_atomically(Path::new(cairn_layout::run::SYSTEM), text.as_bytes())
        {
            tracing::debug!("system file not written: {err}");
        }
    }

    /// The boot's verdict arrived: bless it, or on a trial roll it back.
    pub(super) fn on_verdict(&mut self, verdict: Verdict) {
        match verdict {
            Verdict::Bless => self.bless(),
            Verdict::Refuse(reason) if self.gate.on_trial() => {
                let app = self.supervisor.refused_by().map(str::to_string);
                let stderr = app
                    .as_deref()
                    .map(|a| self.supervisor.last_stderr(a).to_vec())
                    .unwrap_or_default();
                self.fail_trial(&reason, app.as_deref(), &stderr);
            }
            Verdict::Refuse(reason) => tracing::warn!("not blessing: {reason}"),
        }
    }

    fn bless(&mut self) {
        let me = self.me.clone();
        let outcome = esp::with_esp(self.esp.as_ref(), Path::new("/dev"), |volume| {
            let changed = entries::bless(volume, &me)?;
            Ok((changed, entries::list(volume)?))
        });
        match outcome {
            Ok((changed, listed)) => {
                match changed {
                    Changed::Renamed { from, to } => {
                        tracing::info!("boot blessed ({from} -> {to})")
                    }
                    Changed::AlreadyThere(name) => tracing::info!("boot already blessed ({name})"),
                    Changed::NoEntry => {
                        tracing::warn!("boot not blessed: no entry for version {}", me.version);
                    }
                }
                self.entries = listed;
                self.blessed = true;
                self.gate.blessed();
            }
            Err(err) => tracing::error!("boot not blessed: {err}"),
        }
        self.write_system_file();
    }

    /// A trial whose time ran out without a verdict fails.
    pub(super) fn check_trial_deadline(&mut self, now: Instant) {
        let Some(deadline) = self.gate.deadline() else {
            return;
        };
        if now < deadline || self.stopping.is_some() {
            return;
        }
        let waiting: Vec<String> = self
            .supervisor
            .statuses()
            .into_iter()
            .filter(|s| s.state != cairn_supervisor::health::Light::Green)
            .map(|s| {
                let label = cairn_manifest::instance_label(&s.app, s.instance);
                format!("{label} {} ({})", s.state, s.reason)
            })
            .collect();
        let reason = format!(
            "not healthy within {}s of its boot: {}",
            self.healthy_within.as_secs(),
            if waiting.is_empty() {
                "apps not ready".to_string()
            } else {
                waiting.join(", ")
            }
        );
        let app = self.supervisor.refused_by().map(str::to_string);
        self.fail_trial(&reason, app.as_deref(), &[]);
    }

    fn fail_trial(&mut self, reason: &str, app: Option<&str>, stderr: &[String]) {
        tracing::error!(
            "{} failed its health gate: {reason}; rolling back",
            self.side.describe()
        );
        if self.gate.failed(reason, app, stderr) {
            if let Err(why) = self.roll_back() {
                tracing::error!("cannot roll back: {why}; this version stays, unblessed");
            }
        }
        self.write_system_file();
    }

    /// Marks this version's entry bad and reboots into the version
    /// systemd-boot boots next: the other bank's good one. Refused, and
    /// nothing changed, when there is no such version.
    pub(super) fn roll_back(&mut self) -> Result<(), String> {
        let me = self.me.clone();
        let outcome = esp::with_esp(self.esp.as_ref(), Path::new("/dev"), |volume| {
            let listed = entries::list(volume)?;
            let Some(back) = entries::fallback(&listed, &me) else {
                return Ok(None);
            };
            entries::mark_bad(volume, &me)?;
            Ok(Some((back, entries::list(volume)?)))
        })?;
        let Some((back, listed)) = outcome else {
            return Err("the other bank holds no good version to go back to".to_string());
        };
        tracing::warn!(
            "marked {} bad; rebooting into {} (bank {})",
            self.side.describe(),
            back.name.version,
            back.bank.map_or_else(|| "?".to_string(), |b| b.to_string())
        );
        self.entries = listed;
        self.write_system_file();
        self.begin_shutdown(PowerAction::Reboot);
        Ok(())
    }
}
