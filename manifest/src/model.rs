//! The validated, resolved form of a `system.toml` (schema version 1).
//!
//! Everything here has passed validation: names are valid, durations and sizes
//! are parsed, defaults are filled in. Consumers never see raw strings where a
//! typed value is meant.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr};
use std::path::PathBuf;
use std::time::Duration;

use crate::diag::{Diagnostic, Diagnostics, Location};
use crate::locations::{KeyLocation, Locations};
use crate::service::Service;

/// A whole manifest.
#[derive(Debug, Clone, PartialEq)]
pub struct Manifest {
    /// Schema version; always 1 for now.
    pub version: u32,
    pub system: System,
    pub network: Network,
    /// Apps by name, sorted (BTreeMap) so every consumer iterates in the same order.
    pub apps: BTreeMap<String, App>,
    pub logging: Logging,
    pub jobs: BTreeMap<String, Job>,
    pub control: Control,
    pub update: Update,
    /// Services by name, sorted like apps.
    pub services: BTreeMap<String, Service>,
    /// Where each key was written, for errors found after parsing
    /// (see [`Manifest::diagnostic_at`]). Empty for a manifest built in code.
    pub locations: Locations,
}

/// `[system]`
#[derive(Debug, Clone, PartialEq)]
pub struct System {
    /// Default: "cairn".
    pub hostname: String,
    /// IANA zone name. Default: "UTC".
    pub timezone: String,
    /// Added to every port. Default: 0.
    pub port_offset: u16,
}

/// `[control]`: the control API.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Control {
    /// Default 7443.
    pub port: u16,
}

impl Default for Control {
    fn default() -> Self {
        Control {
            port: DEFAULT_CONTROL_PORT,
        }
    }
}

/// The control API's port when `[control] port` is not written.
pub const DEFAULT_CONTROL_PORT: u16 = 7443;

/// `[update]`: how a new version proves itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Update {
    /// A new version must be healthy this soon after its boot, or it is
    /// rolled back. Default 5 minutes.
    pub healthy_within: Duration,
    /// How long an update's reboot waits for apps that hold an update lock.
    /// Default 10 minutes.
    pub lock_timeout: Duration,
}

impl Default for Update {
    fn default() -> Self {
        Update {
            healthy_within: Duration::from_secs(300),
            lock_timeout: Duration::from_secs(600),
        }
    }
}

/// `[network]`
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Network {
    pub interfaces: BTreeMap<String, Interface>,
}

/// `[network.interfaces.NAME]`
#[derive(Debug, Clone, PartialEq)]
pub enum Interface {
    Dhcp,
    Static {
        address: Ipv4Addr,
        prefix_len: u8,
        gateway: Option<Ipv4Addr>,
        dns: Vec<IpAddr>,
    },
}

/// `[apps.NAME]`
#[derive(Debug, Clone, PartialEq)]
pub struct App {
    pub name: String,
    /// Host path as written in the manifest, relative to the manifest's directory.
    pub bundle: PathBuf,
    /// argv; `exec[0]` is a path inside the app's tree. `${ports.NAME}` is kept
    /// unexpanded here; see [`App::expand_exec`].
    pub exec: Vec<String>,
    pub env: BTreeMap<String, String>,
    /// Default 1.
    pub instances: u32,
    pub after: Vec<String>,
    pub restart: Restart,
    /// Default 10s.
    pub stop_timeout: Duration,
    pub sockets: Sockets,
    /// Port name -> base port (before offsets).
    pub ports: BTreeMap<String, u16>,
    /// Path inside the app's tree -> grant.
    pub paths: BTreeMap<String, PathGrant>,
    pub limits: Limits,
    pub health: Option<Health>,
    /// Path inside the app's tree -> the name of a secret stored on the
    /// device, granted read-only.
    pub secrets: BTreeMap<String, String>,
    /// Changes to the default system call filter.
    pub security: Security,
    /// The services and other apps this app connects to, by name, as
    /// written; see [`Manifest::service_env`].
    pub uses: Vec<String>,
}

impl Default for App {
    /// An app with nothing set but the defaults; a name and `exec` make it
    /// one (for code that builds apps, such as tests and job runs).
    fn default() -> Self {
        App {
            name: String::new(),
            bundle: PathBuf::new(),
            exec: Vec::new(),
            env: BTreeMap::new(),
            instances: 1,
            after: Vec::new(),
            restart: Restart::OnFailure,
            stop_timeout: Duration::from_secs(10),
            sockets: Sockets::Bound,
            ports: BTreeMap::new(),
            paths: BTreeMap::new(),
            limits: Limits::default(),
            health: None,
            secrets: BTreeMap::new(),
            security: Security::default(),
            uses: Vec::new(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Restart {
    Always,
    /// The default.
    OnFailure,
    Never,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sockets {
    /// The default: the app binds its declared ports itself.
    Bound,
    /// The OS binds the ports and passes them from fd 3 on.
    Passed,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PathGrant {
    /// Writable, persistent, private to the app.
    State,
    /// A fresh tmpfs.
    Tmpfs,
    /// Shipped in the image from a host path (relative to the manifest).
    Bundle { source: PathBuf, readonly: bool },
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Limits {
    /// Bytes.
    pub memory: Option<u64>,
    pub processes: Option<u32>,
    /// CPUs, e.g. 0.5.
    pub cpu: Option<f64>,
    pub open_files: Option<u64>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Health {
    pub check: HealthCheck,
    /// Default 5s.
    pub interval: Duration,
    /// Default 1s.
    pub timeout: Duration,
    /// Default 30s.
    pub grace: Duration,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HealthCheck {
    /// HTTP GET of this path on the app's first declared port must answer 2xx/3xx.
    Http { path: String },
    /// A TCP connect to this named port must succeed.
    Tcp { port: String },
    /// This command (inside the app's tree) must exit 0.
    Exec { argv: Vec<String> },
}

/// `[logging]`
#[derive(Debug, Clone, PartialEq)]
pub struct Logging {
    /// Default Info.
    pub console: LogLevel,
    pub file: FileSink,
    pub remote: Vec<RemoteSink>,
    /// Lines per second each app (each job) may log; bursts of twice as many.
    /// Default 20000.
    pub rate_limit: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum LogLevel {
    Error,
    Warn,
    Info,
    Debug,
    Trace,
}

/// `[logging.file]`
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileSink {
    /// Bytes. Default 10 MiB.
    pub max_size: u64,
    /// Default 5.
    pub keep: u32,
}

/// `[[logging.remote]]`
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemoteSink {
    pub transport: SyslogTransport,
    pub host: String,
    pub port: u16,
    /// `ca`: host path, as written (relative to the manifest's directory), of
    /// a PEM file of the CA certificates that sign the collector's
    /// certificate. Only ever set for [`SyslogTransport::Tls`]; `None` there
    /// means the builder's default (see docs/manifest.md).
    pub ca: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SyslogTransport {
    Udp,
    Tcp,
    Tls,
}

/// `[jobs.NAME]`
#[derive(Debug, Clone, PartialEq)]
pub struct Job {
    pub name: String,
    /// As written; its syntax has been checked.
    pub schedule: String,
    /// Default: system.timezone.
    pub timezone: String,
    pub bundle: PathBuf,
    pub exec: Vec<String>,
    pub env: BTreeMap<String, String>,
    pub overlap: Overlap,
    pub missed: Missed,
    pub timeout: Option<Duration>,
    pub paths: BTreeMap<String, PathGrant>,
    pub limits: Limits,
    /// Changes to the default system call filter.
    pub security: Security,
}

/// `[apps.NAME.security]` (or a job's): how this app's system call filter
/// differs from the default one (see docs/isolation.md).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Security {
    /// In the order written; each call named once, known to x86_64 Linux.
    pub syscalls: Vec<SyscallChange>,
}

/// One entry of `syscalls`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SyscallChange {
    /// `+name`: allowed, even if the default filter denies it.
    Allow(String),
    /// `-name`: denied with `EPERM`, even if the default filter allows it.
    Deny(String),
}

impl SyscallChange {
    /// The call's name, without its sign.
    pub fn name(&self) -> &str {
        match self {
            SyscallChange::Allow(name) | SyscallChange::Deny(name) => name,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Overlap {
    Skip,
    Queue,
    Allow,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Missed {
    Skip,
    RunOnce,
}

impl Manifest {
    /// Where the value of `key_path` starts in the manifest, if it was
    /// written. Paths are dotted, array elements by index:
    /// `"apps.web.bundle"`, `"apps.web.paths./etc/web"`, `"apps.web.exec.0"`.
    pub fn location(&self, key_path: &str) -> Option<Location> {
        self.locations.value(key_path)
    }

    /// Where the key `key_path` itself is written (`web` in `[apps.web]`).
    pub fn key_location(&self, key_path: &str) -> Option<KeyLocation> {
        self.locations.get(key_path)
    }

    /// An error about `key_path`, located at its value (or, for a key that was
    /// left to its default, at the nearest enclosing key that was written).
    pub fn diagnostic_at(&self, key_path: &str, message: &str, help: Option<&str>) -> Diagnostic {
        self.locations.diagnostic_at(key_path, message, help)
    }

    /// This manifest with `system.port_offset` replaced, as `--offset N` on a
    /// command line does. Fails if a port would go beyond 65535.
    pub fn with_port_offset(mut self, offset: u16) -> Result<Manifest, Diagnostics> {
        let found = crate::cross::check_ports(&self, offset);
        if !found.is_empty() {
            return Err(Diagnostics(found));
        }
        self.system.port_offset = offset;
        Ok(self)
    }
}

impl App {
    /// The port number instance `instance` of this app gets for `port_name`,
    /// given the effective system offset. `None` for an undeclared name.
    pub fn port_for(&self, port_name: &str, offset: u16, instance: u32) -> Option<u32> {
        self.ports
            .get(port_name)
            .map(|base| u32::from(*base) + u32::from(offset) + instance)
    }

    /// `exec` with every `${ports.NAME}` replaced by that port's number for the
    /// given instance and offset. Validation guarantees every NAME is declared.
    pub fn expand_exec(&self, offset: u16, instance: u32) -> Vec<String> {
        self.expand_args(&self.exec, offset, instance)
    }

    /// `args` (e.g. a health check's `exec`) with every `${ports.NAME}`
    /// replaced as in [`App::expand_exec`].
    pub fn expand_args(&self, args: &[String], offset: u16, instance: u32) -> Vec<String> {
        args.iter()
            .map(|arg| {
                let mut out = arg.clone();
                for name in self.ports.keys() {
                    if let Some(port) = self.port_for(name, offset, instance) {
                        out = out.replace(&format!("${{ports.{name}}}"), &port.to_string());
                    }
                }
                out
            })
            .collect()
    }
}
