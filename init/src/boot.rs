//! PID 1's boot sequence, steps 1 to 6 of the architecture page, then the
//! hand-over to the run loop.
//!
//! Each step logs what it did. Only what leaves nothing to run is fatal (no
//! bank, no manifest) and takes the crash path, which reboots: systemd-boot
//! then counts the failed try and eventually falls back to the other bank.
//! Everything else (a module, the data partition, the network) is logged and
//! boot goes on.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use crate::cgroup::CgroupRoot;
use crate::cmdline::{self, Bank};
use crate::crash::fatal;
use crate::mounts::{early_mounts, MountSpec, MountTable};
use crate::partitions::{self, Partition};
use crate::power::PowerButtons;
use crate::runtime::Runtime;
use crate::supervisor::{Supervisor, SupervisorConfig};
use crate::sys::mount::{Linux, MsFlags};
use crate::sys::{fd, power, process, signals};
use crate::{datapart, log, modules, net};

/// Where the booted bank is mounted.
pub const BANK_MOUNT_POINT: &str = "/bank";
/// Where the cgroup v2 hierarchy is mounted (step 1).
const CGROUP_MOUNT_POINT: &str = "/sys/fs/cgroup";
/// The frozen manifest inside a bank.
pub const MANIFEST_PATH: &str = "/bank/cairn/system.toml";

/// How long to wait for the disk's partitions to appear.
const PARTITION_WAIT: Duration = Duration::from_secs(10);
const PARTITION_POLL: Duration = Duration::from_millis(20);

/// Step 1: signals, API filesystems, logging. Runs before anything can log.
fn early_setup() -> MountTable {
    // Block first: a SIGTERM that arrives before the signalfd exists must
    // wait in the queue, not vanish.
    let blocked = signals::block_handled();
    let ignored = signals::ignore_job_control();
    let mut mounts = MountTable::default();
    let failed = mounts.mount_all(&mut Linux, &early_mounts());
    let stdio = fd::stdio_to_null(Path::new("/dev/null"));
    let logging = log::init(&log::LogSetup {
        console: Some(PathBuf::from("/dev/console")),
        kmsg: Some(PathBuf::from("/dev/kmsg")),
    });
    // Firmware and the kernel often leave the cursor mid-line; start ours on
    // a fresh one so every `cairn: ` line begins a console line.
    crate::console::write_line("");
    tracing::info!(
        "init started (kernel took {} ms)",
        crate::metrics::kernel_ms()
    );
    for (what, result) in [
        ("signals not blocked", blocked),
        ("job-control signals not ignored", ignored),
        ("stdio not redirected", stdio),
        ("logging incomplete", logging),
    ] {
        if let Err(err) = result {
            tracing::warn!("{what}: {err}");
        }
    }
    for (target, err) in failed {
        tracing::error!("cannot mount {}: {err}", target.display());
    }
    if let Err(err) = power::disable_ctrl_alt_del() {
        tracing::warn!("ctrl-alt-del stays a hard reset: {err}");
    }
    if !process::is_pid1() {
        if let Err(err) = process::set_child_subreaper() {
            tracing::warn!("cannot become a subreaper: {err}");
        }
    }
    // Ports belong to the OS, which grants them to apps that run unprivileged.
    if let Err(err) = std::fs::write("/proc/sys/net/ipv4/ip_unprivileged_port_start", "0\n") {
        tracing::warn!("low ports stay privileged: {err}");
    }
    mounts
}

/// Step 4: mounts the booted bank read-only at /bank.
fn mount_bank(bank: Bank, part: Option<&Partition>, mounts: &mut MountTable) {
    let Some(part) = part else {
        fatal(&format!("partition {} not found", bank.partition_name()));
    };
    let node =
        match partitions::ensure_node(Path::new("/dev"), &part.devname, part.major, part.minor) {
            Ok(node) => node,
            Err(err) => fatal(&format!("no device node for {}: {err}", part.devname)),
        };
    let spec = MountSpec {
        source: node.to_string_lossy().into_owned(),
        target: PathBuf::from(BANK_MOUNT_POINT),
        fstype: "squashfs".to_string(),
        flags: MsFlags::MS_RDONLY | MsFlags::MS_NODEV | MsFlags::MS_NOSUID,
        data: String::new(),
    };
    if let Err(err) = mounts.mount(&mut Linux, &spec) {
        fatal(&format!(
            "cannot mount bank {bank} ({}): {err}",
            node.display()
        ));
    }
}

/// The version this boot runs: from the command line, else the bank's file.
fn running_version(from_cmdline: Option<String>) -> String {
    let in_bank = std::fs::read_to_string("/bank/cairn/version")
        .ok()
        .map(|v| v.trim().to_string())
        .filter(|v| !v.is_empty());
    match (from_cmdline, in_bank) {
        (Some(cmd), Some(bank)) if cmd != bank => {
            tracing::warn!("command line says version {cmd}, the bank holds {bank}");
            cmd
        }
        (Some(cmd), _) => cmd,
        (None, Some(bank)) => bank,
        (None, None) => "unknown".to_string(),
    }
}

/// Step 6: hostname and network from the manifest.
fn configure_system(manifest: &cairn_manifest::Manifest) {
    log::set_console_level(manifest.logging.console);
    match process::set_hostname(&manifest.system.hostname) {
        Ok(()) => tracing::info!("hostname {}", manifest.system.hostname),
        Err(err) => tracing::warn!("cannot set hostname {}: {err}", manifest.system.hostname),
    }
    if let Err(err) = net::loopback_up() {
        tracing::warn!("loopback: {err}");
    }
    // Apps do not wait for links or DHCP (see net::configure_all_in_background);
    // each interface's outcome is logged when it is known.
    net::configure_all_in_background(manifest.network.interfaces.clone());
    // The clock is set from the network when a server answers; until then
    // the hardware clock stands and calendar jobs wait for a plausible time.
    if !manifest.network.interfaces.is_empty() {
        net::sntp::sync_in_background(net::sntp::servers(&[]));
    }
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
            Some(Arc::new(root))
        }
        Err(err) => {
            tracing::warn!("no cgroups for apps: {err}");
            None
        }
    }
}

/// Runs the whole boot and then the run loop. Never returns.
pub fn boot() -> ! {
    let mut mounts = early_setup();
    let signals = match signals::Signals::open() {
        Ok(signals) => signals,
        Err(err) => fatal(&format!("cannot open a signalfd: {err}")),
    };

    let text = std::fs::read_to_string("/proc/cmdline").unwrap_or_default();
    let cmdline = match cmdline::parse(&text) {
        Ok(cmdline) => cmdline,
        Err(err) => fatal(&format!("kernel command line: {err}")),
    };
    if cmdline.debug {
        log::enable_debug();
    }

    match process::kernel_release() {
        Ok(release) => {
            modules::load_listed(Path::new(modules::LIST_PATH), &release);
        }
        Err(err) => tracing::warn!("no modules loaded: unknown kernel release: {err}"),
    }

    let Some(bank) = cmdline.bank else {
        fatal("no cairn.bank on the kernel command line");
    };
    let parts = partitions::wait_for(
        Path::new("/sys/class/block"),
        bank.partition_name(),
        PARTITION_WAIT,
        PARTITION_POLL,
    );
    for name in partitions::ALL {
        match parts.get(name) {
            Some(p) => tracing::debug!("partition {name} is {}", p.devname),
            None => tracing::warn!("partition {name} not found"),
        }
    }
    // The button and evdev modules are loaded by now; open the power button
    // early so a press during the rest of boot is not lost.
    let buttons = PowerButtons::open(Path::new("/sys/class/input"), Path::new("/dev"));
    mount_bank(bank, parts.get(bank.partition_name()), &mut mounts);
    let version = running_version(cmdline.version);
    tracing::info!("bank {bank} version {version} mounted");

    datapart::setup(parts.get(partitions::DATA), Path::new("/dev"), &mut mounts);

    let manifest = match cairn_manifest::load(Path::new(MANIFEST_PATH)) {
        Ok(manifest) => manifest,
        Err(diagnostics) => fatal(&format!("invalid manifest: {diagnostics}")),
    };
    configure_system(&manifest);
    let (user_ms, system_ms) = crate::metrics::cpu_ms();
    tracing::info!(
        "ready to start apps ({} ms after /init; cpu: user {user_ms} ms, system {system_ms} ms)",
        crate::metrics::since_start_ms()
    );

    let config = SupervisorConfig {
        cgroups: setup_cgroups(),
        ..SupervisorConfig::pid1(manifest.system.port_offset)
    };
    let mut supervisor = Supervisor::new(config, manifest.apps.values());
    supervisor.set_jobs(crate::jobs::Jobs::new(
        manifest.jobs.values(),
        crate::jobs::JobsConfig::pid1(),
    ));
    Runtime {
        supervisor,
        signals,
        buttons,
        mounts,
        esp: parts.get(partitions::ESP).cloned(),
        version,
        cad: crate::power::CadCounter::default(),
        stopping: None,
    }
    .run()
}
