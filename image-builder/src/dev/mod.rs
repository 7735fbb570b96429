//! `cairn dev system.toml [--set KEY=VALUE]... [--offset N]`: runs a
//! manifest's apps on this machine with the same supervisor PID 1 runs,
//! each instance sandboxed as on a booted system (its own tree, paths,
//! ports and environment), without building or booting an image.
//!
//! As an ordinary user every instance gets a user namespace of its own (see
//! `cairn_supervisor::sandbox`); as root it switches to the app's own uid as
//! under PID 1. Limits are enforced where this machine allows them (a cgroup
//! v2 subtree delegated to this user); the supervisor names each one it
//! cannot enforce. Ctrl-C (or SIGTERM) stops every app in reverse `after`
//! order, each with SIGTERM, its `stop_timeout`, SIGKILL, then exits 0; a
//! second Ctrl-C kills them all at once.

mod host;
mod layout;
mod manifest;
mod output;

use std::io::Read;
use std::os::fd::AsFd;
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{anyhow, Context};
use cairn_manifest::{Diagnostics, Manifest};
use cairn_supervisor::jobs::{Jobs, JobsConfig};
use cairn_supervisor::sandbox::SandboxPaths;
use cairn_supervisor::supervisor::{Supervisor, SupervisorConfig, Watch};
use nix::poll::PollFlags;
use signal_hook::consts::{SIGCHLD, SIGHUP, SIGINT, SIGTERM};

use self::layout::Layout;
use self::output::Relay;

/// The longest wait of one round of the loop.
const ROUND: Duration = Duration::from_secs(1);

/// What to run.
#[derive(Debug, Clone)]
pub struct DevOptions {
    /// The manifest whose apps to run.
    pub manifest: PathBuf,
    /// `KEY=VALUE` overrides of manifest keys by their dotted path.
    pub set: Vec<String>,
    /// Added to every port, on top of system.port_offset.
    pub offset: u16,
    /// Where the app trees, state and runtime files go (default: .cairn/dev
    /// beside the manifest, .cairn/dev-N with an offset N).
    pub dir: Option<PathBuf>,
}

/// Why a dev run ended early.
pub enum Failure {
    /// The manifest (with its overrides) is not valid: exit 2.
    Manifest(Diagnostics),
    Other(anyhow::Error),
}

impl From<anyhow::Error> for Failure {
    fn from(err: anyhow::Error) -> Failure {
        Failure::Other(err)
    }
}

impl From<Diagnostics> for Failure {
    fn from(diagnostics: Diagnostics) -> Failure {
        Failure::Manifest(diagnostics)
    }
}

/// Runs the apps until they are stopped (`cairn dev`); returns once every
/// app has stopped.
pub fn run(args: &DevOptions) -> Result<(), Failure> {
    let overrides = manifest::parse_overrides(&args.set)?;
    let manifest = manifest::load(&args.manifest, &overrides, args.offset)?;
    let dir = args
        .dir
        .clone()
        .unwrap_or_else(|| layout::default_dir(&args.manifest, args.offset));
    let layout = Layout::prepare(&dir)?;
    cairn_image_builder::build::stage_trees(&layout.bank, &manifest, &args.manifest)
        .with_context(|| format!("cannot stage the app trees in {}", layout.bank.display()))?;
    manifest::check_exec(&manifest, &layout.apps, &overrides)?;
    check_ports_free(&manifest)?;
    let host = host::detect()?;
    let relay = Relay::install(manifest.logging.console)?;
    let result = supervise(&manifest, &layout, host, &relay);
    relay.pump();
    layout.cleanup();
    result.map_err(Failure::Other)
}

/// Every port of every instance, with who gets it.
fn ports(manifest: &Manifest) -> Vec<(String, String, u32)> {
    let offset = manifest.system.port_offset;
    let mut list = Vec::new();
    for app in manifest.apps.values() {
        for instance in 0..app.instances.max(1) {
            for name in app.ports.keys() {
                if let Some(port) = app.port_for(name, offset, instance) {
                    list.push((
                        cairn_manifest::instance_label(&app.name, instance),
                        name.clone(),
                        port,
                    ));
                }
            }
        }
    }
    list
}

/// Fails with a hint when a port an app will bind is taken on this machine.
fn check_ports_free(manifest: &Manifest) -> anyhow::Result<()> {
    for (label, name, port) in ports(manifest) {
        let port16 = u16::try_from(port).map_err(|_| anyhow!("port {port} is above 65535"))?;
        if std::net::TcpListener::bind(("0.0.0.0", port16)).is_err() {
            return Err(anyhow!(
                "port {port} (for {label}, {name}) is already in use on this machine; \
                 shift every port with --offset N, e.g. --offset 10000"
            ));
        }
    }
    Ok(())
}

/// Signals that stop the run, and SIGCHLD, each turned into a byte on a
/// socket the loop polls.
struct SignalPipes {
    stop: UnixStream,
    child: UnixStream,
    /// The write ends, kept open for the handlers.
    _writers: [UnixStream; 2],
}

impl SignalPipes {
    fn install() -> anyhow::Result<SignalPipes> {
        let (stop, stop_writer) = UnixStream::pair()?;
        let (child, child_writer) = UnixStream::pair()?;
        for reader in [&stop, &child] {
            reader.set_nonblocking(true)?;
        }
        for signal in [SIGINT, SIGTERM, SIGHUP] {
            signal_hook::low_level::pipe::register(signal, stop_writer.try_clone()?)
                .context("cannot install a signal handler")?;
        }
        signal_hook::low_level::pipe::register(SIGCHLD, child_writer.try_clone()?)
            .context("cannot install a signal handler")?;
        Ok(SignalPipes {
            stop,
            child,
            _writers: [stop_writer, child_writer],
        })
    }
}

/// How many signals wait on `reader`; reads them all.
fn take(mut reader: &UnixStream) -> usize {
    let mut count = 0;
    let mut buf = [0u8; 64];
    while let Ok(n) = reader.read(&mut buf) {
        if n == 0 {
            break;
        }
        count += n;
    }
    count
}

fn describe_host(layout: &Layout, host: &host::Host) {
    tracing::info!("dev: apps from {}", layout.dir.display());
    match host.user_namespace {
        Some(ids) => tracing::info!(
            "dev: each instance runs in a user namespace of its own, as its app's uid \
             (host uid {})",
            ids.host_uid
        ),
        None => tracing::info!("dev: running as root: each app runs as its own uid"),
    }
    if let Some(why) = &host.no_cgroups {
        tracing::info!("dev: no cgroup subtree for limits: {why}");
    }
}

fn supervise(
    manifest: &Manifest,
    layout: &Layout,
    host: host::Host,
    relay: &Relay,
) -> anyhow::Result<()> {
    let signals = SignalPipes::install()?;
    describe_host(layout, &host);
    let sandbox = SandboxPaths {
        apps: layout.apps.clone(),
        state: layout.state.clone(),
        roots: layout.run.join("roots"),
        run: layout.run.join("apps"),
        notify: layout.notify.clone(),
        // `cairn dev` reads secrets from files the developer puts here.
        secrets: layout.dir.join("secrets"),
        dev: PathBuf::from("/dev"),
        user_namespace: host.user_namespace,
        run_as: None,
    };
    let config = SupervisorConfig {
        apps_root: layout.apps.clone(),
        chroot: true,
        drop_privileges: true,
        port_offset: manifest.system.port_offset,
        notify_socket: Some(layout.notify.clone()),
        status_file: Some(layout.status.clone()),
        crash_dir: Some(layout.crash.clone()),
        crash_mount: None,
        cgroups: host.cgroups,
        sandbox,
        ..SupervisorConfig::host()
    };
    for (label, name, port) in ports(manifest) {
        tracing::info!("dev: {label} {name} on 127.0.0.1:{port}");
    }
    let mut supervisor = Supervisor::new(config, manifest.apps.values(), relay.sink());
    // Jobs run on schedule as on a booted system; each `cairn dev` run is a
    // boot of its own for `@reboot`, and their history is kept beside the
    // apps' state.
    supervisor.set_jobs(Jobs::new(
        manifest.jobs.values(),
        JobsConfig::dev(layout.jobs.clone()),
    ));
    let mut stops = 0;
    loop {
        let mut watches = [
            Watch::new(signals.stop.as_fd(), PollFlags::POLLIN),
            Watch::new(signals.child.as_fd(), PollFlags::POLLIN),
        ];
        supervisor.turn(&mut watches, ROUND);
        let [stop, child] = watches.map(|w| w.ready);
        if child {
            // The next round reaps; the byte only woke the poll.
            take(&signals.child);
        }
        if stop {
            for _ in 0..take(&signals.stop) {
                stops += 1;
                if stops == 1 {
                    tracing::info!("dev: stopping (Ctrl-C again to kill every app at once)");
                    supervisor.begin_stop();
                } else if stops == 2 {
                    tracing::warn!("dev: killing every app");
                    for pid in supervisor.running_pids() {
                        let _ = nix::sys::signal::kill(
                            nix::unistd::Pid::from_raw(pid),
                            nix::sys::signal::Signal::SIGKILL,
                        );
                    }
                }
            }
        }
        relay.pump();
        if stops > 0 && supervisor.stop_finished() {
            supervisor.drain_output();
            tracing::info!("dev: all apps stopped");
            return Ok(());
        }
    }
}
