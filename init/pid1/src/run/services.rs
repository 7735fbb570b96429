//! The system's own services: the control API and the update writer, two
//! commands of the bank's `cairn-control`. PID 1 supervises them beside the
//! apps (restarts, backoff, the breaker, the stop order), so their faults
//! never reach it, and a version whose services cannot stay up fails its
//! health gate like one whose app cannot.
//!
//! Before they start, PID 1 writes what they need to know to
//! `/run/cairn/services.json` (see `cairn-control`'s `config` module for
//! the schema): this boot's facts, where the API's certificates are, where
//! PID 1 writes status, and the writer's targets, the two bank partitions
//! and the ESP, as device nodes PID 1 makes for them.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use cairn_layout::{bank, data, run, services, users};
use cairn_manifest::{App, Health, HealthCheck, Restart};
use cairn_supervisor::json::quote;

use super::records::Side;
use crate::boot::cmdline::Bank;
use crate::boot::partitions::{self, Partition};

/// Room a bundle has beyond its bank image: the kernel, the initramfs and
/// the header. A larger `POST /v1/update` is refused before it is read.
const BUNDLE_ROOM: u64 = 128 << 20;

/// The control API's port name, for its TCP health check.
const API_PORT: &str = "api";

/// What the configuration says of this boot.
#[derive(Debug)]
pub struct Facts<'a> {
    pub hostname: &'a str,
    pub board: &'a str,
    pub me: &'a Side,
    pub bank: Bank,
    /// The control API's port, `port_offset` added (as for every port).
    pub port: u16,
    /// Where the apps' cgroups are (`<cgroup>/cairn/apps`).
    pub cgroup_apps: &'a Path,
}

/// A device node and the size of what it holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub node: PathBuf,
    pub bytes: u64,
}

/// The update writer's targets: both banks, and the ESP.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Targets {
    pub a: Target,
    pub b: Target,
    pub esp: PathBuf,
}

fn target(part: &Partition) -> Result<Target, String> {
    let node = partitions::ensure_node(Path::new("/dev"), &part.devname, part.major, part.minor)
        .map_err(|err| format!("no device node for {}: {err}", part.devname))?;
    Ok(Target {
        node,
        bytes: part.sectors.saturating_mul(512),
    })
}

impl Targets {
    /// The device nodes of the partitions found at boot.
    pub fn find(banks: &[(Bank, Partition)], esp: Option<&Partition>) -> Result<Targets, String> {
        let of = |want: Bank| {
            banks
                .iter()
                .find(|(b, _)| *b == want)
                .ok_or_else(|| format!("partition {} not found", want.partition_name()))
                .and_then(|(_, part)| target(part))
        };
        let esp = esp.ok_or_else(|| "the ESP was not found".to_string())?;
        Ok(Targets {
            a: of(Bank::A)?,
            b: of(Bank::B)?,
            esp: target(esp)?.node,
        })
    }
}

/// Whether this bank ships the services (a bank built without deploying
/// has no `cairn-control`).
pub fn shipped() -> bool {
    Path::new(bank::CONTROL_BIN_PATH).exists()
}

/// The two services as the supervisor runs them, and the uid each runs as
/// (None: root). `port` is the API's before `port_offset`, which the
/// supervisor adds, as it does to apps' ports.
pub fn apps(port: u16) -> (Vec<App>, BTreeMap<String, Option<u32>>) {
    let command = |what: &str| {
        vec![
            bank::CONTROL_BIN_PATH.to_string(),
            what.to_string(),
            "--config".to_string(),
            run::SERVICES_CONFIG.to_string(),
        ]
    };
    let control = App {
        name: services::CONTROL.to_string(),
        exec: command("api"),
        restart: Restart::Always,
        ports: BTreeMap::from([(API_PORT.to_string(), port)]),
        // Ready once it accepts connections; a version whose API never
        // does is not blessed.
        health: Some(Health {
            check: HealthCheck::Tcp {
                port: API_PORT.to_string(),
            },
            interval: Duration::from_secs(5),
            timeout: Duration::from_secs(2),
            grace: Duration::from_secs(60),
        }),
        ..App::default()
    };
    let writer = App {
        name: services::WRITER.to_string(),
        exec: command("writer"),
        restart: Restart::Always,
        // It may be mid-write: give it time to stop between blocks.
        stop_timeout: Duration::from_secs(20),
        ..App::default()
    };
    let uids = BTreeMap::from([
        (control.name.clone(), Some(users::CONTROL_UID)),
        (writer.name.clone(), None),
    ]);
    (vec![control, writer], uids)
}

/// `/run/cairn/services.json`.
pub fn render(facts: &Facts<'_>, targets: &Targets) -> String {
    let q = |path: &str| quote(path);
    let node = |path: &Path| quote(&path.to_string_lossy());
    let me = facts.me;
    let bank_size = targets.a.bytes.min(targets.b.bytes);
    format!(
        concat!(
            "{{\"hostname\":{},\"board\":{},\"version\":{},\"build\":{},\"bank\":{},\n",
            "\"control\":{{\"port\":{},\"ca\":{},\"cert\":{},\"key\":{},\"max_bundle_bytes\":{}}},\n",
            "\"paths\":{{\"status\":{},\"system\":{},\"logs\":{},\"jobs\":{},",
            "\"cgroup_apps\":{},\"proc\":\"/proc\",\"pid1_socket\":{},\"update_socket\":{}}},\n",
            "\"writer\":{{\"update_keys\":{},\"banks\":{{\"a\":{},\"b\":{}}},\"bank_size\":{},",
            "\"esp_device\":{},\"update_dir\":{}}}}}\n",
        ),
        quote(facts.hostname),
        quote(facts.board),
        quote(&me.version),
        me.build.unwrap_or(0),
        quote(&facts.bank.to_string()),
        facts.port,
        q(bank::CONTROL_CA_PATH),
        q(data::IDENTITY_CERT_PATH),
        q(data::IDENTITY_KEY_PATH),
        bank_size.saturating_add(BUNDLE_ROOM),
        q(run::STATUS),
        q(run::SYSTEM),
        q(data::LOGS_PATH),
        q(data::JOBS_PATH),
        node(facts.cgroup_apps),
        q(run::PID1_SOCKET),
        q(run::UPDATE_SOCKET),
        q(bank::UPDATE_KEYS_PATH),
        node(&targets.a.node),
        node(&targets.b.node),
        bank_size,
        node(&targets.esp),
        q(data::UPDATE_PATH),
    )
}

/// Writes the configuration and returns the services to start; none when
/// the bank has no `cairn-control` or the configuration cannot be made
/// (said in the log: the apps still run, the box cannot be deployed to).
pub fn prepare(
    facts: &Facts<'_>,
    base_port: u16,
    banks: &[(Bank, Partition)],
    esp: Option<&Partition>,
) -> (Vec<App>, BTreeMap<String, Option<u32>>) {
    if !shipped() {
        tracing::info!(
            "no control API: this bank was built without {}",
            bank::CONTROL_BIN
        );
        return (Vec::new(), BTreeMap::new());
    }
    let written = Targets::find(banks, esp).and_then(|targets| {
        cairn_sys::fs::write_atomically(
            Path::new(run::SERVICES_CONFIG),
            render(facts, &targets).as_bytes(),
        )
        .map_err(|err| format!("cannot write {}: {err}", run::SERVICES_CONFIG))
    });
    match written {
        Ok(()) => apps(base_port),
        Err(err) => {
            tracing::error!("no control API or updates: {err}");
            (Vec::new(), BTreeMap::new())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts(me: &Side) -> Facts<'_> {
        Facts {
            hostname: "edge-01",
            board: "qemu-x86_64",
            me,
            bank: Bank::B,
            port: 7443,
            cgroup_apps: Path::new("/sys/fs/cgroup/cairn/apps"),
        }
    }

    fn targets() -> Targets {
        Targets {
            a: Target {
                node: PathBuf::from("/dev/vda2"),
                bytes: 256 << 20,
            },
            b: Target {
                node: PathBuf::from("/dev/vda3"),
                bytes: 256 << 20,
            },
            esp: PathBuf::from("/dev/vda1"),
        }
    }

    #[test]
    fn the_configuration_names_this_boot_and_every_path_the_services_use() {
        let me = Side {
            version: "1.4.0".into(),
            build: Some(7),
            bank: "b".into(),
        };
        let text = render(&facts(&me), &targets());
        for expected in [
            "\"hostname\":\"edge-01\"".to_string(),
            "\"version\":\"1.4.0\",\"build\":7,\"bank\":\"b\"".to_string(),
            "\"port\":7443".to_string(),
            format!("\"ca\":{}", quote(bank::CONTROL_CA_PATH)),
            format!("\"key\":{}", quote(data::IDENTITY_KEY_PATH)),
            "\"max_bundle_bytes\":402653184".to_string(),
            "\"banks\":{\"a\":\"/dev/vda2\",\"b\":\"/dev/vda3\"},\"bank_size\":268435456"
                .to_string(),
            "\"esp_device\":\"/dev/vda1\",\"update_dir\"".to_string(),
            format!("\"update_dir\":{}", quote(data::UPDATE_PATH)),
            "\"cgroup_apps\":\"/sys/fs/cgroup/cairn/apps\"".to_string(),
        ] {
            assert!(text.contains(&expected), "{expected} in {text}");
        }
        let parsed: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(parsed["writer"]["banks"]["b"], "/dev/vda3");
    }

    #[test]
    fn the_api_runs_as_its_own_uid_and_the_writer_as_root_both_restarted() {
        let (apps, uids) = apps(9443);
        let names: Vec<&str> = apps.iter().map(|a| a.name.as_str()).collect();
        assert_eq!(names, [services::CONTROL, services::WRITER]);
        assert_eq!(uids[services::CONTROL], Some(users::CONTROL_UID));
        assert_eq!(uids[services::WRITER], None);
        assert!(apps.iter().all(|a| a.restart == Restart::Always));
        assert_eq!(apps[0].ports[API_PORT], 9443);
        assert_eq!(
            apps[1].exec,
            [
                bank::CONTROL_BIN_PATH,
                "writer",
                "--config",
                run::SERVICES_CONFIG
            ]
        );
    }
}
