//! What the control API says to PID 1 and to the update writer, one JSON
//! line each way. Both ends of each conversation are in this workspace;
//! these types are the contract.

use serde::{Deserialize, Serialize};

/// One request to PID 1 over its socket: connect, one line out, one line
/// back, close.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Pid1Request<'a> {
    /// Stop every instance of `app` in order and start it again.
    Restart { app: &'a str },
    /// Reboot at `at` (Unix seconds) or now.
    Reboot { at: Option<i64>, by: &'a str },
    /// Mark the running version's entry bad and reboot into the other bank.
    Rollback { by: &'a str },
    /// Store secret `name`; `value` is its bytes in base64.
    Secret {
        name: &'a str,
        value: &'a str,
        by: &'a str,
    },
    /// A new version was written: reboot into it at `at` or now.
    UpdateReboot {
        at: Option<i64>,
        version: &'a str,
        build: u64,
        by: &'a str,
    },
}

/// PID 1's answer: `{"ok":true}` (a reboot may add `"at"`) or
/// `{"error":"..."}`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Pid1Reply {
    #[serde(default)]
    pub ok: Option<bool>,
    #[serde(default)]
    pub at: Option<i64>,
    #[serde(default)]
    pub error: Option<String>,
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
    fn pid1_requests_are_one_member_objects() {
        let line = |r: &Pid1Request<'_>| serde_json::to_string(r).unwrap();
        assert_eq!(
            line(&Pid1Request::Restart { app: "web" }),
            r#"{"restart":{"app":"web"}}"#
        );
        assert_eq!(
            line(&Pid1Request::Reboot {
                at: None,
                by: "alice"
            }),
            r#"{"reboot":{"at":null,"by":"alice"}}"#
        );
        assert_eq!(
            line(&Pid1Request::UpdateReboot {
                at: Some(5),
                version: "1.4.0",
                build: 8,
                by: "alice"
            }),
            r#"{"update_reboot":{"at":5,"version":"1.4.0","build":8,"by":"alice"}}"#
        );
    }

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
