//! What the system records of an update on the data partition, in
//! `/data/cairn/update/`, as small `key=value` files that PID 1 reads
//! without a JSON parser of its own (the update writer writes `pending`,
//! PID 1 the others):
//!
//! - `pending`: the update writer's note, written just before the new
//!   version's boot entry: which version it replaces and with what;
//! - `outcome`: written by the new version's PID 1 when it fails its health
//!   gate, just before it marks itself bad and reboots: why, which app, its
//!   last stderr lines;
//! - `last`: the outcome of the last update, kept across boots, for
//!   `GET /v1/status`.
//!
//! A value is one line: a newline in it is written as `\n` and a backslash
//! as `\\`. A key may repeat (`stderr=`).

use std::io;
use std::path::Path;

/// The update writer's note of the update it wrote.
pub const PENDING: &str = "pending";
/// Why a new version gave up, written by its PID 1.
pub const OUTCOME: &str = "outcome";
/// The outcome of the last update.
pub const LAST: &str = "last";

/// One version of the system.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Side {
    pub version: String,
    pub build: Option<u64>,
    pub bank: String,
}

/// An update's record.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Record {
    pub from: Side,
    pub to: Side,
    /// Unix seconds: when the update was written, or decided.
    pub at: u64,
    /// `blessed`, `rolled-back`, `did-not-boot`; empty in `pending`.
    pub outcome: String,
    pub reason: String,
    /// The app that failed the health gate, if one did.
    pub app: String,
    pub stderr: Vec<String>,
}

fn escape(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('\n', "\\n")
        .replace('\r', "")
}

fn unescape(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    let mut chars = value.chars();
    while let Some(c) = chars.next() {
        match (c, chars.clone().next()) {
            ('\\', Some('n')) => {
                out.push('\n');
                chars.next();
            }
            ('\\', Some('\\')) => {
                out.push('\\');
                chars.next();
            }
            _ => out.push(c),
        }
    }
    out
}

impl Record {
    /// The file's text.
    pub fn render(&self) -> String {
        let mut text = String::new();
        let mut put = |key: &str, value: &str| {
            if !value.is_empty() {
                text.push_str(key);
                text.push('=');
                text.push_str(&escape(value));
                text.push('\n');
            }
        };
        for (prefix, side) in [("from", &self.from), ("to", &self.to)] {
            put(&format!("{prefix}_version"), &side.version);
            if let Some(build) = side.build {
                put(&format!("{prefix}_build"), &build.to_string());
            }
            put(&format!("{prefix}_bank"), &side.bank);
        }
        put("at", &self.at.to_string());
        put("outcome", &self.outcome);
        put("reason", &self.reason);
        put("app", &self.app);
        for line in &self.stderr {
            put("stderr", line);
        }
        text
    }

    /// Reads a file's text; unknown keys and malformed lines are skipped (a
    /// newer writer may add keys).
    pub fn parse(text: &str) -> Record {
        let mut record = Record::default();
        for line in text.lines() {
            let Some((key, value)) = line.split_once('=') else {
                continue;
            };
            let value = unescape(value);
            match key {
                "from_version" => record.from.version = value,
                "from_build" => record.from.build = value.parse().ok(),
                "from_bank" => record.from.bank = value,
                "to_version" => record.to.version = value,
                "to_build" => record.to.build = value.parse().ok(),
                "to_bank" => record.to.bank = value,
                "at" => record.at = value.parse().unwrap_or(0),
                "outcome" => record.outcome = value,
                "reason" => record.reason = value,
                "app" => record.app = value,
                "stderr" => record.stderr.push(value),
                _ => {}
            }
        }
        record
    }

    /// Reads `path`; None when there is no such file.
    pub fn load(path: &Path) -> io::Result<Option<Record>> {
        match std::fs::read_to_string(path) {
            Ok(text) => Ok(Some(Record::parse(&text))),
            Err(err) if err.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(err) => Err(err),
        }
    }
}

impl Side {
    /// `3067e37bd312 (build 7)`, for log lines.
    pub fn describe(&self) -> String {
        match self.build {
            Some(build) => format!("{} (build {build})", self.version),
            None => self.version.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_record_round_trips_even_with_awkward_lines() {
        let record = Record {
            from: Side {
                version: "aaaa".into(),
                build: Some(7),
                bank: "a".into(),
            },
            to: Side {
                version: "bbbb".into(),
                build: Some(8),
                bank: "b".into(),
            },
            at: 1_733_300_000,
            outcome: "rolled-back".into(),
            reason: "app web is red: crashed 5 times in 60s".into(),
            app: "web".into(),
            stderr: vec![
                "panic: x=1\nsecond".into(),
                "back\\slash".into(),
                String::new(),
            ],
        };
        let parsed = Record::parse(&record.render());
        // An empty stderr line is not written.
        let mut expected = record.clone();
        expected.stderr.pop();
        assert_eq!(parsed, expected);
    }

    #[test]
    fn unknown_keys_and_junk_are_skipped() {
        let text = "to_version=bbbb\nfuture_key=1\nno equals sign\nto_build=x\nat=12\n";
        let record = Record::parse(text);
        assert_eq!(record.to.version, "bbbb");
        assert_eq!(record.to.build, None);
        assert_eq!(record.at, 12);
    }

    #[test]
    fn load_tells_a_missing_file_from_a_present_one() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("pending");
        assert_eq!(Record::load(&path).unwrap(), None);
        let record = Record {
            outcome: "blessed".into(),
            ..Record::default()
        };
        std::fs::write(&path, record.render()).unwrap();
        assert_eq!(Record::load(&path).unwrap(), Some(record));
    }
}
