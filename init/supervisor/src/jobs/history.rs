//! Each job's recent runs, one JSON object per line in
//! `<state dir>/<job>/history.jsonl`, oldest first, at most
//! [`HISTORY_LIMIT`] lines:
//!
//! ```text
//! {"job":"backup","reason":"schedule","scheduled":"2027-01-02T01:30:00Z","start":"2027-01-02T01:30:00.004Z","end":"2027-01-02T01:31:10.2Z","exit":"status 0","code":0,"signal":null,"timed_out":false,"log":"/data/logs/backup"}
//! ```
//!
//! `scheduled` is null for `@reboot` runs; `code` and `signal` tell how the
//! run ended (`code` 127 with `exit` starting "could not start" when it
//! never started). The file is rewritten atomically on every run, which is
//! cheap at this size and keeps it whole after a crash.

use std::fmt::Write as _;
use std::io;
use std::path::Path;

use cairn_schedule::jiff::Timestamp;

use crate::json::quote;
use cairn_sys::fs::write_atomically;
use cairn_sys::process::ExitStatus;

/// How many runs each job's history keeps.
pub const HISTORY_LIMIT: usize = 100;
pub const HISTORY_FILE: &str = "history.jsonl";

/// Why a run started.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    /// Its scheduled instant came.
    Schedule,
    /// It was missed (downtime or a clock step) and runs once to catch up.
    CatchUp,
    /// It waited for the previous run (`overlap = "queue"`).
    Queued,
    /// `@reboot`.
    Reboot,
}

impl Reason {
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::Schedule => "schedule",
            Reason::CatchUp => "catch-up",
            Reason::Queued => "queued",
            Reason::Reboot => "reboot",
        }
    }
}

/// One finished (or never started) run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub job: String,
    pub reason: Reason,
    pub scheduled: Option<Timestamp>,
    pub start: Timestamp,
    pub end: Timestamp,
    /// `None`: it could not be started; `start_error` says why.
    pub status: Option<ExitStatus>,
    pub start_error: Option<String>,
    pub timed_out: bool,
    pub log: String,
}

impl Entry {
    /// The entry as one JSON line (without the newline).
    pub fn to_json(&self) -> String {
        let (exit, code, signal) = match (self.status, &self.start_error) {
            (Some(ExitStatus::Code(c)), _) => (self.status_text(), c.to_string(), "null".into()),
            (Some(ExitStatus::Signal(s)), _) => (self.status_text(), "null".into(), s.to_string()),
            (None, err) => (
                format!("could not start: {}", err.as_deref().unwrap_or("unknown")),
                "127".into(),
                "null".into(),
            ),
        };
        let scheduled = self
            .scheduled
            .map_or_else(|| "null".to_string(), |t| quote(&t.to_string()));
        let mut out = String::new();
        // Writing to a String cannot fail.
        let _ = write!(
            out,
            "{{\"job\":{},\"reason\":\"{}\",\"scheduled\":{scheduled},\"start\":{},\"end\":{},\"exit\":{},\"code\":{code},\"signal\":{signal},\"timed_out\":{},\"log\":{}}}",
            quote(&self.job),
            self.reason.as_str(),
            quote(&self.start.to_string()),
            quote(&self.end.to_string()),
            quote(&exit),
            self.timed_out,
            quote(&self.log),
        );
        out
    }

    fn status_text(&self) -> String {
        self.status.map(|s| s.to_string()).unwrap_or_default()
    }
}

/// Appends `entry` to the history in `dir`, keeping the last `limit` lines.
pub fn append(dir: &Path, entry: &Entry, limit: usize) -> io::Result<()> {
    let existing = std::fs::read_to_string(dir.join(HISTORY_FILE)).unwrap_or_default();
    let mut lines: Vec<&str> = existing.lines().filter(|l| !l.is_empty()).collect();
    let line = entry.to_json();
    lines.push(&line);
    let keep = lines.len().saturating_sub(limit.max(1));
    let mut text = lines.get(keep..).unwrap_or(&lines).join("\n");
    text.push('\n');
    write_atomically(&dir.join(HISTORY_FILE), text.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(n: i64) -> Entry {
        let at = Timestamp::from_second(1_800_000_000 + n).unwrap();
        Entry {
            job: "backup".into(),
            reason: Reason::Schedule,
            scheduled: Some(at),
            start: at,
            end: at,
            status: Some(ExitStatus::Code(0)),
            start_error: None,
            timed_out: false,
            log: "/logs/backup".into(),
        }
    }

    #[test]
    fn one_line_of_json_per_run() {
        let mut e = entry(0);
        e.status = Some(ExitStatus::Signal(15));
        e.timed_out = true;
        assert_eq!(
            e.to_json(),
            "{\"job\":\"backup\",\"reason\":\"schedule\",\"scheduled\":\"2027-01-15T08:00:00Z\",\"start\":\"2027-01-15T08:00:00Z\",\"end\":\"2027-01-15T08:00:00Z\",\"exit\":\"signal SIGTERM\",\"code\":null,\"signal\":15,\"timed_out\":true,\"log\":\"/logs/backup\"}"
        );
        let mut never = entry(0);
        never.reason = Reason::Reboot;
        never.scheduled = None;
        never.status = None;
        never.start_error = Some("no \"such\" file".into());
        let json = never.to_json();
        assert!(json.contains("\"scheduled\":null"), "{json}");
        assert!(
            json.contains("\"exit\":\"could not start: no \\\"such\\\" file\",\"code\":127"),
            "{json}"
        );
    }

    #[test]
    fn history_is_bounded_and_keeps_the_newest() {
        let dir = tempfile::tempdir().unwrap();
        for n in 0..7 {
            append(dir.path(), &entry(n), 5).unwrap();
        }
        let text = std::fs::read_to_string(dir.path().join(HISTORY_FILE)).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 5);
        assert_eq!(lines[0], entry(2).to_json());
        assert_eq!(lines[4], entry(6).to_json());
    }

    #[test]
    fn control_characters_are_escaped() {
        assert_eq!(quote("a\u{1}b\\"), "\"a\\u0001b\\\\\"");
    }
}
