//! One log record, how it travels from PID 1 to the logger, and how it reads
//! in a log file.
//!
//! A record is a line of text with where and when it came from. PID 1 hands
//! records to `cairn-logd` in batches over a socket; each record is its
//! fields joined by the ASCII unit separator (0x1f) and ended by the record
//! separator (0x1e). Lines never contain either: app output is escaped by
//! [`render`](crate::line::render) and system messages by
//! [`clean`] before they become records.

use std::fmt::Write as _;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

const UNIT: u8 = 0x1f;
const END: u8 = 0x1e;

/// Where a line came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stream {
    Stdout,
    Stderr,
    /// PID 1's (or the logger's) own log, at a syslog severity.
    System(u8),
    /// The kernel's log, at a syslog severity.
    Kernel(u8),
}

impl Stream {
    /// The syslog severity (0 emergency .. 7 debug). App output carries no
    /// level of its own: stdout is info, stderr notice.
    pub fn severity(self) -> u8 {
        match self {
            Stream::Stdout => 6,
            Stream::Stderr => 5,
            Stream::System(s) | Stream::Kernel(s) => s.min(7),
        }
    }

    /// The word a log file line shows: the stream for app output, the level
    /// for system and kernel lines.
    pub fn word(self) -> &'static str {
        match self {
            Stream::Stdout => "stdout",
            Stream::Stderr => "stderr",
            Stream::System(s) | Stream::Kernel(s) => severity_name(s),
        }
    }

    fn code(self) -> (char, u8) {
        match self {
            Stream::Stdout => ('o', 6),
            Stream::Stderr => ('e', 5),
            Stream::System(s) => ('s', s),
            Stream::Kernel(s) => ('k', s),
        }
    }

    fn from_code(kind: &str, level: &str) -> Option<Stream> {
        let level: u8 = level.parse().ok().filter(|l| *l <= 7)?;
        match kind {
            "o" => Some(Stream::Stdout),
            "e" => Some(Stream::Stderr),
            "s" => Some(Stream::System(level)),
            "k" => Some(Stream::Kernel(level)),
            _ => None,
        }
    }
}

/// The short name of a syslog severity.
pub fn severity_name(severity: u8) -> &'static str {
    match severity {
        0 => "emerg",
        1 => "alert",
        2 => "crit",
        3 => "error",
        4 => "warn",
        5 => "notice",
        6 => "info",
        _ => "debug",
    }
}

/// One line of log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    /// Wall-clock time it was read, since the Unix epoch.
    pub time: Duration,
    /// The app's name, `cairn` for the system's own log, `kernel` for the kernel's.
    pub source: String,
    /// The app instance (0 for system and kernel lines).
    pub instance: u32,
    pub stream: Stream,
    pub line: String,
}

/// The source name of PID 1's and the logger's own lines.
pub const SYSTEM_SOURCE: &str = "cairn";
/// The source name of the kernel's lines.
pub const KERNEL_SOURCE: &str = "kernel";

/// The wall clock now, since the Unix epoch.
pub fn now() -> Duration {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
}

impl Record {
    /// A record stamped now.
    pub fn new(source: &str, instance: u32, stream: Stream, line: String) -> Record {
        Record {
            time: now(),
            source: source.to_string(),
            instance,
            stream,
            line,
        }
    }

    /// A system line (PID 1's or the logger's own), made safe to carry.
    pub fn system(severity: u8, message: &str) -> Record {
        Record::new(SYSTEM_SOURCE, 0, Stream::System(severity), clean(message))
    }

    /// `web`, or `web.1` for instance 1: how the console names it.
    pub fn label(&self) -> String {
        if self.instance == 0 {
            self.source.clone()
        } else {
            format!("{}.{}", self.source, self.instance)
        }
    }

    /// Appends the wire form of this record to `out`.
    pub fn encode(&self, out: &mut Vec<u8>) {
        let (kind, level) = self.stream.code();
        let _ = write!(
            Sink(out),
            "{}\x1f{}\x1f{}\x1f{kind}\x1f{level}\x1f",
            self.time.as_nanos(),
            self.source,
            self.instance
        );
        out.extend_from_slice(self.line.as_bytes());
        out.push(END);
    }

    /// The records of one batch; malformed ones are skipped (and counted in
    /// the second value) rather than failing the batch.
    pub fn decode_all(bytes: &[u8]) -> (Vec<Record>, usize) {
        let mut records = Vec::new();
        let mut bad = 0;
        for raw in bytes.split(|&b| b == END).filter(|r| !r.is_empty()) {
            match decode_one(raw) {
                Some(record) => records.push(record),
                None => bad += 1,
            }
        }
        (records, bad)
    }

    /// One line of a log file, without newline:
    /// `2026-11-23T09:45:10.123456Z web.1 stderr the line`.
    pub fn file_line(&self, out: &mut String) {
        out.push_str(&rfc3339(self.time));
        out.push(' ');
        out.push_str(&self.source);
        if self.instance != 0 {
            let _ = write!(out, ".{}", self.instance);
        }
        out.push(' ');
        out.push_str(self.stream.word());
        out.push(' ');
        out.push_str(&self.line);
    }
}

fn decode_one(raw: &[u8]) -> Option<Record> {
    let text = std::str::from_utf8(raw).ok()?;
    let mut fields = text.splitn(6, char::from(UNIT));
    let nanos: u128 = fields.next()?.parse().ok()?;
    let source = fields.next()?.to_string();
    let instance = fields.next()?.parse().ok()?;
    let kind = fields.next()?;
    let level = fields.next()?;
    let stream = Stream::from_code(kind, level)?;
    let line = fields.next()?.to_string();
    let secs = u64::try_from(nanos / 1_000_000_000).ok()?;
    let sub = u32::try_from(nanos % 1_000_000_000).ok()?;
    if source.is_empty() {
        return None;
    }
    Some(Record {
        time: Duration::new(secs, sub),
        source,
        instance,
        stream,
        line,
    })
}

struct Sink<'a>(&'a mut Vec<u8>);

impl std::fmt::Write for Sink<'_> {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        self.0.extend_from_slice(s.as_bytes());
        Ok(())
    }
}

/// A system message as one safe line: control characters (a newline in an
/// error chain) escaped like app output.
pub fn clean(message: &str) -> String {
    if message.chars().all(|c| !c.is_control() || c == '\t') {
        return message.to_string();
    }
    crate::line::render(message.as_bytes())
}

/// `2026-11-23T09:45:10.123456Z`: UTC, microseconds, fixed width, so the text
/// sorts as the time does. `time` is since the Unix epoch.
pub fn rfc3339(time: Duration) -> String {
    let at = utc(time);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:06}Z",
        at.year(),
        at.month(),
        at.day(),
        at.hour(),
        at.minute(),
        at.second(),
        time.subsec_micros()
    )
}

/// The civil date and time in UTC of `time` since the Unix epoch (the epoch
/// itself for a time beyond what a calendar holds).
pub fn utc(time: Duration) -> jiff::civil::DateTime {
    let seconds = i64::try_from(time.as_secs()).unwrap_or(i64::MAX);
    let at = jiff::Timestamp::from_second(seconds).unwrap_or(jiff::Timestamp::UNIX_EPOCH);
    jiff::tz::Offset::UTC.to_datetime(at)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_are_utc_with_microseconds() {
        assert_eq!(rfc3339(Duration::ZERO), "1970-01-01T00:00:00.000000Z");
        // 2024-02-29 23:59:59.5 UTC, a leap day.
        assert_eq!(
            rfc3339(Duration::from_millis(1_709_251_199_500)),
            "2024-02-29T23:59:59.500000Z"
        );
        assert_eq!(
            rfc3339(Duration::new(4_102_444_800, 1_000)),
            "2100-01-01T00:00:00.000001Z"
        );
    }

    #[test]
    fn records_survive_the_wire() {
        let records = vec![
            Record {
                time: Duration::new(1_700_000_000, 123_456_789),
                source: "web".into(),
                instance: 2,
                stream: Stream::Stderr,
                line: "tab\there, \\x1f escaped".into(),
            },
            Record::system(4, "two\nlines"),
            Record::new(KERNEL_SOURCE, 0, Stream::Kernel(3), String::new()),
        ];
        let mut wire = Vec::new();
        for r in &records {
            r.encode(&mut wire);
        }
        let (back, bad) = Record::decode_all(&wire);
        assert_eq!(bad, 0);
        assert_eq!(back, records);
        assert_eq!(back[1].line, "two\\x0alines");
    }

    #[test]
    fn malformed_records_are_skipped_and_counted() {
        let mut wire = b"garbage\x1e".to_vec();
        Record::system(6, "fine").encode(&mut wire);
        wire.extend_from_slice(b"1\x1fweb\x1f0\x1fz\x1f6\x1fbad kind\x1e");
        let (back, bad) = Record::decode_all(&wire);
        assert_eq!(bad, 2);
        assert_eq!(back.len(), 1);
        assert_eq!(back[0].line, "fine");
    }

    #[test]
    fn file_lines_carry_every_field() {
        let mut record = Record {
            time: Duration::new(1_700_000_000, 5_000),
            source: "web".into(),
            instance: 1,
            stream: Stream::Stdout,
            line: "hello".into(),
        };
        let mut out = String::new();
        record.file_line(&mut out);
        assert_eq!(out, "2023-11-14T22:13:20.000005Z web.1 stdout hello");
        record.instance = 0;
        record.stream = Stream::System(4);
        out.clear();
        record.file_line(&mut out);
        assert_eq!(out, "2023-11-14T22:13:20.000005Z web warn hello");
    }
}
