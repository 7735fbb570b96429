//! The health gate of a new version, and what became of the last update.
//!
//! The update writer leaves a `pending` record just before it writes the new
//! version's boot entry (see [`super::records`]). At the start of the run,
//! PID 1 compares it with what it booted:
//!
//! - **this boot is the new version** (a *trial*): it must be healthy, every
//!   app ready and every checked app green, within `[update] healthy_within`.
//!   Then the boot is blessed and the update kept. If an app turns red first,
//!   or the time runs out, PID 1 records why (the app, its last stderr
//!   lines) in `outcome`, marks its own entry bad and reboots at once: the
//!   previous version comes back without anyone touching the box;
//! - **this boot is the previous version again**: the update did not stick.
//!   PID 1 says so on the console and in its log, with the new version's own
//!   account from `outcome` if it left one ("did not boot" if it did not),
//!   and keeps it in `last` for the control API;
//! - no `pending`: nothing to decide; `last` still tells of the last update.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use super::records::{self, Record, Side};

use cairn_update::record::{LAST, OUTCOME, PENDING};
/// Stderr lines kept in an outcome.
const STDERR_LINES: usize = 20;

/// This boot's relation to the last update.
#[derive(Debug)]
pub struct Gate {
    dir: PathBuf,
    /// Set while this boot is a new version on trial: its record and when
    /// its time runs out.
    trial: Option<(Record, Instant)>,
    /// The last update's outcome, for the system file.
    last: Option<Record>,
}

fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

fn same(a: &Side, b: &Side) -> bool {
    a.version == b.version && a.build == b.build
}

impl Gate {
    /// Reads the records in `dir` for a boot of `me`, whose health gate is
    /// `healthy_within` from `started`. Logs what an earlier update came to.
    pub fn open(dir: &Path, me: &Side, healthy_within: Duration, started: Instant) -> Gate {
        let load = |name: &str| match Record::load(&dir.join(name)) {
            Ok(record) => record,
            Err(err) => {
                tracing::warn!("update record {name} unreadable: {err}");
                None
            }
        };
        let mut gate = Gate {
            dir: dir.to_path_buf(),
            trial: None,
            last: load(LAST),
        };
        let Some(pending) = load(PENDING) else {
            return gate;
        };
        if same(&pending.to, me) {
            tracing::info!(
                "this boot tries {} after an update from {}: it must be healthy within {}",
                me.describe(),
                pending.from.describe(),
                humantime(healthy_within)
            );
            gate.trial = Some((pending, started + healthy_within));
            return gate;
        }
        // The new version is not what runs: it failed its gate, or never
        // reached it.
        let mut last = match load(OUTCOME) {
            Some(outcome) if same(&outcome.to, &pending.to) => outcome,
            _ => Record {
                outcome: "did-not-boot".to_string(),
                reason: "it never reached its health gate: systemd-boot counted its tries down"
                    .to_string(),
                ..pending.clone()
            },
        };
        last.at = unix_now();
        tracing::warn!(
            "the update to {} was rolled back; {} runs again: {}",
            last.to.describe(),
            me.describe(),
            last.reason
        );
        if !last.app.is_empty() && !last.stderr.is_empty() {
            tracing::warn!(
                "app {}'s last stderr lines in {}:",
                last.app,
                last.to.describe()
            );
            for line in &last.stderr {
                crate::log::console::write_line(&format!("    {line}"));
            }
        }
        gate.finish(last);
        gate
    }

    /// Writes `last`, removes the pending and outcome records.
    fn finish(&mut self, last: Record) {
        if let Err(err) = records::save(&last, &self.dir.join(LAST)) {
            tracing::warn!("update outcome not recorded: {err}");
        }
        for name in [PENDING, OUTCOME] {
            match std::fs::remove_file(self.dir.join(name)) {
                Ok(()) => {}
                Err(err) if err.kind() == std::io::ErrorKind::NotFound => {}
                Err(err) => tracing::warn!("cannot remove update record {name}: {err}"),
            }
        }
        self.last = Some(last);
    }

    /// True while this boot is a new version that has not passed its gate.
    pub fn on_trial(&self) -> bool {
        self.trial.is_some()
    }

    /// When the trial's time runs out.
    pub fn deadline(&self) -> Option<Instant> {
        self.trial.as_ref().map(|(_, deadline)| *deadline)
    }

    /// The last update's outcome, if any.
    pub fn last(&self) -> Option<&Record> {
        self.last.as_ref()
    }

    /// The boot was blessed: a trial passed, and the update is kept.
    pub fn blessed(&mut self) {
        let Some((pending, _)) = self.trial.take() else {
            return;
        };
        tracing::info!(
            "the update from {} to {} is kept",
            pending.from.describe(),
            pending.to.describe()
        );
        self.finish(Record {
            outcome: "blessed".to_string(),
            at: unix_now(),
            ..pending
        });
    }

    /// The trial failed (`reason`; `app` and its last stderr lines when an
    /// app turned red): records it for the version that will boot next.
    /// Returns false when this boot was no trial.
    pub fn failed(&mut self, reason: &str, app: Option<&str>, stderr: &[String]) -> bool {
        let Some((pending, _)) = self.trial.take() else {
            return false;
        };
        let first = stderr.len().saturating_sub(STDERR_LINES);
        let outcome = Record {
            outcome: "rolled-back".to_string(),
            reason: reason.to_string(),
            app: app.unwrap_or_default().to_string(),
            stderr: stderr.iter().skip(first).cloned().collect(),
            at: unix_now(),
            ..pending
        };
        if let Err(err) = records::save(&outcome, &self.dir.join(OUTCOME)) {
            tracing::error!("the reason for the rollback is not recorded: {err}");
        }
        true
    }
}

/// `5m`, `90s`: a duration as the manifest writes it.
fn humantime(d: Duration) -> String {
    let secs = d.as_secs();
    if secs >= 60 && secs.is_multiple_of(60) {
        format!("{}m", secs / 60)
    } else {
        format!("{secs}s")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn side(version: &str, build: u64, bank: &str) -> Side {
        Side {
            version: version.into(),
            build: Some(build),
            bank: bank.into(),
        }
    }

    fn pending(dir: &Path) -> Record {
        let record = Record {
            from: side("aaaa", 7, "a"),
            to: side("bbbb", 8, "b"),
            at: 1,
            ..Record::default()
        };
        records::save(&record, &dir.join(PENDING)).unwrap();
        record
    }

    #[test]
    fn the_new_version_is_on_trial_until_blessed() {
        let dir = tempfile::tempdir().unwrap();
        pending(dir.path());
        let t0 = Instant::now();
        let mut gate = Gate::open(
            dir.path(),
            &side("bbbb", 8, "b"),
            Duration::from_secs(300),
            t0,
        );
        assert!(gate.on_trial());
        assert_eq!(gate.deadline(), Some(t0 + Duration::from_secs(300)));
        gate.blessed();
        assert!(!gate.on_trial());
        assert!(!dir.path().join(PENDING).exists());
        let last = Record::load(&dir.path().join(LAST)).unwrap().unwrap();
        assert_eq!(last.outcome, "blessed");
        assert_eq!(last.to, side("bbbb", 8, "b"));
        // The next boot finds nothing pending and remembers the outcome.
        let gate = Gate::open(
            dir.path(),
            &side("bbbb", 8, "b"),
            Duration::from_secs(300),
            t0,
        );
        assert!(!gate.on_trial());
        assert_eq!(gate.last().unwrap().outcome, "blessed");
    }

    #[test]
    fn a_failed_trial_is_told_by_the_version_that_comes_back() {
        let dir = tempfile::tempdir().unwrap();
        pending(dir.path());
        let t0 = Instant::now();
        let mut trial = Gate::open(
            dir.path(),
            &side("bbbb", 8, "b"),
            Duration::from_secs(60),
            t0,
        );
        let stderr: Vec<String> = (0..30).map(|i| format!("line {i}")).collect();
        assert!(trial.failed(
            "app web is red: crashed 5 times in 60s",
            Some("web"),
            &stderr
        ));
        // The old version boots again.
        let back = Gate::open(
            dir.path(),
            &side("aaaa", 7, "a"),
            Duration::from_secs(60),
            t0,
        );
        assert!(!back.on_trial());
        let last = back.last().unwrap();
        assert_eq!(last.outcome, "rolled-back");
        assert_eq!(last.app, "web");
        assert_eq!(last.stderr.len(), STDERR_LINES);
        assert_eq!(last.stderr.last().map(String::as_str), Some("line 29"));
        assert!(last.reason.contains("crashed 5 times"));
        assert!(!dir.path().join(PENDING).exists());
        assert!(!dir.path().join(OUTCOME).exists());
    }

    #[test]
    fn a_new_version_that_never_came_up_did_not_boot() {
        let dir = tempfile::tempdir().unwrap();
        pending(dir.path());
        let back = Gate::open(
            dir.path(),
            &side("aaaa", 7, "a"),
            Duration::from_secs(60),
            Instant::now(),
        );
        let last = back.last().unwrap();
        assert_eq!(last.outcome, "did-not-boot");
        assert_eq!(last.to, side("bbbb", 8, "b"));
    }

    #[test]
    fn an_outcome_of_another_update_is_not_taken_for_this_one() {
        let dir = tempfile::tempdir().unwrap();
        pending(dir.path());
        let stale = Record {
            to: side("cccc", 5, "b"),
            outcome: "rolled-back".into(),
            reason: "old news".into(),
            ..Record::default()
        };
        records::save(&stale, &dir.path().join(OUTCOME)).unwrap();
        let back = Gate::open(
            dir.path(),
            &side("aaaa", 7, "a"),
            Duration::from_secs(60),
            Instant::now(),
        );
        assert_eq!(back.last().unwrap().outcome, "did-not-boot");
    }

    #[test]
    fn without_a_trial_nothing_is_failed() {
        let dir = tempfile::tempdir().unwrap();
        let mut gate = Gate::open(
            dir.path(),
            &side("aaaa", 7, "a"),
            Duration::from_secs(60),
            Instant::now(),
        );
        assert!(!gate.failed("whatever", None, &[]));
        assert!(gate.last().is_none());
    }
}
