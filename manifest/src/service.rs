//! `[services.NAME]`, validated: the services the built-in balancer offers,
//! and what an app that `uses` them finds in its environment.
//!
//! The balancer itself is a later change; these types are what it (and the
//! builder, and `cairn status`) will read.

use std::path::PathBuf;
use std::time::Duration;

use crate::model::{Limits, Manifest};

/// Apps reach a service by this host name: `web` is `web.service`.
pub const SERVICE_HOST_SUFFIX: &str = ".service";

/// How long a selector may take to answer when `timeout` is not written.
pub const DEFAULT_SELECTOR_TIMEOUT: Duration = Duration::from_millis(5);

/// The longest `selector.timeout`: connections wait for the answer, so a
/// slower selector would be a slower service, not a smarter one.
pub const MAX_SELECTOR_TIMEOUT: Duration = Duration::from_secs(1);

/// How long an on-demand app may sit without a connection when `idle_stop`
/// is not written.
pub const DEFAULT_IDLE_STOP: Duration = Duration::from_secs(600);

/// `[services.NAME]`: one name and one port in front of every instance of
/// an app.
#[derive(Debug, Clone, PartialEq)]
pub struct Service {
    pub name: String,
    /// The app whose instances are the backends.
    pub app: String,
    /// The name of the app's declared port the backends are reached on.
    pub port: String,
    /// The port the OS binds on every interface, before `port_offset`.
    pub listen: u16,
    pub protocol: Protocol,
    pub balance: Balance,
    pub start: Start,
    pub slo: Option<Slo>,
    pub tls: Option<Tls>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    /// The default: connections are forwarded as they are.
    Tcp,
    /// HTTP/1.1: each request is balanced on its own.
    Http,
}

/// `balance`: how a backend is chosen.
#[derive(Debug, Clone, PartialEq)]
pub enum Balance {
    RoundRobin,
    /// The default: the less busy of two backends picked at random.
    LeastLoaded,
    /// The same client goes to the same backend: by its address, or (http
    /// only) by this request header, lower case.
    Hash {
        header: Option<String>,
    },
    /// A program of the user's choosing picks.
    Program(Selector),
}

/// `[services.NAME.selector]`, with `balance = "program"`.
#[derive(Debug, Clone, PartialEq)]
pub struct Selector {
    /// Host path, relative to the manifest, as for an app's `bundle`.
    pub bundle: PathBuf,
    /// argv; `exec[0]` is a path inside the selector's tree.
    pub exec: Vec<String>,
    /// An answer later than this falls back to the default choice. Default 5ms.
    pub timeout: Duration,
    /// Request headers passed to the selector (http only), lower case.
    pub headers: Vec<String>,
    pub limits: Limits,
}

/// `start`: when the app behind the service runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Start {
    /// The default: started at boot, like any app.
    Always,
    /// Started on the service's first connection, stopped after `idle_stop`
    /// without one.
    OnDemand { idle_stop: Duration },
}

/// `slo`: the service is green while `target_percent` of requests (of
/// connections, for tcp) succeed within `within`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Slo {
    pub within: Duration,
    /// More than 0, at most 100: `"99.9%"` is 99.9.
    pub target_percent: f64,
}

/// `tls`: the public side is TLS, terminated by the balancer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tls {
    /// Host path of the certificate chain (PEM), relative to the manifest.
    pub cert: PathBuf,
    /// The name of the secret on the device that holds the private key: a
    /// key never ships in an image.
    pub key: String,
}

impl Service {
    /// `web.service`: the name apps reach this service by.
    pub fn host(&self) -> String {
        format!("{}{SERVICE_HOST_SUFFIX}", self.name)
    }

    /// The port the OS binds for the service under the system's offset.
    pub fn listen_port(&self, offset: u16) -> u32 {
        u32::from(self.listen) + u32::from(offset)
    }

    /// `SERVICE_WEB` for `web`, `SERVICE_API_V2` for `api-v2`.
    pub fn env_name(&self) -> String {
        service_env_name(&self.name)
    }
}

/// The variable that carries service `name`'s address: upper case, `-` as `_`.
pub fn service_env_name(name: &str) -> String {
    format!("SERVICE_{}", name.to_uppercase().replace('-', "_"))
}

impl Manifest {
    /// The services app `app` names in its `uses`, in that order.
    pub fn used_services(&self, app: &str) -> Vec<&Service> {
        let Some(app) = self.apps.get(app) else {
            return Vec::new();
        };
        let mut used: Vec<&Service> = Vec::new();
        for name in &app.uses {
            if let Some(service) = self.services.get(name) {
                if !used.iter().any(|s| s.name == service.name) {
                    used.push(service);
                }
            }
        }
        used
    }

    /// What the OS adds to app `app`'s environment for the services it
    /// uses: `SERVICE_WEB=web.service:80`, the port with `port_offset` added.
    pub fn service_env(&self, app: &str) -> Vec<(String, String)> {
        let offset = self.system.port_offset;
        self.used_services(app)
            .into_iter()
            .map(|s| {
                let address = format!("{}:{}", s.host(), s.listen_port(offset));
                (s.env_name(), address)
            })
            .collect()
    }

    /// The services whose backends are app `app`'s instances.
    pub fn services_of<'m>(&'m self, app: &'m str) -> impl Iterator<Item = &'m Service> + 'm {
        self.services.values().filter(move |s| s.app == app)
    }

    /// When app `app` runs: on demand if its services say so (validation
    /// makes all of an app's services agree), else at boot.
    pub fn app_start(&self, app: &str) -> Start {
        self.services_of(app)
            .map(|s| s.start)
            .find(|s| *s != Start::Always)
            .unwrap_or(Start::Always)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_names_are_upper_case_with_underscores() {
        assert_eq!(service_env_name("web"), "SERVICE_WEB");
        assert_eq!(service_env_name("api-v2"), "SERVICE_API_V2");
    }
}
