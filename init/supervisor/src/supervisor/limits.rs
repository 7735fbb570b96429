//! Each instance's limits, applied: its own cgroup with `[apps.X.limits]`
//! written into it, its rlimits, and the port guard that refuses every port
//! it did not declare.
//!
//! Before an instance starts, PID 1 creates its leaf
//! (`/sys/fs/cgroup/cairn/apps/<app>/<instance>`, see [`crate::cgroup`]),
//! writes `memory.max`, `pids.max` and `cpu.max`, attaches the port guard
//! ([`crate::portguard`]) allowing exactly the instance's ports, and hands
//! the leaf's `cgroup.procs` to the child, which joins it before it execs.
//! The leaf lives as long as the instance: when the instance ends, whatever
//! is left in it is killed, the kernel's counters say whether a limit was
//! hit (`memory.events` `oom_kill`, `pids.events` `max`), and the leaf is
//! removed.
//!
//! Without a cgroup hierarchy (a developer's machine, or a kernel without
//! cgroup v2) instances start all the same: each limit that cannot be
//! enforced is named once in a warning when the supervisor starts.

use std::io;

use cairn_manifest::{App, Limits};

use super::app::{self, AppCommand, Spawned};
use super::{Supervisor, SupervisorConfig};
use crate::cgroup::{self, Controller, Events, InstanceCgroup, RlimitSetting};
use crate::portguard::{self, PortGuard};

/// What keeps one running instance in its limits.
#[derive(Debug)]
pub struct Confinement {
    cgroup: InstanceCgroup,
    /// None when the guard could not be attached (warned about).
    guard: Option<PortGuard>,
}

impl Confinement {
    /// Creates the leaf of instance `instance` of `app` with its limits and
    /// attaches the port guard. None when there is no cgroup hierarchy.
    /// `guard_warned` is set once a failing guard has been warned about, so
    /// the warning is given once, not at every start.
    pub fn create(
        app: &App,
        instance: u32,
        config: &SupervisorConfig,
        guard_warned: &mut bool,
    ) -> io::Result<Option<Confinement>> {
        let Some(root) = &config.cgroups else {
            return Ok(None);
        };
        let cgroup = root
            .create_instance(&app.name, instance, &app.limits)
            .map_err(|err| io::Error::other(err.to_string()))?;
        let ports = allowed_ports(app, config.port_offset, instance);
        let guard = match portguard::guard_cgroup_fd(cgroup.dir_fd(), &ports) {
            Ok(guard) => Some(guard),
            Err(err) => {
                if !std::mem::replace(guard_warned, true) {
                    tracing::warn!("apps may bind undeclared ports: port guard failed: {err}");
                }
                None
            }
        };
        Ok(Some(Confinement { cgroup, guard }))
    }

    /// Makes `command` join this instance's cgroup before it execs.
    pub fn apply(&self, command: &mut AppCommand, rlimits: Vec<RlimitSetting>) -> io::Result<()> {
        command.confine(Some(self.cgroup.join_fds()?), rlimits);
        Ok(())
    }

    /// Kills whatever is left of the instance (orphans that escaped its
    /// process group, a health check under way).
    pub fn kill_all(&self) {
        if let Err(err) = self.cgroup.kill_all() {
            tracing::warn!("{err}");
        }
    }

    /// Ends the confinement of an instance that has exited: reads the
    /// kernel's counters, kills what is left, detaches the guard and removes
    /// the leaf. Returns the kernel's counters.
    pub fn release(self) -> Events {
        let events = self.cgroup.events();
        self.kill_all();
        if let Some(guard) = self.guard {
            // Removing the leaf drops the guard as well; detaching first
            // only matters when the leaf cannot be removed.
            if let Err(err) = guard.detach() {
                tracing::debug!("{err}");
            }
        }
        if let Err(err) = self.cgroup.remove() {
            // The next start of the instance takes the leaf over and
            // empties it first.
            tracing::warn!("{err}");
        }
        events
    }
}

impl Supervisor {
    /// Ends the confinement of instance `n`, which has exited; when a limit
    /// had a hand in its end, logs which and returns it.
    pub(super) fn release_confinement(&mut self, n: usize) -> Option<String> {
        let inst = self.instances.get_mut(n)?;
        let events = inst.confinement.take()?.release();
        let cause = describe(events, &self.apps.get(inst.app)?.limits)?;
        tracing::warn!("app {}: {cause}", inst.label);
        Some(cause)
    }

    /// Kills everything in instance `n`'s cgroup, wherever it forked to.
    pub(super) fn kill_cgroup(&self, n: usize) {
        if let Some(confinement) = self.instances.get(n).and_then(|i| i.confinement.as_ref()) {
            confinement.kill_all();
        }
    }
}

/// Starts instance `instance` of `app`: its command (with NOTIFY_SOCKET when
/// the supervisor has one), its cgroup and port guard, its rlimits. Returns
/// the started instance and what confines it (None without cgroups); on
/// failure nothing is left behind.
pub fn spawn_instance(
    app: &App,
    instance: u32,
    config: &SupervisorConfig,
    guard_warned: &mut bool,
) -> io::Result<(Spawned, Option<Confinement>)> {
    let mut command = app::command(app, instance, config)?;
    if let Some(path) = &config.notify_socket {
        command.env("NOTIFY_SOCKET", path);
    }
    // The system's own services live in PID 1's cgroup, as the logger does.
    let confinement = if config.services.contains_key(&app.name) {
        None
    } else {
        Confinement::create(app, instance, config, guard_warned)?
    };
    let rlimits = rlimits(app);
    let spawned = match &confinement {
        Some(confinement) => confinement
            .apply(&mut command, rlimits)
            .and_then(|()| command.spawn()),
        None => {
            command.confine(None, rlimits);
            command.spawn()
        }
    };
    match spawned {
        Ok(spawned) => Ok((spawned, confinement)),
        Err(err) => {
            if let Some(confinement) = confinement {
                confinement.release();
            }
            Err(err)
        }
    }
}

/// The ports instance `instance` of `app` may bind: each declared port +
/// `offset` + `instance` (port 0 is always allowed by the guard).
pub fn allowed_ports(app: &App, offset: u16, instance: u32) -> Vec<u16> {
    let mut ports: Vec<u16> = app
        .ports
        .keys()
        .filter_map(|name| app.port_for(name, offset, instance))
        .filter_map(|port| u16::try_from(port).ok())
        .collect();
    ports.sort_unstable();
    ports.dedup();
    ports
}

/// The rlimits an instance gets (see [`cgroup::rlimits_for`]). Unprivileged
/// (a developer's machine), a process cannot raise its hard limit, so an
/// `open_files` above it is lowered to it, with a warning, instead of
/// failing every start.
pub fn rlimits(app: &App) -> Vec<RlimitSetting> {
    let mut settings = cgroup::rlimits_for(&app.limits);
    if nix::unistd::geteuid().is_root() {
        return settings;
    }
    let Ok((_, hard)) = nix::sys::resource::getrlimit(nix::sys::resource::Resource::RLIMIT_NOFILE)
    else {
        return settings;
    };
    for setting in &mut settings {
        if setting.resource == nix::sys::resource::Resource::RLIMIT_NOFILE && setting.hard > hard {
            tracing::warn!(
                "app {}: open_files {} is above this machine's limit; using {hard}",
                app.name,
                setting.hard
            );
            setting.soft = hard;
            setting.hard = hard;
        }
    }
    settings
}

/// Why an instance died, when a limit had a hand in it: `out of memory
/// (memory = 32 MiB), oom-killed 2 processes`, `hit its process limit
/// (processes = 16), 3 forks refused`. None when no limit was hit.
pub fn describe(events: Events, limits: &Limits) -> Option<String> {
    let mut causes = Vec::new();
    if events.oom_kills > 0 {
        let limit = limits.memory.map_or_else(
            || "no memory limit of its own".to_string(),
            |bytes| format!("memory = {}", cairn_manifest::format_size(bytes)),
        );
        causes.push(format!(
            "out of memory ({limit}), oom-killed {}",
            plural(events.oom_kills, "process", "processes")
        ));
    }
    if events.pids_max > 0 {
        let limit = limits
            .processes
            .map_or_else(|| "pids.max".to_string(), |n| format!("processes = {n}"));
        causes.push(format!(
            "hit its process limit ({limit}), {} refused",
            plural(events.pids_max, "fork", "forks")
        ));
    }
    (!causes.is_empty()).then(|| causes.join("; "))
}

fn plural(count: u64, one: &str, many: &str) -> String {
    if count == 1 {
        format!("1 {one}")
    } else {
        format!("{count} {many}")
    }
}

/// What a controller limits, for warnings.
fn limit_name(controller: Controller) -> &'static str {
    match controller {
        Controller::Cpu => "cpu",
        Controller::Memory => "memory",
        Controller::Pids => "process",
    }
}

/// Whether `limits` sets what `controller` enforces.
fn sets(limits: &Limits, controller: Controller) -> bool {
    match controller {
        Controller::Cpu => limits.cpu.is_some(),
        Controller::Memory => limits.memory.is_some(),
        Controller::Pids => limits.processes.is_some(),
    }
}

/// One warning per limit the manifest sets that this machine cannot enforce,
/// naming the apps that set it and why; and one for the port guard when
/// there is no cgroup to attach it to.
pub fn unenforced_warnings(config: &SupervisorConfig, apps: &[App]) -> Vec<String> {
    let mut warnings = Vec::new();
    for controller in Controller::ALL {
        let names: Vec<&str> = apps
            .iter()
            .filter(|a| sets(&a.limits, controller))
            .map(|a| a.name.as_str())
            .collect();
        if names.is_empty() {
            continue;
        }
        let why = match &config.cgroups {
            None => Some("no cgroup v2 hierarchy".to_string()),
            Some(root) => root
                .unavailable()
                .iter()
                .find(|u| u.controller == controller)
                .map(|u| {
                    format!(
                        "the {} controller is unavailable: {}",
                        u.controller, u.reason
                    )
                }),
        };
        if let Some(why) = why {
            warnings.push(format!(
                "{} limits of {} not enforced: {why}",
                limit_name(controller),
                names.join(", ")
            ));
        }
    }
    if config.cgroups.is_none() && !apps.is_empty() {
        warnings.push("undeclared ports not refused: no cgroup v2 hierarchy".to_string());
    }
    warnings
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::supervisor::app::tests::app;

    #[test]
    fn ports_are_offset_per_instance() {
        let mut web = app("web", &["/bin/web"]);
        web.ports.insert("http".to_string(), 8080);
        web.ports.insert("admin".to_string(), 9000);
        assert_eq!(allowed_ports(&web, 0, 0), vec![8080, 9000]);
        assert_eq!(allowed_ports(&web, 100, 2), vec![8182, 9102]);
        assert!(allowed_ports(&app("quiet", &["/bin/q"]), 0, 0).is_empty());
    }

    #[test]
    fn describes_the_limit_that_was_hit() {
        let limits = Limits {
            memory: Some(32 << 20),
            processes: Some(16),
            ..Limits::default()
        };
        assert_eq!(describe(Events::default(), &limits), None);
        let oom = Events {
            oom_kills: 1,
            pids_max: 0,
        };
        assert_eq!(
            describe(oom, &limits).as_deref(),
            Some("out of memory (memory = 32 MiB), oom-killed 1 process")
        );
        let both = Events {
            oom_kills: 2,
            pids_max: 3,
        };
        assert_eq!(
            describe(both, &limits).as_deref(),
            Some(
                "out of memory (memory = 32 MiB), oom-killed 2 processes; \
                 hit its process limit (processes = 16), 3 forks refused"
            )
        );
        let unlimited = Events {
            oom_kills: 1,
            pids_max: 1,
        };
        assert_eq!(
            describe(unlimited, &Limits::default()).as_deref(),
            Some(
                "out of memory (no memory limit of its own), oom-killed 1 process; \
                 hit its process limit (pids.max), 1 fork refused"
            )
        );
    }

    #[test]
    fn without_cgroups_each_limit_set_is_warned_about_once() {
        let mut hog = app("hog", &["/bin/hog"]);
        hog.limits.memory = Some(1 << 20);
        hog.limits.open_files = Some(64);
        let mut bomb = app("bomb", &["/bin/bomb"]);
        bomb.limits.processes = Some(4);
        bomb.limits.memory = Some(1 << 20);
        let plain = app("plain", &["/bin/plain"]);
        let warnings = unenforced_warnings(&SupervisorConfig::host(), &[hog, bomb, plain]);
        assert_eq!(
            warnings,
            [
                "memory limits of hog, bomb not enforced: no cgroup v2 hierarchy",
                "process limits of bomb not enforced: no cgroup v2 hierarchy",
                "undeclared ports not refused: no cgroup v2 hierarchy",
            ]
        );
        assert!(unenforced_warnings(&SupervisorConfig::host(), &[]).is_empty());
    }

    #[test]
    fn open_files_stays_as_written_when_privileged_or_below_the_hard_limit() {
        let mut web = app("web", &["/bin/web"]);
        web.limits.open_files = Some(16);
        let settings = rlimits(&web);
        let nofile = settings
            .iter()
            .find(|s| s.resource == nix::sys::resource::Resource::RLIMIT_NOFILE)
            .unwrap();
        assert_eq!((nofile.soft, nofile.hard), (16, 16));
    }
}
