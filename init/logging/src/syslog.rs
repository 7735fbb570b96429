//! RFC 5424 syslog messages, and their framing on a stream (RFC 5425/6587
//! octet counting).
//!
//! ```text
//! <PRI>1 TIMESTAMP HOSTNAME APP-NAME PROCID MSGID - MSG
//! ```
//!
//! PRI is facility * 8 + severity: apps log as `user` (1), the system as
//! `daemon` (3), the kernel as `kern` (0). APP-NAME is the app, PROCID the
//! instance number, MSGID the stream (`stdout`, `stderr`, `log`). There is no
//! structured data. The message is UTF-8 without a BOM; every field is
//! limited to the printable US-ASCII the RFC allows.

use std::fmt::Write as _;

use crate::record::{rfc3339, Record, Stream};

/// The longest APP-NAME, HOSTNAME and MSGID the RFC allows.
const APP_NAME_MAX: usize = 48;
const HOSTNAME_MAX: usize = 255;

fn facility(stream: Stream) -> u8 {
    match stream {
        Stream::Stdout | Stream::Stderr => 1,
        Stream::System(_) => 3,
        Stream::Kernel(_) => 0,
    }
}

fn msgid(stream: Stream) -> &'static str {
    match stream {
        Stream::Stdout => "stdout",
        Stream::Stderr => "stderr",
        Stream::System(_) | Stream::Kernel(_) => "log",
    }
}

/// A header field: printable ASCII without spaces, at most `max` characters,
/// `-` when empty.
fn field(text: &str, max: usize) -> String {
    let cleaned: String = text
        .chars()
        .filter(|c| c.is_ascii_graphic())
        .take(max)
        .collect();
    if cleaned.is_empty() {
        "-".to_string()
    } else {
        cleaned
    }
}

/// The RFC 5424 message for `record`, sent from `hostname`.
pub fn format(record: &Record, hostname: &str) -> String {
    let pri = facility(record.stream) * 8 + record.stream.severity();
    let mut out = String::with_capacity(80 + record.line.len());
    let _ = write!(
        out,
        "<{pri}>1 {} {} {} {} {} - ",
        rfc3339(record.time),
        field(hostname, HOSTNAME_MAX),
        field(&record.source, APP_NAME_MAX),
        record.instance,
        msgid(record.stream),
    );
    out.push_str(&record.line);
    out
}

/// Octet-counting framing for TCP and TLS: `LEN SP MSG`.
pub fn frame(message: &str) -> Vec<u8> {
    let mut out = format!("{} ", message.len()).into_bytes();
    out.extend_from_slice(message.as_bytes());
    out
}

/// Splits octet-counted frames off the front of `buf`: the complete
/// messages, and how many bytes they used. For tests and collectors.
pub fn deframe(buf: &[u8]) -> (Vec<String>, usize) {
    let mut messages = Vec::new();
    let mut rest = buf;
    while let Some((body, after)) = split_frame(rest) {
        messages.push(String::from_utf8_lossy(body).into_owned());
        rest = after;
    }
    (messages, buf.len() - rest.len())
}

/// The body of the complete frame at the front of `buf` and the bytes after
/// it; None when the frame is incomplete or its length is not a number.
fn split_frame(buf: &[u8]) -> Option<(&[u8], &[u8])> {
    let space = buf.iter().position(|&b| b == b' ')?;
    let (len, after) = buf.split_at_checked(space)?;
    let len: usize = std::str::from_utf8(len).ok()?.parse().ok()?;
    after.get(1..)?.split_at_checked(len)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn record(stream: Stream, line: &str) -> Record {
        Record {
            time: Duration::new(1_700_000_000, 250_000_000),
            source: "web".into(),
            instance: 1,
            stream,
            line: line.into(),
        }
    }

    #[test]
    fn an_app_line_as_rfc5424() {
        assert_eq!(
            format(&record(Stream::Stdout, "hello wörld"), "edge-01"),
            "<14>1 2023-11-14T22:13:20.250000Z edge-01 web 1 stdout - hello wörld"
        );
        assert_eq!(
            format(&record(Stream::Stderr, "oops"), "edge-01"),
            "<13>1 2023-11-14T22:13:20.250000Z edge-01 web 1 stderr - oops"
        );
    }

    #[test]
    fn system_and_kernel_lines_use_their_facilities() {
        let mut r = record(Stream::System(3), "boom");
        r.source = "cairn".into();
        r.instance = 0;
        assert!(format(&r, "h").starts_with("<27>1 "), "{}", format(&r, "h"));
        r.stream = Stream::Kernel(4);
        assert!(format(&r, "h").starts_with("<4>1 "));
    }

    #[test]
    fn header_fields_are_made_legal() {
        let mut r = record(Stream::Stdout, "x");
        r.source = "a b".repeat(40);
        let text = format(&r, "");
        let parts: Vec<&str> = text.splitn(8, ' ').collect();
        assert_eq!(parts[2], "-", "empty hostname is nil");
        assert_eq!(parts[3].len(), APP_NAME_MAX);
        assert!(!parts[3].contains(' '));
    }

    #[test]
    fn octet_counting_frames_round_trip() {
        let one = frame("<14>1 - - - - - - héllo");
        assert!(
            one.starts_with(b"24 <14>1"),
            "{:?}",
            String::from_utf8_lossy(&one)
        );
        let mut stream = one.clone();
        stream.extend(frame("second\nline"));
        stream.extend_from_slice(b"99 incomplete");
        let (messages, used) = deframe(&stream);
        assert_eq!(messages, ["<14>1 - - - - - - héllo", "second\nline"]);
        assert_eq!(&stream[used..], b"99 incomplete");
    }

    #[test]
    fn a_length_that_is_no_number_or_past_the_end_stops_deframing() {
        for junk in [&b"18446744073709551615 x"[..], b"x1 a", b" a", b"-1 a"] {
            let mut stream = frame("kept");
            stream.extend_from_slice(junk);
            let (messages, used) = deframe(&stream);
            assert_eq!(messages, ["kept"]);
            assert_eq!(&stream[used..], junk);
        }
    }
}
