//! What an app instance is started with: its label, environment, command, and
//! whether it is started again after it exits.
//!
//! The environment is the app's contract with the OS (see the manifest
//! reference): a clean base, then the manifest's `env`, then the variables
//! the OS guarantees (`CAIRN_APP`, `CAIRN_INSTANCE`, `PORT_<NAME>`), which
//! the app's own env cannot override.

use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::io;
use std::os::fd::OwnedFd;
use std::process::{Command, Stdio};

use cairn_manifest::{App, Restart, Sockets};

use super::SupervisorConfig;
use crate::cgroup::{self, RlimitSetting};
use crate::sandbox::writable::WritableCopies;
use crate::sandbox::{self, resources::resources_json, SandboxPaths};
use crate::sys::spawn::{self, ChildSetup};
use cairn_sys::process::ExitStatus;

/// `PORT_<NAME>`: upper case, with `-` (invalid in a shell variable) as `_`.
pub fn port_variable(port: &str) -> String {
    let name: String = port
        .chars()
        .map(|c| {
            if c == '-' {
                '_'
            } else {
                c.to_ascii_uppercase()
            }
        })
        .collect();
    format!("PORT_{name}")
}

/// The complete environment of one instance.
pub fn build_env(app: &App, instance: u32, offset: u16) -> BTreeMap<String, String> {
    let mut env = BTreeMap::new();
    env.insert("PATH".to_string(), "/bin:/usr/bin".to_string());
    env.insert("HOME".to_string(), "/".to_string());
    for (key, value) in &app.env {
        env.insert(key.clone(), value.clone());
    }
    env.insert("CAIRN_APP".to_string(), app.name.clone());
    env.insert("CAIRN_INSTANCE".to_string(), instance.to_string());
    for port in app.ports.keys() {
        if let Some(number) = app.port_for(port, offset, instance) {
            env.insert(port_variable(port), number.to_string());
        }
    }
    if let Some(dir) = sandbox::plan::state_dir(app) {
        env.insert("STATE_DIR".to_string(), dir.to_string());
    }
    env
}

/// Whether an instance that ended with `status` is started again.
pub fn should_restart(policy: Restart, status: ExitStatus) -> bool {
    match policy {
        Restart::Always => true,
        Restart::OnFailure => !status.success(),
        Restart::Never => false,
    }
}

/// The uid (and gid) an app runs as.
pub fn app_uid(name: &str) -> u32 {
    cairn_manifest::app_uid(name)
}

/// How one instance is started: sandboxed (PID 1) or as a plain child (a
/// developer's machine).
#[derive(Debug)]
enum Kind {
    Plain(Box<Plain>),
    Sandboxed(Box<sandbox::Launch>),
}

/// A plain child: the command, and its child setup until the first spawn
/// installs it (after the cgroup and rlimits hook, which must run first).
#[derive(Debug)]
struct Plain {
    command: Command,
    setup: Option<ChildSetup>,
}

/// One instance, ready to [`spawn`](AppCommand::spawn).
#[derive(Debug)]
pub struct AppCommand {
    kind: Kind,
    argv: Vec<String>,
}

/// A started instance: its pid (in PID 1's namespace) and output pipes. A
/// sandboxed instance's pid is its namespace's reaper, which passes TERM and
/// the other stop signals on to the app and exits with the app's status
/// (128 + N for a death by signal N), so stopping and exit accounting treat
/// it as the app itself. Its writable copies are removed when they are
/// dropped, which is done when the instance ends.
#[derive(Debug)]
pub struct Spawned {
    pid: i32,
    pub stdout: Option<OwnedFd>,
    pub stderr: Option<OwnedFd>,
    pub copies: Option<WritableCopies>,
}

impl Spawned {
    pub fn id(&self) -> u32 {
        u32::try_from(self.pid).unwrap_or(0)
    }
}

impl AppCommand {
    /// The expanded argv.
    pub fn argv(&self) -> &[String] {
        &self.argv
    }

    /// Adds (or replaces) one environment variable.
    pub fn env(&mut self, key: impl AsRef<OsStr>, value: impl AsRef<OsStr>) -> &mut AppCommand {
        match &mut self.kind {
            Kind::Plain(plain) => {
                plain.command.env(key, value);
            }
            Kind::Sandboxed(launch) => launch.set_env(
                &key.as_ref().to_string_lossy(),
                &value.as_ref().to_string_lossy(),
            ),
        }
        self
    }

    /// The sandbox setup (PID 1 only).
    pub fn launch_mut(&mut self) -> Option<&mut sandbox::Launch> {
        match &mut self.kind {
            Kind::Sandboxed(launch) => Some(launch),
            Kind::Plain(..) => None,
        }
    }

    /// Puts the instance in the cgroup `join` leads into and makes it take
    /// `rlimits`, both before it execs: a sandboxed child is created in the
    /// cgroup (or joins it before it makes its cgroup namespace), a plain
    /// one joins in its pre-exec hook. Call before [`spawn`](AppCommand::spawn).
    pub fn confine(&mut self, join: Option<cgroup::JoinFds>, rlimits: Vec<RlimitSetting>) {
        match &mut self.kind {
            Kind::Sandboxed(launch) => {
                if let Some(join) = join {
                    launch.set_cgroup(join);
                }
                launch.set_rlimits(rlimits.iter().map(RlimitSetting::raw).collect());
            }
            Kind::Plain(plain) => {
                let procs = join.map(|j| j.procs);
                cgroup::join_and_limit_in_child(&mut plain.command, procs, rlimits);
            }
        }
    }

    pub fn spawn(&mut self) -> io::Result<Spawned> {
        match &mut self.kind {
            Kind::Plain(plain) => {
                if let Some(setup) = plain.setup.take() {
                    spawn::apply(&mut plain.command, setup);
                }
                let mut child = plain.command.spawn()?;
                Ok(Spawned {
                    pid: i32::try_from(child.id()).unwrap_or(i32::MAX),
                    stdout: child.stdout.take().map(OwnedFd::from),
                    stderr: child.stderr.take().map(OwnedFd::from),
                    copies: None,
                })
            }
            Kind::Sandboxed(launch) => {
                let started = launch.spawn()?;
                Ok(Spawned {
                    pid: started.pid,
                    stdout: Some(started.stdout),
                    stderr: Some(started.stderr),
                    copies: started.copies,
                })
            }
        }
    }
}

/// Binds every declared port of an instance (all addresses, SO_REUSEADDR as
/// std does for listeners) for `sockets = "passed"`, in port-name order.
fn bind_ports(app: &App, instance: u32, offset: u16) -> io::Result<Vec<(String, OwnedFd)>> {
    let mut sockets = Vec::new();
    for name in app.ports.keys() {
        let port = app
            .port_for(name, offset, instance)
            .and_then(|p| u16::try_from(p).ok())
            .ok_or_else(|| {
                io::Error::new(
                    io::ErrorKind::InvalidInput,
                    format!("port {name} out of range"),
                )
            })?;
        let listener = std::net::TcpListener::bind(("0.0.0.0", port)).map_err(|e| {
            io::Error::new(e.kind(), format!("cannot bind port {name} ({port}): {e}"))
        })?;
        sockets.push((name.clone(), OwnedFd::from(listener)));
    }
    Ok(sockets)
}

/// The command for one instance, with stdio and child setup in place:
/// stdin from /dev/null, stdout and stderr to pipes PID 1 reads. With
/// `config.chroot` (PID 1) the instance runs in its own namespaces (see
/// [`crate::sandbox`]); otherwise, and for the system's own services, it is
/// a plain child, optionally under the app's (or the service's) uid.
pub fn command(app: &App, instance: u32, config: &SupervisorConfig) -> io::Result<AppCommand> {
    let argv = app.expand_exec(config.port_offset, instance);
    let Some((program, args)) = argv.split_first() else {
        return Err(io::Error::new(io::ErrorKind::InvalidInput, "exec is empty"));
    };
    let env = build_env(app, instance, config.port_offset);
    let service = config.services.get(&app.name);
    if config.chroot && service.is_none() {
        let paths = SandboxPaths {
            apps: config.apps_root.clone(),
            ..config.sandbox.clone()
        };
        let notify = paths.notify.exists().then_some(sandbox::NOTIFY_SOCKET);
        let uid = paths.run_as.unwrap_or_else(|| app_uid(&app.name));
        let resources = resources_json(app, instance, config.port_offset, uid, notify);
        let mut launch = sandbox::prepare(app, instance, &paths, &argv, &env, &resources)?;
        if app.sockets == Sockets::Passed {
            launch.pass_sockets(bind_ports(app, instance, config.port_offset)?);
        }
        return Ok(AppCommand {
            kind: Kind::Sandboxed(Box::new(launch)),
            argv,
        });
    }
    let mut command = Command::new(program);
    command
        .args(args)
        .env_clear()
        .envs(env)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let ids = match service {
        Some(uid) => uid.map(|uid| (uid, uid)),
        None => config.drop_privileges.then(|| {
            let uid = config.sandbox.run_as.unwrap_or_else(|| app_uid(&app.name));
            (uid, uid)
        }),
    };
    let setup = ChildSetup::new(None, ids)?;
    Ok(AppCommand {
        kind: Kind::Plain(Box::new(Plain {
            command,
            setup: Some(setup),
        })),
        argv,
    })
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use cairn_manifest::{Limits, PathGrant};
    use std::path::PathBuf;
    use std::time::Duration;

    pub fn app(name: &str, exec: &[&str]) -> App {
        App {
            name: name.to_string(),
            bundle: PathBuf::from("build").join(name),
            exec: exec.iter().map(|s| s.to_string()).collect(),
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
            secrets: Default::default(),
            security: Default::default(),
            uses: Vec::new(),
        }
    }

    #[test]
    fn environment_follows_the_contract() {
        let mut web = app("web", &["/bin/web"]);
        web.ports.insert("http".to_string(), 8080);
        web.ports.insert("admin-api".to_string(), 9000);
        web.env.insert("RUST_LOG".to_string(), "info".to_string());
        web.env.insert("PATH".to_string(), "/opt/bin".to_string());
        web.env
            .insert("CAIRN_APP".to_string(), "spoofed".to_string());
        let env = build_env(&web, 2, 100);
        let expected: BTreeMap<String, String> = [
            ("CAIRN_APP", "web"),
            ("CAIRN_INSTANCE", "2"),
            ("HOME", "/"),
            ("PATH", "/opt/bin"),
            ("PORT_ADMIN_API", "9102"),
            ("PORT_HTTP", "8182"),
            ("RUST_LOG", "info"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        assert_eq!(env, expected);
    }

    #[test]
    fn restart_decision_table() {
        use ExitStatus::{Code, Signal};
        let cases = [
            (Restart::Always, Code(0), true),
            (Restart::Always, Code(1), true),
            (Restart::Always, Signal(9), true),
            (Restart::OnFailure, Code(0), false),
            (Restart::OnFailure, Code(3), true),
            (Restart::OnFailure, Signal(15), true),
            (Restart::Never, Code(0), false),
            (Restart::Never, Code(1), false),
            (Restart::Never, Signal(11), false),
        ];
        for (policy, status, expected) in cases {
            assert_eq!(
                should_restart(policy, status),
                expected,
                "{policy:?} {status:?}"
            );
        }
    }

    #[test]
    fn command_expands_ports_and_runs_with_exactly_the_contract_env() {
        let mut web = app(
            "web",
            &["/usr/bin/env", "--listen", "0.0.0.0:${ports.http}"],
        );
        web.ports.insert("http".to_string(), 8080);
        let config = SupervisorConfig::host();
        let command = command(&web, 1, &config).unwrap();
        assert_eq!(command.argv(), ["/usr/bin/env", "--listen", "0.0.0.0:8081"]);

        // Run `env` itself (no arguments) to see what a child really gets.
        let mut printer = app("printer", &["/usr/bin/env"]);
        printer.ports.insert("http".to_string(), 8080);
        let out = command_for_test(&printer, 1, &config);
        let mut lines: Vec<&str> = out.lines().collect();
        lines.sort();
        assert_eq!(
            lines,
            [
                "CAIRN_APP=printer",
                "CAIRN_INSTANCE=1",
                "HOME=/",
                "PATH=/bin:/usr/bin",
                "PORT_HTTP=8081"
            ]
        );
    }

    fn command_for_test(app: &App, instance: u32, config: &SupervisorConfig) -> String {
        use std::io::Read;
        let mut spawned = command(app, instance, config).unwrap().spawn().unwrap();
        let mut out = String::new();
        std::fs::File::from(spawned.stdout.take().unwrap())
            .read_to_string(&mut out)
            .unwrap();
        nix::sys::wait::waitpid(nix::unistd::Pid::from_raw(spawned.pid), None).unwrap();
        out
    }

    #[test]
    fn a_service_is_a_plain_child_even_where_apps_are_sandboxed() {
        let mut config = SupervisorConfig::pid1(0);
        config
            .services
            .insert("cairn-control".to_string(), Some(990));
        let control = app("cairn-control", &["/bin/true"]);
        let mut command = command(&control, 0, &config).unwrap();
        assert!(command.launch_mut().is_none(), "a service is not sandboxed");
        assert_eq!(command.argv(), ["/bin/true"]);
    }

    #[test]
    fn state_dir_is_in_the_environment() {
        let mut db = app("db", &["/bin/db"]);
        db.paths.insert("/var/lib/db".to_string(), PathGrant::State);
        db.paths.insert("/tmp".to_string(), PathGrant::Tmpfs);
        let env = build_env(&db, 0, 0);
        assert_eq!(
            env.get("STATE_DIR").map(String::as_str),
            Some("/var/lib/db")
        );
    }
}
