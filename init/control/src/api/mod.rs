//! `cairn-control api`: the HTTPS control API of `docs/control-api.md`,
//! mutual TLS only, as an unprivileged user.

mod actions;
mod body;
mod facts;
pub mod identity;
pub mod logs;
mod metrics;
mod query;
pub mod routes;
mod server;
mod sources;
mod status;
pub mod tls;
mod update;

use std::sync::Arc;
use std::time::Duration;

use crate::config::{Config, ConfigError};

pub use server::{bind, serve, Server};
pub use sources::{Instance, StatusFile};

/// The bounds every connection is held to. Defaults suit a device; tests
/// shorten them.
#[derive(Debug, Clone)]
pub struct Limits {
    /// A TLS handshake must finish within this.
    pub handshake_timeout: Duration,
    /// A request's head must arrive within this (a slow client's too).
    pub header_timeout: Duration,
    /// The largest request head.
    pub max_header_bytes: usize,
    /// The most header lines of one request.
    pub max_headers: usize,
    /// A small body (reboot, secret) must arrive within this, and an update
    /// must not stall longer than this between two pieces.
    pub body_timeout: Duration,
    /// How long the writer may take after the last byte of a bundle.
    pub writer_timeout: Duration,
    /// Connections served at once; more are closed at once.
    pub max_connections: usize,
    /// How often a followed log is looked at.
    pub follow_poll: Duration,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            handshake_timeout: Duration::from_secs(10),
            header_timeout: Duration::from_secs(10),
            max_header_bytes: 16 * 1024,
            max_headers: 64,
            body_timeout: Duration::from_secs(60),
            writer_timeout: Duration::from_secs(600),
            max_connections: 64,
            follow_poll: Duration::from_millis(200),
        }
    }
}

/// Where the request log goes: standard output on a device, a list in
/// tests.
pub trait LogSink: Send + Sync {
    fn line(&self, line: &str);
}

/// The service's standard output, which PID 1 files as its log.
#[derive(Debug, Clone, Copy, Default)]
pub struct Stdout;

impl LogSink for Stdout {
    fn line(&self, line: &str) {
        crate::log!("{line}");
    }
}

/// What every request handler sees.
pub struct Context {
    pub config: Config,
    pub limits: Limits,
    pub log: Arc<dyn LogSink>,
}

impl Context {
    pub fn new(config: Config) -> Context {
        Context {
            config,
            limits: Limits::default(),
            log: Arc::new(Stdout),
        }
    }
}

impl std::fmt::Debug for Context {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Context")
            .field("config", &self.config)
            .field("limits", &self.limits)
            .finish_non_exhaustive()
    }
}

/// `cairn-control api`: bind the control port on every interface, serve.
pub fn run(config: Config) -> anyhow::Result<()> {
    use anyhow::Context as _;
    if config.control.port <= 1024 {
        return Err(ConfigError::PrivilegedPort {
            port: config.control.port,
        }
        .into());
    }
    let tls = tls::server_config(
        &config.control.ca,
        &config.control.cert,
        &config.control.key,
    )
    .context("loading the control API's certificates")?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("starting the runtime")?;
    runtime.block_on(async move {
        let listener = bind(config.control.port)
            .with_context(|| format!("binding port {}", config.control.port))?;
        crate::log!("listening on port {}", config.control.port);
        let server = Server::new(Context::new(config), tls);
        serve(server, listener).await;
        Ok(())
    })
}
