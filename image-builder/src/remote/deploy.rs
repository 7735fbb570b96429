//! `cairn deploy`: upload a bundle, wait for the device to go down and come
//! back, and tell what became of the update.
//!
//! The device reboots into the new version at once (`reboot=now`); PID 1
//! blesses it when every app is healthy, or marks it bad and reboots into
//! the old one. The client sees only the control API, so it watches
//! `GET /v1/status`: a new boot number (or a lost connection followed by
//! an answer) means the device rebooted; `last_update` for the build just
//! sent then says `pending` (keep waiting), `blessed`, `rolled-back` or
//! `did-not-boot`.

use std::path::Path;
use std::time::{Duration, Instant};

use super::client::{Client, Written};
use super::status::{LastUpdate, Status};
use super::RemoteError;

/// How to deploy.
#[derive(Debug, Clone)]
pub struct DeployOptions {
    /// How long to wait for the outcome after the upload.
    pub timeout: Duration,
    /// Between polls.
    pub poll_interval: Duration,
    pub allow_downgrade: bool,
    /// `now`, `no` or an RFC 3339 time.
    pub reboot: String,
}

impl Default for DeployOptions {
    fn default() -> Self {
        DeployOptions {
            timeout: Duration::from_secs(15 * 60),
            poll_interval: Duration::from_secs(2),
            allow_downgrade: false,
            reboot: "now".to_owned(),
        }
    }
}

/// What happened, for the caller to show as it happens.
#[derive(Debug)]
pub enum DeployEvent<'a> {
    /// The device runs this before the upload.
    Before(&'a Status),
    /// Bytes sent so far, of `len`.
    Sent { sent: u64, len: u64 },
    /// The device checked and wrote the bundle.
    Written(&'a Written),
    /// The device stopped answering: it is rebooting.
    Down,
    /// It answers again, from a new boot.
    Up(&'a Status),
    /// The new version runs and is proving itself.
    Pending,
}

/// How it ended.
#[derive(Debug, Clone, PartialEq)]
pub enum DeployOutcome {
    /// The new version runs and is blessed.
    Blessed(Status),
    /// The new version was rolled back, or never booted.
    RolledBack(LastUpdate, Status),
    /// Written; the device reboots into it later (`--reboot`).
    Scheduled(Written),
    /// No outcome within the timeout.
    TimedOut {
        last: Option<Status>,
        rebooted: bool,
    },
}

/// Uploads the bundle at `bundle` and waits for the outcome.
pub fn deploy(
    client: &Client,
    bundle: &Path,
    options: &DeployOptions,
    events: &mut dyn FnMut(DeployEvent<'_>),
) -> Result<DeployOutcome, RemoteError> {
    let before = client.status()?;
    events(DeployEvent::Before(&before));
    let len = std::fs::metadata(bundle)
        .map_err(|error| RemoteError::Io {
            context: format!("cannot read {}", bundle.display()),
            error,
        })?
        .len();
    let query = format!(
        "?allow_downgrade={}&reboot={}",
        options.allow_downgrade,
        encode_query(&options.reboot)
    );
    let written = client.update(bundle, &query, &mut |sent| {
        events(DeployEvent::Sent { sent, len })
    })?;
    events(DeployEvent::Written(&written));
    if options.reboot != "now" {
        return Ok(DeployOutcome::Scheduled(written));
    }
    wait(client, &before, written.build, options, events)
}

fn wait(
    client: &Client,
    before: &Status,
    build: u64,
    options: &DeployOptions,
    events: &mut dyn FnMut(DeployEvent<'_>),
) -> Result<DeployOutcome, RemoteError> {
    let deadline = Instant::now() + options.timeout;
    let mut down = false;
    let mut up = false;
    let mut pending = false;
    let mut last = None;
    while Instant::now() < deadline {
        std::thread::sleep(options.poll_interval);
        let status = match client.poll_status() {
            Ok(status) => status,
            Err(e) if e.is_unreachable() => {
                if !down {
                    down = true;
                    events(DeployEvent::Down);
                }
                continue;
            }
            Err(e) => return Err(e),
        };
        let rebooted = down
            || matches!((before.system.boot, status.system.boot), (Some(a), Some(b)) if a != b)
            || matches!(
                (before.system.uptime_s, status.system.uptime_s),
                (Some(a), Some(b)) if b < a
            );
        if !rebooted {
            // Still stopping its apps before the reboot.
            last = Some(status);
            continue;
        }
        if !up {
            up = true;
            events(DeployEvent::Up(&status));
        }
        if let Some(outcome) = judge(&status, build) {
            return Ok(outcome);
        }
        if !pending {
            pending = true;
            events(DeployEvent::Pending);
        }
        last = Some(status);
    }
    Ok(DeployOutcome::TimedOut {
        last,
        rebooted: down || up,
    })
}

/// The outcome `status` shows for `build`, if it shows one yet.
fn judge(status: &Status, build: u64) -> Option<DeployOutcome> {
    let update = status
        .last_update
        .as_ref()
        .filter(|u| u.to.as_ref().and_then(|t| t.build) == Some(build));
    match update.map(|u| u.outcome.as_str()) {
        Some("blessed") => Some(DeployOutcome::Blessed(status.clone())),
        Some("rolled-back" | "did-not-boot") => Some(DeployOutcome::RolledBack(
            update.cloned().unwrap_or_default(),
            status.clone(),
        )),
        Some(_) => None,
        // No record of this update (yet): the running system says enough
        // when it is the new build and blessed.
        None if status.system.build == Some(build) && status.system.blessed => {
            Some(DeployOutcome::Blessed(status.clone()))
        }
        None => None,
    }
}

fn encode_query(text: &str) -> String {
    text.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::remote::status::VersionRef;

    fn status(build: u64, blessed: bool, outcome: Option<(&str, u64)>) -> Status {
        let mut s = Status::default();
        s.system.build = Some(build);
        s.system.blessed = blessed;
        s.last_update = outcome.map(|(outcome, to)| LastUpdate {
            outcome: outcome.to_owned(),
            to: Some(VersionRef {
                version: None,
                build: Some(to),
            }),
            ..LastUpdate::default()
        });
        s
    }

    #[test]
    fn only_the_outcome_of_this_build_counts() {
        // An old rollback (of build 5) says nothing of build 8.
        assert_eq!(judge(&status(7, true, Some(("rolled-back", 5))), 8), None);
        assert_eq!(judge(&status(8, false, Some(("pending", 8))), 8), None);
        assert!(matches!(
            judge(&status(8, true, Some(("blessed", 8))), 8),
            Some(DeployOutcome::Blessed(_))
        ));
        assert!(matches!(
            judge(&status(7, true, Some(("did-not-boot", 8))), 8),
            Some(DeployOutcome::RolledBack(..))
        ));
        // No record yet, but the new build runs blessed.
        assert!(matches!(
            judge(&status(8, true, None), 8),
            Some(DeployOutcome::Blessed(_))
        ));
        assert_eq!(judge(&status(7, true, None), 8), None);
    }
}
