//! The control API's client (`cairn deploy`, `status`, `logs --to`,
//! `rollback`, `reboot`, `restart`, `secret set`), against
//! `docs/control-api.md`.
//!
//! Blocking HTTP/1.1 over rustls, a few hundred lines of our own (with
//! `httparse` for the response head) rather than tokio and hyper: the
//! client makes one call at a time, streams one upload from a file, and
//! reads one response at a time; an async runtime would add a large
//! dependency tree and nothing it uses. The TLS library and its provider
//! are the ones the device's services use.

mod client;
mod deploy;
mod http;
mod identity;
mod status;
mod target;

pub use client::{Client, Written};
pub use deploy::{deploy, DeployEvent, DeployOptions, DeployOutcome};
pub use http::Timeouts;
pub use identity::{Identity, NEEDS as IDENTITY_NEEDS};
pub use status::{render_status, AppState, BankState, LastUpdate, Status, SystemState, VersionRef};
pub use target::{Target, DEFAULT_PORT};

/// What went wrong talking to a device.
#[derive(Debug, thiserror::Error)]
pub enum RemoteError {
    #[error("cannot reach {target}: {detail}; is the device up, and its control port reachable (`cairn run` prints the --to address to use)?")]
    Connect { target: String, detail: String },
    #[error(
        "TLS with {target} failed: {detail}. The device must present a certificate for {name} \
         signed by the project's CA (ca.crt of the identity), and accept this identity's \
         certificate; a device reached by IP address or localhost is checked as {name}"
    )]
    Tls {
        target: String,
        name: String,
        detail: String,
    },
    /// The device answered with an error status; `message` is its `error`.
    #[error("{target} answered {status}: {message}")]
    Refused {
        target: String,
        status: u16,
        message: String,
    },
    #[error("{}: {reason}", path.display())]
    Identity {
        path: std::path::PathBuf,
        reason: String,
    },
    #[error("{0}")]
    Protocol(String),
    #[error("{context}: {error}")]
    Io {
        context: String,
        error: std::io::Error,
    },
}

impl RemoteError {
    /// True for a 4xx answer: the device refused what was asked.
    pub fn is_refusal(&self) -> bool {
        matches!(self, RemoteError::Refused { status, .. } if (400..500).contains(status))
    }

    /// True when the device could not be reached at all (down, rebooting).
    pub fn is_unreachable(&self) -> bool {
        matches!(self, RemoteError::Connect { .. } | RemoteError::Protocol(_))
            || matches!(self, RemoteError::Refused { status, .. } if *status >= 500)
    }
}
