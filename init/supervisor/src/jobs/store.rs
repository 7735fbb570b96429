//! What the scheduler keeps per job on the data partition, in
//! `<state dir>/<job>/`:
//!
//! - `last`: the last scheduled instant handled (run or deliberately passed
//!   over), as RFC 3339 in UTC. Written before a run is launched.
//! - `boot_id`: the boot in which `@reboot` last ran.
//! - `history.jsonl`: the last runs (see [`super::history`]).
//!
//! Every write is atomic and durable: a temporary file is written and
//! fsynced, renamed over the old one, and the directory is fsynced, so a
//! crash or power cut leaves either the old value or the new one.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use cairn_schedule::jiff::Timestamp;
use cairn_sys::fs::write_atomically;

pub(crate) const LAST: &str = "last";
pub(crate) const BOOT_ID: &str = "boot_id";

/// One job's directory of persisted state.
#[derive(Debug, Clone)]
pub struct JobStore {
    dir: PathBuf,
}

impl JobStore {
    pub fn new(state_dir: &Path, job: &str) -> JobStore {
        JobStore {
            dir: state_dir.join(job),
        }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The last handled scheduled instant; `None` when nothing was ever
    /// recorded or the file is unreadable (then the job has missed nothing).
    pub fn last(&self) -> Option<Timestamp> {
        let text = fs::read_to_string(self.dir.join(LAST)).ok()?;
        match text.trim().parse::<Timestamp>() {
            Ok(at) => Some(at),
            Err(err) => {
                tracing::warn!(
                    "{}: not a time ({err}); treating the job as new",
                    self.dir.join(LAST).display()
                );
                None
            }
        }
    }

    /// Records `at` as the last handled instant, durably.
    pub fn set_last(&self, at: Timestamp) -> io::Result<()> {
        write_atomically(&self.dir.join(LAST), format!("{at}\n").as_bytes())
    }

    /// The boot ID recorded by the last `@reboot` run.
    pub fn boot_id(&self) -> Option<String> {
        fs::read_to_string(self.dir.join(BOOT_ID)).ok()
    }

    pub fn set_boot_id(&self, boot_id: &str) -> io::Result<()> {
        write_atomically(
            &self.dir.join(BOOT_ID),
            format!("{}\n", boot_id.trim()).as_bytes(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn last_round_trips_and_survives_a_new_store() {
        let dir = tempfile::tempdir().unwrap();
        let store = JobStore::new(dir.path(), "backup");
        assert_eq!(store.last(), None);
        let at: Timestamp = "2027-01-01T02:30:00Z".parse().unwrap();
        store.set_last(at).unwrap();
        assert_eq!(JobStore::new(dir.path(), "backup").last(), Some(at));
        let text = fs::read_to_string(dir.path().join("backup/last")).unwrap();
        assert_eq!(text, "2027-01-01T02:30:00Z\n");
        // No temporary file is left behind.
        let names: Vec<_> = fs::read_dir(dir.path().join("backup"))
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, ["last"]);
    }

    #[test]
    fn garbage_means_no_history() {
        let dir = tempfile::tempdir().unwrap();
        let store = JobStore::new(dir.path(), "j");
        fs::create_dir_all(store.dir()).unwrap();
        fs::write(store.dir().join(LAST), "yesterday").unwrap();
        assert_eq!(store.last(), None);
    }

    #[test]
    fn boot_id_round_trips() {
        let dir = tempfile::tempdir().unwrap();
        let store = JobStore::new(dir.path(), "j");
        assert_eq!(store.boot_id(), None);
        store.set_boot_id("abc\n").unwrap();
        assert_eq!(store.boot_id().as_deref(), Some("abc\n"));
    }

    #[test]
    fn a_write_that_cannot_happen_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join("file"), "").unwrap();
        let store = JobStore::new(&dir.path().join("file"), "j");
        assert!(store.set_last(Timestamp::UNIX_EPOCH).is_err());
    }
}
