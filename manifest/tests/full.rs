//! The full example manifest parses to exactly the values it says.

use std::net::{IpAddr, Ipv4Addr};
use std::path::{Path, PathBuf};
use std::time::Duration;

use cairn_manifest::{
    load, Balance, HealthCheck, Interface, KeyLocation, Limits, Location, LogLevel, Missed,
    Overlap, PathGrant, Protocol, Restart, Selector, Service, Slo, Sockets, Start, SyslogTransport,
    Tls,
};

fn fixture() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/full.toml")
}

#[test]
fn system_and_network() {
    let m = load(&fixture()).unwrap();
    assert_eq!(m.version, 1);
    assert_eq!(m.system.hostname, "edge-01");
    assert_eq!(m.system.timezone, "Europe/Berlin");
    assert_eq!(m.system.port_offset, 0);
    assert_eq!(m.network.interfaces["eth0"], Interface::Dhcp);
    assert_eq!(
        m.network.interfaces["eth1"],
        Interface::Static {
            address: Ipv4Addr::new(192, 168, 1, 10),
            prefix_len: 24,
            gateway: Some(Ipv4Addr::new(192, 168, 1, 1)),
            dns: vec![
                IpAddr::V4(Ipv4Addr::new(192, 168, 1, 1)),
                "2001:db8::53".parse().unwrap()
            ],
        }
    );
}

#[test]
fn the_web_app() {
    let m = load(&fixture()).unwrap();
    let web = &m.apps["web"];
    assert_eq!(web.name, "web");
    assert_eq!(web.bundle, PathBuf::from("build/web"));
    assert_eq!(web.exec, ["/bin/web", "--listen", "0.0.0.0:${ports.http}"]);
    assert_eq!(
        web.expand_exec(3, 0),
        ["/bin/web", "--listen", "0.0.0.0:8083"]
    );
    assert_eq!(web.env["RUST_LOG"], "info");
    assert_eq!(web.instances, 1);
    assert_eq!(web.after, ["db"]);
    assert_eq!(web.uses, ["sql", "reports"]);
    assert_eq!(web.restart, Restart::OnFailure);
    assert_eq!(web.stop_timeout, Duration::from_secs(10));
    assert_eq!(web.sockets, Sockets::Bound);
    assert_eq!(web.ports["http"], 8080);
    assert_eq!(web.paths["/var/lib/web"], PathGrant::State);
    assert_eq!(web.paths["/tmp"], PathGrant::Tmpfs);
    assert_eq!(
        web.paths["/etc/web"],
        PathGrant::Bundle {
            source: "config/web".into(),
            readonly: true
        }
    );
    assert_eq!(web.limits.memory, Some(256 << 20));
    assert_eq!(web.limits.processes, Some(64));
    assert_eq!(web.limits.cpu, Some(0.5));
    assert_eq!(web.limits.open_files, Some(1024));
    let health = web.health.as_ref().unwrap();
    assert_eq!(
        health.check,
        HealthCheck::Http {
            path: "/healthz".into()
        }
    );
    assert_eq!(health.interval, Duration::from_secs(5));
    assert_eq!(health.timeout, Duration::from_secs(1));
    assert_eq!(health.grace, Duration::from_secs(30));
    assert_eq!(
        web.secrets.get("/run/secrets/db").map(String::as_str),
        Some("db-password")
    );
}

#[test]
fn the_db_app_has_two_instances_and_passed_sockets() {
    let m = load(&fixture()).unwrap();
    let db = &m.apps["db"];
    assert_eq!(db.instances, 2);
    assert_eq!(db.restart, Restart::Always);
    assert_eq!(db.sockets, Sockets::Passed);
    assert_eq!(db.port_for("sql", 0, 1), Some(5433));
    assert_eq!(
        db.expand_exec(0, 1),
        ["/bin/db", "--port", "5433", "--admin", "9001"]
    );
    let health = db.health.as_ref().unwrap();
    assert_eq!(health.check, HealthCheck::Tcp { port: "sql".into() });
}

#[test]
fn logging_and_jobs() {
    let m = load(&fixture()).unwrap();
    assert_eq!(m.logging.console, LogLevel::Info);
    assert_eq!(m.logging.file.max_size, 10 << 20);
    assert_eq!(m.logging.file.keep, 5);
    assert_eq!(m.logging.rate_limit, 20_000);
    let remotes: Vec<_> = m
        .logging
        .remote
        .iter()
        .map(|r| (r.transport, r.host.as_str(), r.port, r.ca.as_deref()))
        .collect();
    assert_eq!(
        remotes,
        [
            (
                SyslogTransport::Tls,
                "logs.example.net",
                6514,
                Some(Path::new("certs/logs-ca.pem"))
            ),
            (SyslogTransport::Udp, "10.0.0.5", 514, None)
        ]
    );
    let backup = &m.jobs["backup"];
    assert_eq!(backup.name, "backup");
    assert_eq!(backup.schedule, "30 2 * * *");
    assert_eq!(backup.timezone, "Europe/Berlin");
    assert_eq!(backup.bundle, PathBuf::from("build/backup"));
    assert_eq!(backup.exec, ["/bin/backup"]);
    assert_eq!(backup.overlap, Overlap::Skip);
    assert_eq!(backup.missed, Missed::RunOnce);
    assert_eq!(backup.timeout, Some(Duration::from_secs(30 * 60)));
}

#[test]
fn control_and_update() {
    let m = load(&fixture()).unwrap();
    assert_eq!(m.control.port, 7443);
    assert_eq!(m.update.healthy_within, Duration::from_secs(5 * 60));
    assert_eq!(m.update.lock_timeout, Duration::from_secs(10 * 60));
}

#[test]
fn services_and_what_the_apps_that_use_them_find() {
    let m = load(&fixture()).unwrap();
    assert_eq!(
        m.services["web"],
        Service {
            name: "web".into(),
            app: "web".into(),
            port: "http".into(),
            listen: 80,
            protocol: Protocol::Http,
            balance: Balance::Program(Selector {
                bundle: "lb/pick".into(),
                exec: vec!["/bin/pick".into()],
                timeout: Duration::from_millis(5),
                headers: vec!["x-tenant".into()],
                limits: Limits {
                    memory: Some(64 << 20),
                    processes: Some(4),
                    cpu: Some(0.25),
                    open_files: Some(256),
                },
            }),
            start: Start::Always,
            slo: Some(Slo {
                within: Duration::from_millis(200),
                target_percent: 99.0
            }),
            tls: Some(Tls {
                cert: "tls/web.pem".into(),
                key: "web-tls".into()
            }),
        }
    );
    let sql = &m.services["sql"];
    assert_eq!((sql.app.as_str(), sql.port.as_str()), ("db", "sql"));
    assert_eq!((sql.listen, sql.protocol), (6432, Protocol::Tcp));
    assert_eq!(sql.balance, Balance::Hash { header: None });
    assert_eq!(
        (sql.start, sql.slo, sql.tls.clone()),
        (Start::Always, None, None)
    );
    let reports = &m.services["reports"];
    assert_eq!(
        reports.balance,
        Balance::Hash {
            header: Some("x-tenant".into())
        }
    );
    let ten_minutes = Start::OnDemand {
        idle_stop: Duration::from_secs(600),
    };
    assert_eq!(reports.start, ten_minutes);
    assert_eq!(m.app_start("report"), ten_minutes);
    assert_eq!(m.app_start("web"), Start::Always);
    assert_eq!(
        m.service_env("web"),
        [
            ("SERVICE_SQL".to_owned(), "sql.service:6432".to_owned()),
            (
                "SERVICE_REPORTS".to_owned(),
                "reports.service:8000".to_owned()
            ),
        ]
    );
}

#[test]
fn locations_of_keys_survive_parsing() {
    let m = load(&fixture()).unwrap();
    // [apps.web] is on line 17; bundle = "build/web" on line 18.
    assert_eq!(
        m.location("apps.web.bundle"),
        Some(Location {
            line: 18,
            column: 10
        })
    );
    assert_eq!(
        m.key_location("apps.web"),
        Some(KeyLocation {
            key: Location {
                line: 17,
                column: 7
            },
            value: Location {
                line: 17,
                column: 1
            },
        })
    );
    assert_eq!(
        m.location("apps.web.paths./etc/web"),
        Some(Location {
            line: 33,
            column: 14
        })
    );
    assert_eq!(
        m.location("apps.web.exec.0"),
        Some(Location {
            line: 19,
            column: 9
        })
    );
    assert_eq!(
        m.location("logging.remote.1.url"),
        Some(Location {
            line: 81,
            column: 7
        })
    );
    assert_eq!(m.location("apps.nope"), None);
    let d = m.diagnostic_at(
        "apps.web.bundle",
        "bundle `build/web` does not exist",
        Some("build it first"),
    );
    assert_eq!(d.file, fixture());
    assert_eq!((d.line, d.column), (18, 10));
    assert!(d
        .to_string()
        .ends_with(":18:10: error: bundle `build/web` does not exist\n  help: build it first"));
    // A key left to its default is blamed on its table.
    let d = m.diagnostic_at("apps.web.health.nope", "x", None);
    assert_eq!((d.line, d.column), (42, 1));
}

#[test]
fn unreadable_files_are_reported() {
    let missing = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/no-such.toml");
    let err = load(&missing).unwrap_err();
    assert_eq!(err.len(), 1);
    assert_eq!(err.0[0].line, 0);
    assert!(err.to_string().contains("cannot read"), "{err}");
}
