//! The control API's requests to PID 1 (see [`super::control_socket`]):
//! parsed strictly, then carried out by the run loop.

use std::path::Path;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use zeroize::Zeroizing;

use super::Runtime;
use crate::sys::power::PowerAction;

/// The largest secret.
pub const MAX_SECRET: usize = 64 * 1024;

/// How long "now" waits: the reply to the request (and the API's answer to
/// the operator) must leave the box before its services are stopped.
const ANSWER_GRACE_SECS: u64 = 2;

/// When a reboot is to happen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum When {
    Now,
    /// Unix seconds.
    At(u64),
}

/// One request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Request {
    Restart {
        app: String,
        by: String,
    },
    Reboot {
        when: When,
        by: String,
    },
    Rollback {
        by: String,
    },
    Secret {
        name: String,
        /// Wiped when dropped.
        value: Zeroizing<Vec<u8>>,
        by: String,
    },
    UpdateReboot {
        when: When,
        by: String,
    },
}

/// A reboot that waits for its time (and, for an update, for the apps'
/// update locks).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlannedReboot {
    /// Unix seconds.
    pub at: u64,
    pub for_update: bool,
    pub by: String,
    /// An update reboot gives up waiting for update locks at this time.
    pub locks_until: u64,
    /// The locks were already logged as waited for.
    pub told: bool,
}

fn operator(by: &str) -> Result<String, String> {
    let ok = !by.is_empty()
        && by.len() <= 64
        && by
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '@' | '-'));
    ok.then(|| by.to_string())
        .ok_or_else(|| format!("{by:?} is not an operator name"))
}

fn when(text: &str) -> Result<When, String> {
    match text {
        "now" => Ok(When::Now),
        other => other
            .parse()
            .map(When::At)
            .map_err(|_| format!("{other:?} is neither `now` nor unix seconds")),
    }
}

fn hex(text: &str) -> Result<Zeroizing<Vec<u8>>, String> {
    if !text.len().is_multiple_of(2) || text.len() > 2 * MAX_SECRET {
        return Err(format!("a secret is hex of at most {MAX_SECRET} bytes"));
    }
    let digit = |b: u8| match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        _ => None,
    };
    // Its final size from the start: growing would leave unwiped copies.
    let mut value = Zeroizing::new(Vec::with_capacity(text.len() / 2));
    for pair in text.as_bytes().chunks_exact(2) {
        match pair {
            [hi, lo] => match (digit(*hi), digit(*lo)) {
                (Some(hi), Some(lo)) => value.push(hi << 4 | lo),
                _ => return Err("a secret is lowercase hex".to_string()),
            },
            _ => return Err("a secret is lowercase hex".to_string()),
        }
    }
    Ok(value)
}

/// Parses one request line.
pub fn parse(line: &str) -> Result<Request, String> {
    let words: Vec<&str> = line.split(' ').collect();
    match words.as_slice() {
        ["restart", app, by] => Ok(Request::Restart {
            app: (*app).to_string(),
            by: operator(by)?,
        }),
        ["reboot", at, by] => Ok(Request::Reboot {
            when: when(at)?,
            by: operator(by)?,
        }),
        ["rollback", by] => Ok(Request::Rollback { by: operator(by)? }),
        ["secret", name, value, by] => {
            if let Some(rule) = cairn_manifest::secret_name_problem(name) {
                return Err(rule.to_string());
            }
            Ok(Request::Secret {
                name: (*name).to_string(),
                value: hex(value)?,
                by: operator(by)?,
            })
        }
        ["update-reboot", at, by] => Ok(Request::UpdateReboot {
            when: when(at)?,
            by: operator(by)?,
        }),
        _ => Err("unknown request".to_string()),
    }
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

impl Runtime {
    /// Answers the requests that arrived on the control socket.
    pub(super) fn serve_requests(&mut self) {
        let Some(socket) = self.control.as_mut() else {
            return;
        };
        for pending in socket.service(Instant::now()) {
            let reply = match parse(&pending.line) {
                Ok(request) => self.carry_out(request),
                Err(why) => {
                    tracing::warn!("control request refused: {why}");
                    format!("error {why}")
                }
            };
            pending.answer(&reply);
        }
    }

    /// Carries out `request`; the reply line.
    pub(super) fn carry_out(&mut self, request: Request) -> String {
        match request {
            Request::Restart { app, by } => {
                tracing::info!("{by} asks to restart app {app}");
                match self.supervisor.restart_app(&app, Instant::now()) {
                    Ok(_) => "ok".to_string(),
                    Err(why) => format!("error {why}"),
                }
            }
            Request::Reboot { when, by } => self.plan_reboot(when, false, &by),
            Request::UpdateReboot { when, by } => self.plan_reboot(when, true, &by),
            Request::Rollback { by } => {
                tracing::warn!("{by} asks to roll back");
                match self.roll_back() {
                    Ok(()) => "ok".to_string(),
                    Err(why) => format!("error {why}"),
                }
            }
            Request::Secret { name, value, by } => {
                let path = Path::new(cairn_layout::data::SECRETS_PATH).join(&name);
                match cairn_sys::fs::write_atomically_with_mode(&path, &value, 0o600) {
                    Ok(()) => {
                        // Never the value: only that it was set, and by whom.
                        tracing::info!("{by} set secret {name} ({} bytes)", value.len());
                        "ok".to_string()
                    }
                    Err(err) => format!("error cannot store secret {name}: {err}"),
                }
            }
        }
    }

    fn plan_reboot(&mut self, when: When, for_update: bool, by: &str) -> String {
        if self.stopping.is_some() {
            return "error the system is already stopping".to_string();
        }
        let now = unix_now();
        let at = match when {
            When::Now => now + ANSWER_GRACE_SECS,
            When::At(at) => at.max(now + ANSWER_GRACE_SECS),
        };
        let what = if for_update {
            "reboot into the update"
        } else {
            "reboot"
        };
        tracing::info!("{by} asks for a {what} at {at} (in {}s)", at - now);
        self.planned_reboot = Some(PlannedReboot {
            at,
            for_update,
            by: by.to_string(),
            locks_until: at + self.lock_timeout.as_secs(),
            told: false,
        });
        format!("ok {at}")
    }

    /// Reboots when a planned reboot's time has come, an update's reboot
    /// only once no app holds an update lock (or the lock timeout passed).
    pub(super) fn check_planned_reboot(&mut self) {
        let now = unix_now();
        let Some(plan) = self.planned_reboot.as_mut() else {
            return;
        };
        if now < plan.at || self.stopping.is_some() {
            return;
        }
        if plan.for_update && now < plan.locks_until {
            let locks = self.supervisor.update_locks();
            if !locks.is_empty() {
                if !std::mem::replace(&mut plan.told, true) {
                    tracing::info!(
                        "the update's reboot waits for the update locks of {} (at most {}s)",
                        locks.join(", "),
                        plan.locks_until - now
                    );
                }
                return;
            }
        }
        tracing::info!("rebooting as {} asked", plan.by);
        self.planned_reboot = None;
        self.begin_shutdown(PowerAction::Reboot);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_parse_strictly() {
        assert_eq!(
            parse("restart web alice"),
            Ok(Request::Restart {
                app: "web".into(),
                by: "alice".into()
            })
        );
        assert_eq!(
            parse("reboot 1733300000 ci"),
            Ok(Request::Reboot {
                when: When::At(1_733_300_000),
                by: "ci".into()
            })
        );
        assert_eq!(
            parse("update-reboot now alice"),
            Ok(Request::UpdateReboot {
                when: When::Now,
                by: "alice".into()
            })
        );
        assert_eq!(
            parse("secret db-password 733363726574 alice"),
            Ok(Request::Secret {
                name: "db-password".into(),
                value: Zeroizing::new(b"s3cret".to_vec()),
                by: "alice".into()
            })
        );
        assert_eq!(
            parse("rollback alice"),
            Ok(Request::Rollback { by: "alice".into() })
        );
        for bad in [
            "",
            "restart web",
            "restart web alice extra",
            "reboot soon alice",
            "reboot now al ice",
            "secret ../etc 00 alice",
            "secret db 0 alice",
            "secret db zz alice",
            "secret db 0A alice",
            "rollback",
            "format c:",
            "reboot now alice\u{0}",
        ] {
            assert!(parse(bad).is_err(), "{bad:?} was taken");
        }
        let huge = format!("secret db {} alice", "00".repeat(MAX_SECRET + 1));
        assert!(parse(&huge).is_err());
        let largest = format!("secret db {} alice", "00".repeat(MAX_SECRET));
        assert!(parse(&largest).is_ok());
    }
}
