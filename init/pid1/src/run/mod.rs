//! The run loop: PID 1's life after boot, steps 7 to 9 of "PID 1, in order"
//! in docs/architecture.md.
//!
//! One poll covers the apps' output pipes (inside the supervisor), the
//! signalfd, the power buttons, the logger's socket and the kernel's log (see
//! [`crate::log::hub`]) and, while lines wait, the console. Each round
//! reaps, restarts, marks readiness; blesses the boot when every app is ready
//! (and green where it has a health check), or says why it will not when an
//! app turned red first; and turns signals and button presses into a power-off or reboot, which
//! stops the apps while this same loop keeps running (so their last output
//! and a hammered Ctrl-Alt-Del are still seen). Before the final steps of a
//! shutdown, the logger is given a moment to write everything to disk.

mod control_socket;
pub(crate) mod crash;
mod deploy;
pub(crate) mod power;
mod records;
mod requests;
mod services;
pub(crate) mod shutdown;
mod sink;
mod system_file;
mod update_gate;

use std::os::fd::{AsFd, OwnedFd};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use nix::poll::PollFlags;

use cairn_supervisor::cgroup::CgroupRoot;
use cairn_supervisor::jobs::{Jobs, JobsConfig};
use cairn_supervisor::portguard;
use cairn_supervisor::{Supervisor, SupervisorConfig, Watch};

use self::power::{signal_meaning, CadCounter, SignalMeaning};
use self::sink::Pid1Sink;
use cairn_update::entries::EntryName;

use self::control_socket::ControlSocket;
use self::records::Side;
use self::requests::PlannedReboot;
use self::update_gate::Gate;
use crate::boot::entries::Listed;
use crate::boot::mounts::MountTable;
use crate::boot::partitions::Partition;
use crate::boot::{clock, Booted};
use crate::log::{console, hub};
use crate::sys::input::PowerButtons;
use crate::sys::power::PowerAction;
use crate::sys::signals::Signals;

/// Longest wait of one round: reaping happens at least this often.
const ROUND: Duration = Duration::from_secs(1);
/// How long the logger gets at shutdown to write what it was sent.
const LOGGER_FLUSH: Duration = Duration::from_secs(3);
/// Where the cgroup v2 hierarchy is mounted (step 1).
const CGROUP_MOUNT_POINT: &str = "/sys/fs/cgroup";

/// Everything the run loop owns.
#[derive(Debug)]
struct Runtime {
    supervisor: Supervisor,
    signals: Signals,
    buttons: PowerButtons,
    mounts: MountTable,
    esp: Option<Partition>,
    cad: CadCounter,
    /// Set once a power-off or reboot is under way.
    stopping: Option<PowerAction>,
    /// The booted version, as its boot entry names it.
    me: EntryName,
    /// The booted version, as the update records name it.
    side: Side,
    hostname: String,
    board: String,
    boot_count: Option<u64>,
    /// Unix seconds of this boot's start.
    booted_at: u64,
    /// The boot is blessed.
    blessed: bool,
    /// A new version's health gate, and the last update's outcome.
    gate: Gate,
    healthy_within: Duration,
    /// The ESP's entries, as last read.
    entries: Vec<Listed>,
    /// Where the control API's requests arrive.
    control: Option<ControlSocket>,
    /// A reboot an operator asked for, waiting for its time.
    planned_reboot: Option<PlannedReboot>,
    lock_timeout: Duration,
    /// Log lines lost, by source, as the system file last said.
    log_drops: std::collections::BTreeMap<String, u64>,
}

/// Step 7's groundwork: moves PID 1 into `cairn/init` of the cgroup tree and
/// hands the cpu, memory and pids controllers down to the apps' cgroups.
/// None when there is no cgroup v2 hierarchy: apps then run without the
/// limits that need one (the supervisor names each in a warning).
fn setup_cgroups() -> Option<Arc<CgroupRoot>> {
    match CgroupRoot::setup(Path::new(CGROUP_MOUNT_POINT)) {
        Ok(root) => {
            let names: Vec<&str> = root.enabled().iter().map(|c| c.name()).collect();
            tracing::info!("cgroups: {} for apps", names.join(", "));
            // Before any thread of ours binds a socket: see arm_hooks.
            if let Err(err) = portguard::arm_hooks(Path::new(CGROUP_MOUNT_POINT)) {
                tracing::warn!("port guard hooks not armed at boot: {err}");
            }
            Some(Arc::new(root))
        }
        Err(err) => {
            tracing::warn!("no cgroups for apps: {err}");
            None
        }
    }
}

/// Steps 7 to 9: starts the apps and jobs of the booted manifest and runs
/// until a shutdown completes. Never returns.
pub(crate) fn run(booted: Booted) -> ! {
    let Booted {
        signals,
        buttons,
        mounts,
        esp,
        banks,
        bank,
        version,
        build,
        board,
        boot_count,
        manifest,
    } = booted;
    let side = Side {
        version: version.clone(),
        build,
        bank: bank.to_string(),
    };
    let healthy_within = manifest.update.healthy_within;
    let lock_timeout = manifest.update.lock_timeout;
    let control = match ControlSocket::bind(
        Path::new(cairn_layout::run::PID1_SOCKET),
        cairn_layout::users::CONTROL_UID,
    ) {
        Ok(socket) => Some(socket),
        Err(err) => {
            tracing::warn!("no control socket: {err}");
            None
        }
    };
    let gate = Gate::open(
        Path::new(cairn_layout::data::UPDATE_PATH),
        &side,
        healthy_within,
        Instant::now(),
    );
    let cgroup_apps = Path::new(CGROUP_MOUNT_POINT).join("cairn/apps");
    let (service_apps, service_uids) = services::prepare(
        &services::Facts {
            hostname: &manifest.system.hostname,
            board: &board,
            me: &side,
            bank,
            port: manifest
                .control
                .port
                .saturating_add(manifest.system.port_offset),
            cgroup_apps: &cgroup_apps,
        },
        manifest.control.port,
        &banks,
        esp.as_ref(),
    );
    let cgroups = setup_cgroups();
    crate::boot::start_network(&manifest);
    let config = SupervisorConfig {
        cgroups,
        clock_synced: Some(clock::synced_flag()),
        services: service_uids,
        ..SupervisorConfig::pid1(manifest.system.port_offset)
    };
    // The services start first, so the box can be reached while apps wait.
    let mut supervisor = Supervisor::new(
        config,
        service_apps.iter().chain(manifest.apps.values()),
        Box::new(Pid1Sink),
    );
    let clock_floor = clock::floor(Some(Path::new(clock::BUILD_STAMP)));
    supervisor.set_jobs(Jobs::new(
        manifest.jobs.values(),
        JobsConfig::pid1(clock_floor),
    ));
    let mut runtime = Runtime {
        supervisor,
        signals,
        buttons,
        mounts,
        esp,
        cad: CadCounter::default(),
        stopping: None,
        me: EntryName {
            build,
            version,
            tries: None,
        },
        side,
        hostname: manifest.system.hostname.clone(),
        board,
        boot_count,
        booted_at: std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs()),
        blessed: false,
        gate,
        healthy_within,
        entries: Vec::new(),
        control,
        planned_reboot: None,
        lock_timeout,
        log_drops: std::collections::BTreeMap::new(),
    };
    runtime.scan_entries();
    runtime.write_system_file();
    runtime.run()
}

fn signal_name(signo: i32) -> String {
    nix::sys::signal::Signal::try_from(signo)
        .map(|s| s.as_str().to_string())
        .unwrap_or_else(|_| format!("signal {signo}"))
}

impl Runtime {
    /// Runs until a shutdown completes. Never returns.
    fn run(mut self) -> ! {
        let console_handle = console::poll_handle();
        hub::start(Path::new(cairn_layout::bank::MANIFEST_PATH));
        loop {
            let request = self.round(console_handle.as_ref());
            if let Some(action) = request {
                self.begin_shutdown(action);
            }
            if self.stopping.is_some() && self.supervisor.stop_finished() {
                self.supervisor.drain_output();
                hub::finish(LOGGER_FLUSH);
                let action = self.stopping.unwrap_or(PowerAction::PowerOff);
                shutdown::finish(action, &mut self.supervisor, &mut self.mounts);
            }
        }
    }

    fn begin_shutdown(&mut self, action: PowerAction) {
        if self.stopping.is_some() {
            tracing::info!("shutdown already under way");
            return;
        }
        tracing::info!(
            "{}",
            match action {
                PowerAction::PowerOff => "power off requested",
                PowerAction::Reboot => "reboot requested",
            }
        );
        self.stopping = Some(action);
        self.supervisor.begin_stop();
    }

    /// One poll round; returns a power request if one arrived.
    fn round(&mut self, console_handle: Option<&OwnedFd>) -> Option<PowerAction> {
        let button_fds = self.buttons.fds();
        let buttons = button_fds.len();
        let mut watches = vec![Watch::new(self.signals.as_fd(), PollFlags::POLLIN)];
        watches.extend(
            button_fds
                .iter()
                .map(|fd| Watch::new(*fd, PollFlags::POLLIN)),
        );
        if let Some(fd) = console_handle.filter(|_| console::has_pending()) {
            watches.push(Watch::new(fd.as_fd(), PollFlags::POLLOUT));
        }
        let logging_handles = hub::poll_handles();
        watches.extend(
            logging_handles
                .iter()
                .map(|(fd, events)| Watch::new(fd.as_fd(), *events)),
        );
        let control_fds = self
            .control
            .as_ref()
            .map(ControlSocket::fds)
            .unwrap_or_default();
        watches.extend(
            control_fds
                .iter()
                .map(|fd| Watch::new(*fd, PollFlags::POLLIN)),
        );
        self.supervisor.turn(&mut watches, ROUND);
        // The signalfd's watch comes first, then one per button.
        let mut ready = watches.iter().map(|w| w.ready);
        let signalled = ready.next().unwrap_or(false);
        let pressed: Vec<usize> = ready
            .take(buttons)
            .enumerate()
            .filter_map(|(index, ready)| ready.then_some(index))
            .collect();
        drop(watches);
        drop(button_fds);
        drop(logging_handles);
        drop(control_fds);
        hub::tick();
        console::flush();

        let mut request = None;
        if signalled {
            for signo in self.signals.drain() {
                match signal_meaning(signo) {
                    SignalMeaning::Child => self.supervisor.reap(),
                    SignalMeaning::Power(action) => {
                        tracing::info!("{} received", signal_name(signo));
                        request = Some(action);
                    }
                    SignalMeaning::CtrlAltDel => {
                        tracing::info!("ctrl-alt-del pressed");
                        if self.cad.press(Instant::now()) {
                            shutdown::force_reboot();
                        }
                        request = Some(PowerAction::Reboot);
                    }
                    SignalMeaning::Ignore => {
                        tracing::debug!("{} ignored", signal_name(signo));
                    }
                }
            }
        }
        for index in pressed {
            if self.buttons.pressed(index) {
                tracing::info!("power button pressed");
                request = Some(PowerAction::PowerOff);
            }
        }
        if let Some(verdict) = self.supervisor.take_verdict() {
            self.on_verdict(verdict);
        }
        self.check_trial_deadline(Instant::now());
        self.serve_requests();
        self.check_planned_reboot();
        self.publish_log_drops();
        request
    }

    /// Rewrites the system file when lines were lost since it was written,
    /// so the control API's counters of them stay current.
    fn publish_log_drops(&mut self) {
        let dropped = hub::dropped();
        if dropped != self.log_drops {
            self.log_drops = dropped;
            self.write_system_file();
        }
    }
}
