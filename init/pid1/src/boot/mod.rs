//! PID 1's boot, steps 1 to 6 of "PID 1, in order" in docs/architecture.md:
//! API filesystems, modules, partitions, the bank, the data partition, the
//! manifest, hostname and network. What it leaves running is handed to
//! [`crate::run`] as a [`Booted`].
//!
//! Each step logs what it did. Only what leaves nothing to run is fatal (no
//! bank, no manifest): [`boot`] returns it as an error, and PID 1 takes the
//! crash path, which reboots; systemd-boot then counts the failed try and
//! eventually falls back to the other bank. Everything else (a module, the
//! data partition, the network) is logged and boot goes on.

pub(crate) mod clock;
pub(crate) mod cmdline;
pub(crate) mod datapart;
pub(crate) mod entries;
pub(crate) mod esp;
pub(crate) mod ext4;
pub(crate) mod grow;
pub(crate) mod modules;
pub(crate) mod mounts;
pub(crate) mod partitions;
pub(crate) mod sysctl;

use std::path::{Path, PathBuf};
use std::time::Duration;

use cairn_layout::{bank as bank_layout, initramfs, partition};
use cairn_sys::fd;
use cairn_sys::mount::{Linux, MsFlags};

use self::cmdline::Bank;
use self::mounts::{early_mounts, MountSpec, MountTable};
use self::partitions::Partition;
use crate::log;
use crate::net;
use crate::sys::input::PowerButtons;
use crate::sys::{power, process, signals};

/// How long to wait for the disk's partitions to appear.
const PARTITION_WAIT: Duration = Duration::from_secs(10);
const PARTITION_POLL: Duration = Duration::from_millis(20);

/// What the boot leaves for the run loop.
#[derive(Debug)]
pub(crate) struct Booted {
    pub signals: signals::Signals,
    pub buttons: PowerButtons,
    pub mounts: MountTable,
    pub esp: Option<Partition>,
    /// Both banks' partitions, as found: the update writer's targets.
    pub banks: Vec<(Bank, Partition)>,
    pub bank: Bank,
    pub version: String,
    /// The bank's build number; None for a bank from before build numbers.
    pub build: Option<u64>,
    /// The board the bank was built for.
    pub board: String,
    /// This boot's number, when the data partition counts them.
    pub boot_count: Option<u64>,
    pub manifest: cairn_manifest::Manifest,
}

/// A one-line file of the booted bank, trimmed; None when it is missing or
/// empty.
fn bank_line(path: &str) -> Option<String> {
    std::fs::read_to_string(path)
        .ok()
        .map(|text| text.trim().to_string())
        .filter(|text| !text.is_empty())
}

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
    log::console::write_line("");
    tracing::info!(
        "init started (kernel took {} ms)",
        log::metrics::kernel_ms()
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
    if !cairn_sys::process::is_pid1() {
        if let Err(err) = cairn_sys::process::set_child_subreaper() {
            tracing::warn!("cannot become a subreaper: {err}");
        }
    }
    // Ports belong to the OS, which grants them to apps that run unprivileged.
    if let Err(err) = std::fs::write("/proc/sys/net/ipv4/ip_unprivileged_port_start", "0\n") {
        tracing::warn!("low ports stay privileged: {err}");
    }
    sysctl::apply(Path::new("/proc/sys"));
    mounts
}

/// Step 4: mounts the booted bank read-only at /bank.
fn mount_bank(bank: Bank, part: Option<&Partition>, mounts: &mut MountTable) -> Result<(), String> {
    let part = part.ok_or_else(|| format!("partition {} not found", bank.partition_name()))?;
    let node = partitions::ensure_node(Path::new("/dev"), &part.devname, part.major, part.minor)
        .map_err(|err| format!("no device node for {}: {err}", part.devname))?;
    let spec = MountSpec {
        source: node.to_string_lossy().into_owned(),
        target: PathBuf::from(bank_layout::MOUNT_POINT),
        fstype: "squashfs".to_string(),
        flags: MsFlags::MS_RDONLY | MsFlags::MS_NODEV | MsFlags::MS_NOSUID,
        data: String::new(),
    };
    mounts
        .mount(&mut Linux, &spec)
        .map_err(|err| format!("cannot mount bank {bank} ({}): {err}", node.display()))
}

/// The version this boot runs: from the command line, else the bank's file.
fn running_version(from_cmdline: Option<String>) -> String {
    let in_bank = std::fs::read_to_string(bank_layout::VERSION_PATH)
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
}

/// The rest of step 6, which `run` starts once the cgroup tree is set up
/// (see `cairn_supervisor::portguard::arm_hooks` for why no thread of ours
/// may bind a socket before that): the manifest's interfaces and the
/// clock, each on a thread of its own.
pub(crate) fn start_network(manifest: &cairn_manifest::Manifest) {
    // Apps do not wait for links or DHCP (see net::configure_all_in_background);
    // each interface's outcome is logged when it is known.
    net::configure_all_in_background(manifest.network.interfaces.clone());
    // The clock is set from the network when a server answers; until then
    // the hardware clock stands and calendar jobs wait for a plausible time.
    if !manifest.network.interfaces.is_empty() {
        net::sntp::sync_in_background(net::sntp::servers(&[]), clock::adopt);
    }
}

/// Runs the whole boot. An error is fatal: there is nothing to run.
pub(crate) fn boot() -> Result<Booted, String> {
    let mut mounts = early_setup();
    let signals =
        signals::Signals::open().map_err(|err| format!("cannot open a signalfd: {err}"))?;

    let text = std::fs::read_to_string("/proc/cmdline").unwrap_or_default();
    let cmdline = cmdline::parse(&text).map_err(|err| format!("kernel command line: {err}"))?;
    if cmdline.debug {
        log::enable_debug();
    }

    match process::kernel_release() {
        Ok(release) => {
            modules::load_listed(Path::new(initramfs::MODULES_LIST), &release);
        }
        Err(err) => tracing::warn!("no modules loaded: unknown kernel release: {err}"),
    }

    let bank = cmdline.bank.ok_or_else(|| {
        format!(
            "no {} on the kernel command line",
            cairn_layout::cmdline::BANK
        )
    })?;
    let parts = partitions::wait_for(
        Path::new("/sys/class/block"),
        bank.partition_name(),
        PARTITION_WAIT,
        PARTITION_POLL,
    );
    for name in partition::ALL {
        match parts.get(name) {
            Some(p) => tracing::debug!("partition {name} is {}", p.devname),
            None => tracing::warn!("partition {name} not found"),
        }
    }
    // The button and evdev modules are loaded by now; open the power button
    // early so a press during the rest of boot is not lost.
    let buttons = PowerButtons::open(Path::new("/sys/class/input"), Path::new("/dev"));
    mount_bank(bank, parts.get(bank.partition_name()), &mut mounts)?;
    let version = running_version(cmdline.version);
    let build = bank_line(bank_layout::BUILD_PATH).and_then(|b| b.parse::<u64>().ok());
    let board = bank_line(bank_layout::BOARD_PATH).unwrap_or_default();
    match build {
        Some(build) => tracing::info!("bank {bank} version {version} mounted (build {build})"),
        None => tracing::info!("bank {bank} version {version} mounted"),
    }

    let boot_count = datapart::setup(parts.get(partition::DATA), Path::new("/dev"), &mut mounts);

    let manifest = cairn_manifest::load(Path::new(bank_layout::MANIFEST_PATH))
        .map_err(|diagnostics| format!("invalid manifest: {diagnostics}"))?;
    configure_system(&manifest);
    let (user_ms, system_ms) = log::metrics::cpu_ms();
    tracing::info!(
        "ready to start apps ({} ms after /init; cpu: user {user_ms} ms, system {system_ms} ms)",
        log::metrics::since_start_ms()
    );
    Ok(Booted {
        signals,
        buttons,
        mounts,
        esp: parts.get(partition::ESP).cloned(),
        banks: [Bank::A, Bank::B]
            .into_iter()
            .filter_map(|b| Some((b, parts.get(b.partition_name())?.clone())))
            .collect(),
        bank,
        version,
        build,
        board,
        boot_count,
        manifest,
    })
}
