//! Which host ports `cairn run` forwards to which guest ports, and whether
//! they are free.

use std::net::TcpListener;

use cairn_manifest::Manifest;

/// One TCP forward from the host's loopback to the guest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Forward {
    /// Who listens in the guest, e.g. "hello" or "web.1 (admin)".
    pub label: String,
    /// The port name in the manifest.
    pub port_name: String,
    pub host: u16,
    pub guest: u16,
}

impl Forward {
    /// What to open on the host: a URL for web-looking ports, an address otherwise.
    pub fn address(&self) -> String {
        if self.port_name.contains("http") || self.port_name == "web" {
            format!("http://127.0.0.1:{}", self.host)
        } else {
            format!("127.0.0.1:{}", self.host)
        }
    }
}

/// Every port of every instance of every app: guest port = base +
/// `system.port_offset` + instance, host port = guest port + `host_offset`.
pub fn plan_forwards(manifest: &Manifest, host_offset: u16) -> Result<Vec<Forward>, String> {
    let mut forwards: Vec<Forward> = Vec::new();
    for (name, app) in &manifest.apps {
        for instance in 0..app.instances {
            for port_name in app.ports.keys() {
                let guest = app
                    .port_for(port_name, manifest.system.port_offset, instance)
                    .and_then(|p| u16::try_from(p).ok())
                    .ok_or_else(|| {
                        format!("app {name} instance {instance}: port {port_name} is above 65535")
                    })?;
                let host = guest.checked_add(host_offset).ok_or_else(|| {
                    format!(
                        "app {name}: guest port {guest} plus --offset {host_offset} is above 65535"
                    )
                })?;
                if forwards.iter().any(|f| f.guest == guest) {
                    continue;
                }
                let mut label = name.clone();
                if instance > 0 {
                    label.push_str(&format!(".{instance}"));
                }
                if app.ports.len() > 1 {
                    label.push_str(&format!(" ({port_name})"));
                }
                forwards.push(Forward {
                    label,
                    port_name: port_name.clone(),
                    host,
                    guest,
                });
            }
        }
    }
    Ok(forwards)
}

/// The control API's port: guest `[control] port`, host that plus
/// `host_offset` when it is free, else any free port (the `--to` address
/// is printed, so nothing depends on the number).
pub fn control_forward(manifest: &Manifest, host_offset: u16) -> Forward {
    let guest = manifest.control.port;
    let wanted = guest.checked_add(host_offset);
    let host = wanted
        .filter(|port| TcpListener::bind(("127.0.0.1", *port)).is_ok())
        .or_else(|| {
            TcpListener::bind(("127.0.0.1", 0))
                .and_then(|l| l.local_addr())
                .ok()
                .map(|a| a.port())
        })
        .unwrap_or(guest);
    Forward {
        label: "control API".to_owned(),
        port_name: "control".to_owned(),
        host,
        guest,
    }
}

/// Fails with a helpful message for the first host port that is taken.
pub fn check_free(forwards: &[Forward]) -> Result<(), String> {
    for forward in forwards {
        if TcpListener::bind(("127.0.0.1", forward.host)).is_err() {
            return Err(format!(
                "host port {} (for {}, guest port {}) is already in use; \
                 shift the host ports with --offset N, e.g. --offset 10000",
                forward.host, forward.label, forward.guest
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn manifest(text: &str) -> Manifest {
        cairn_manifest::parse(text, Path::new("system.toml")).unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn every_instance_and_port_is_forwarded_with_both_offsets() {
        let m = manifest(
            r#"
            version = 1
            [system]
            port_offset = 100
            [apps.web]
            bundle = "web"
            exec = ["/bin/web"]
            instances = 2
            ports = { http = 8080, admin = 9000 }
            [apps.db]
            bundle = "db"
            exec = ["/bin/db"]
            ports.pg = 5432
            "#,
        );
        let forwards = plan_forwards(&m, 1000).unwrap();
        let summary: Vec<_> = forwards
            .iter()
            .map(|f| format!("{}: {} -> {}", f.label, f.address(), f.guest))
            .collect();
        assert_eq!(
            summary,
            [
                "db: 127.0.0.1:6532 -> 5532",
                "web (admin): 127.0.0.1:10100 -> 9100",
                "web (http): http://127.0.0.1:9180 -> 8180",
                "web.1 (admin): 127.0.0.1:10101 -> 9101",
                "web.1 (http): http://127.0.0.1:9181 -> 8181",
            ]
        );
    }

    #[test]
    fn the_control_port_goes_to_a_free_host_port() {
        let m = manifest(
            r#"
            version = 1
            [control]
            port = 7500
            "#,
        );
        let forward = control_forward(&m, 10000);
        assert_eq!(forward.guest, 7500);
        assert_eq!(forward.host, 17500);
        let taken = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = taken.local_addr().unwrap().port();
        let forward = control_forward(&m, port - 7500);
        assert_ne!(forward.host, port, "a taken port is not used");
        assert!(check_free(&[forward]).is_ok());
    }

    #[test]
    fn overflowing_ports_are_errors() {
        let m = manifest(
            r#"
            version = 1
            [apps.web]
            bundle = "web"
            exec = ["/bin/web"]
            ports.http = 65000
            "#,
        );
        let err = plan_forwards(&m, 1000).unwrap_err();
        assert!(err.contains("--offset 1000"), "{err}");
    }

    #[test]
    fn a_taken_port_is_named_with_a_hint() {
        let taken = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = taken.local_addr().unwrap().port();
        let forwards = [Forward {
            label: "web".into(),
            port_name: "http".into(),
            host: port,
            guest: 8080,
        }];
        let err = check_free(&forwards).unwrap_err();
        assert!(err.contains(&format!("host port {port}")), "{err}");
        assert!(err.contains("--offset"), "{err}");
        drop(taken);
        assert!(check_free(&forwards).is_ok());
    }
}
