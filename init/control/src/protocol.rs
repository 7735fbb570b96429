//! What the control API says to PID 1 (one text line each way) and to the
//! update writer (one JSON line each way). Both ends of each conversation
//! are in this workspace; these types are the contract.

use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

/// One request to PID 1 over its socket: connect, one line out, one line
/// back, close. The line is PID 1's small text protocol (see
/// docs/control-api.md, "Inside the device"): words separated by one
/// space, the operator's name last, for PID 1's log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Pid1Request<'a> {
    /// Stop every instance of `app` in order and start it again.
    Restart { app: &'a str, by: &'a str },
    /// Reboot at `at` (Unix seconds) or now.
    Reboot { at: Option<i64>, by: &'a str },
    /// Mark the running version's entry bad and reboot into the other bank.
    Rollback { by: &'a str },
    /// Store secret `name` with these bytes.
    Secret {
        name: &'a str,
        value: &'a [u8],
        by: &'a str,
    },
    /// A new version was written: reboot into it at `at` or now (after
    /// the apps' update locks).
    UpdateReboot { at: Option<i64>, by: &'a str },
}

/// An operator's name as PID 1 takes it: 1 to 64 of ASCII letters,
/// digits, `.`, `_`, `@` and `-`; anything else in a certificate's name
/// becomes `_`.
pub fn operator_word(name: &str) -> String {
    let word: String = name
        .chars()
        .take(64)
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '@' | '-') {
                c
            } else {
                '_'
            }
        })
        .collect();
    if word.is_empty() {
        "unnamed".to_string()
    } else {
        word
    }
}

fn when(at: Option<i64>) -> String {
    match at {
        Some(at) => at.max(0).to_string(),
        None => "now".to_string(),
    }
}

impl Pid1Request<'_> {
    /// The request line, newline included. It may hold a secret, so it is
    /// wiped when dropped.
    pub fn line(&self) -> Zeroizing<String> {
        let mut line = Zeroizing::new(String::new());
        match self {
            Pid1Request::Restart { app, by } => {
                line.push_str(&format!("restart {app} {}", operator_word(by)));
            }
            Pid1Request::Reboot { at, by } => {
                line.push_str(&format!("reboot {} {}", when(*at), operator_word(by)));
            }
            Pid1Request::Rollback { by } => {
                line.push_str(&format!("rollback {}", operator_word(by)));
            }
            Pid1Request::Secret { name, value, by } => {
                line.reserve(value.len() * 2 + name.len() + 80);
                line.push_str("secret ");
                line.push_str(name);
                line.push(' ');
                for byte in value.iter() {
                    line.push(char::from(HEX[usize::from(byte >> 4)]));
                    line.push(char::from(HEX[usize::from(byte & 0xf)]));
                }
                line.push(' ');
                line.push_str(&operator_word(by));
            }
            Pid1Request::UpdateReboot { at, by } => {
                line.push_str(&format!(
                    "update-reboot {} {}",
                    when(*at),
                    operator_word(by)
                ));
            }
        }
        line.push('\n');
        line
    }
}

const HEX: &[u8; 16] = b"0123456789abcdef";

/// PID 1's answer: `ok`, `ok <unix seconds>` (when a reboot will happen)
/// or `error <what is wrong>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Pid1Reply {
    Ok { at: Option<i64> },
    Error(String),
}

impl Pid1Reply {
    /// Parses one reply line (without its newline); None if it is not one.
    pub fn parse(line: &str) -> Option<Pid1Reply> {
        if line == "ok" {
            return Some(Pid1Reply::Ok { at: None });
        }
        if let Some(at) = line.strip_prefix("ok ") {
            return at.parse().ok().map(|at| Pid1Reply::Ok { at: Some(at) });
        }
        line.strip_prefix("error ")
            .filter(|why| !why.is_empty())
            .map(|why| Pid1Reply::Error(why.to_string()))
    }
}

/// The first line on the writer's socket; the bundle's bytes follow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UpdateRequest {
    pub allow_downgrade: bool,
    /// The bundle's length when the client knows it (a `Content-Length`).
    pub length: Option<u64>,
}

/// Why the writer refused or failed, so the API can pick a status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Problem {
    /// Another update is being written.
    Busy,
    /// A well-formed request the writer cannot read (its first line).
    Request,
    /// The bundle is damaged, truncated, or signed by no trusted key.
    Bundle,
    /// A sound bundle this device does not take (board, build, size).
    Policy,
    /// Not enough room on the ESP.
    Space,
    /// The device itself failed (I/O, mounting).
    System,
}

/// The writer's answers, one JSON line each: `verified`, any number of
/// `progress`, then exactly one of `done`, `refused` (nothing was written)
/// or `failed` (writing had begun; no entry for the target bank exists).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case", deny_unknown_fields)]
pub enum WriterEvent {
    Verified {
        version: String,
        build: u64,
        board: String,
        signed_by: Vec<String>,
    },
    Progress {
        payload: String,
        written: u64,
        total: u64,
    },
    Done {
        version: String,
        build: u64,
        entry: String,
    },
    Refused {
        error: String,
        problem: Problem,
    },
    Failed {
        error: String,
        problem: Problem,
    },
}

impl WriterEvent {
    /// The event as one line, newline included.
    pub fn to_line(&self) -> Vec<u8> {
        // Serialising these plain types cannot fail; an empty object would
        // be read as a malformed line, never as success.
        let mut line = serde_json::to_vec(self).unwrap_or_else(|_| b"{}".to_vec());
        line.push(b'\n');
        line
    }

    pub fn is_final(&self) -> bool {
        matches!(
            self,
            WriterEvent::Done { .. } | WriterEvent::Refused { .. } | WriterEvent::Failed { .. }
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writer_events_are_tagged_lines() {
        let done = WriterEvent::Done {
            version: "1.4.0".into(),
            build: 8,
            entry: "cairn-0000000008-1.4.0+3-0.conf".into(),
        };
        let line = done.to_line();
        assert_eq!(
            std::str::from_utf8(&line).unwrap(),
            "{\"event\":\"done\",\"version\":\"1.4.0\",\"build\":8,\"entry\":\"cairn-0000000008-1.4.0+3-0.conf\"}\n"
        );
        let back: WriterEvent = serde_json::from_slice(&line).unwrap();
        assert_eq!(back, done);
        assert!(back.is_final());
        let refused: WriterEvent = serde_json::from_str(
            r#"{"event":"refused","error":"an update is already running","problem":"busy"}"#,
        )
        .unwrap();
        assert!(refused.is_final());
    }
}
