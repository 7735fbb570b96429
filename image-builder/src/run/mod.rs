//! `cairn run`: boots a built image (or builds a manifest first) in QEMU,
//! with the apps' ports forwarded from the host and the console on the
//! terminal. Ctrl-C presses the machine's power button; a second Ctrl-C, or
//! 30 seconds without the machine powering off, stops it at once.

mod ports;

use std::path::{Path, PathBuf};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context};
use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
use signal_hook::iterator::Signals;

use crate::board::Board;
use crate::build::{build, BuildOptions, LockMode};
use crate::qemu::{self, prepare_run_disk, Qemu, QemuOptions, RunDiskState, Serial};

pub use ports::{check_free, control_forward, plan_forwards, Forward};

/// How long the guest gets to power off after the first Ctrl-C.
const POWEROFF_GRACE: Duration = Duration::from_secs(30);

/// What to boot, and how.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// A built image directory (holding disk.img), or a system.toml to build first.
    pub target: PathBuf,
    /// Added to every host port (the guest's ports stay as declared).
    pub offset: Option<u16>,
    /// Board config (default: the one the image was built for).
    pub board: Option<PathBuf>,
    /// Where to build when `target` is a manifest (default: .cairn/build beside it).
    pub out: Option<PathBuf>,
}

/// The files of a built image directory.
#[derive(Debug, Clone)]
struct Image {
    dir: PathBuf,
    disk: PathBuf,
    version: String,
    board: Board,
}

/// Boots `options.target` in QEMU until it powers off (`cairn run`).
pub fn run(options: &RunOptions) -> anyhow::Result<()> {
    let image = resolve_image(options)?;
    let args = options;
    let frozen = image.dir.join("system.toml");
    let manifest = cairn_manifest::load(&frozen)
        .map_err(|e| anyhow!("{e}"))
        .with_context(|| format!("cannot read the image's manifest {}", frozen.display()))?;
    let mut forwards =
        plan_forwards(&manifest, args.offset.unwrap_or(0)).map_err(|e| anyhow!(e))?;
    let control = control_forward(&manifest, args.offset.unwrap_or(0));
    if !forwards.iter().any(|f| f.guest == control.guest) {
        forwards.push(control.clone());
    }

    let qemu_config = &image.board.qemu;
    qemu::require_program(qemu::QEMU_SYSTEM)?;
    qemu::require_program(qemu::QEMU_IMG)?;
    qemu::require_firmware(&qemu_config.firmware_code)?;
    qemu::require_firmware(&qemu_config.firmware_vars)?;
    check_free(&forwards).map_err(|e| anyhow!(e))?;

    let run_dir = image.dir.join("run");
    let run_disk = prepare_run_disk(
        &image.disk,
        &run_dir,
        &qemu_config.run_disk_size,
        &qemu_config.firmware_vars,
    )?;

    println!(
        "cairn run: image {} (version {}, board {})",
        image.disk.display(),
        image.version,
        image.board.name
    );
    let state = match &run_disk.state {
        RunDiskState::Created => "a new machine".to_string(),
        RunDiskState::Reused => "carried over from the last run".to_string(),
        RunDiskState::Replaced { old } => format!(
            "the image changed, so the machine's state starts fresh (the old disk is kept at {})",
            old.display()
        ),
    };
    println!("cairn run: state {} ({state})", run_disk.disk.display());
    for forward in &forwards {
        println!(
            "cairn run: {}: {} -> guest {}",
            forward.label,
            forward.address(),
            forward.guest
        );
    }
    println!(
        "cairn run: talk to it with `cairn status --to 127.0.0.1:{}` (the certificate is checked as cairn.local; \
         curl: --resolve {host}:{port}:127.0.0.1 https://{host}:{port}/v1/status)",
        control.host,
        host = manifest.system.hostname,
        port = control.host,
    );
    println!("cairn run: Ctrl-C powers the machine off; press it twice to stop at once");

    let mut opts = QemuOptions::for_board(qemu_config, &run_disk, qemu::qmp_socket_path(&run_dir));
    opts.forwards = forwards.iter().map(|f| (f.host, f.guest)).collect();
    opts.serial = Serial::Inherit;
    supervise(&opts)
}

/// Finds (or builds) the image directory `args.target` names.
fn resolve_image(args: &RunOptions) -> anyhow::Result<Image> {
    let target = &args.target;
    if target.extension().is_some_and(|ext| ext == "toml") && target.is_file() {
        let manifest_dir = target
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        let out_dir = args
            .out
            .clone()
            .unwrap_or_else(|| manifest_dir.join(".cairn").join("build"));
        let output = build(&BuildOptions {
            manifest: target.clone(),
            out_dir: out_dir.clone(),
            board: args.board.clone(),
            init_binary: None,
            control_binary: None,
            keys_dir: None,
            build_number: None,
            cache_dir: None,
            lock_file: None,
            lock_mode: LockMode::Follow,
            progress: true,
        })?;
        return Ok(Image {
            dir: out_dir,
            disk: output.disk_image,
            version: output.version,
            board: output.board,
        });
    }
    if !target.is_dir() {
        bail!(
            "{} is neither a built image directory nor a system.toml",
            target.display()
        );
    }
    let disk = target.join("disk.img");
    if !disk.is_file() {
        bail!(
            "{} has no disk.img; build one with `cairn build`",
            target.display()
        );
    }
    let board_path = args
        .board
        .clone()
        .unwrap_or_else(|| target.join("board.toml"));
    let board = Board::load(&board_path)?;
    Ok(Image {
        dir: target.clone(),
        disk,
        version: read_version(&target.join("inventory.json")),
        board,
    })
}

/// The image's version from its inventory, or "unknown".
fn read_version(inventory: &Path) -> String {
    std::fs::read_to_string(inventory)
        .ok()
        .and_then(|text| serde_json::from_str::<serde_json::Value>(&text).ok())
        .and_then(|v| v.get("version").and_then(|v| v.as_str()).map(String::from))
        .unwrap_or_else(|| "unknown".to_string())
}

/// Starts QEMU and waits for it, turning Ctrl-C, SIGTERM or SIGHUP (the
/// terminal went away) into a power-button press, and a second one (or a
/// guest that does not power off in time) into a hard stop.
fn supervise(opts: &QemuOptions) -> anyhow::Result<()> {
    let mut signals =
        Signals::new([SIGINT, SIGTERM, SIGHUP]).context("cannot install signal handlers")?;
    let signal_handle = signals.handle();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for signal in signals.forever() {
            if tx.send(signal).is_err() {
                break;
            }
        }
    });

    let mut qemu = Qemu::start(opts)?;
    let mut poweroff_deadline: Option<Instant> = None;
    let mut forced = false;
    let status = loop {
        if let Some(status) = qemu.try_wait()? {
            break status;
        }
        match rx.recv_timeout(Duration::from_millis(100)) {
            Ok(_) if poweroff_deadline.is_none() => {
                eprintln!("\ncairn run: powering the machine off (Ctrl-C again stops it at once)");
                if let Err(err) = qemu.powerdown() {
                    eprintln!("cairn run: cannot press the power button ({err}); stopping at once");
                    forced = true;
                    stop_now(&mut qemu);
                }
                poweroff_deadline = Some(Instant::now() + POWEROFF_GRACE);
            }
            Ok(_) => {
                eprintln!("\ncairn run: stopping the machine at once");
                forced = true;
                stop_now(&mut qemu);
            }
            Err(RecvTimeoutError::Timeout) => {
                if poweroff_deadline.is_some_and(|deadline| Instant::now() >= deadline) {
                    eprintln!(
                        "cairn run: the machine did not power off within {}s; stopping it",
                        POWEROFF_GRACE.as_secs()
                    );
                    forced = true;
                    stop_now(&mut qemu);
                }
            }
            Err(RecvTimeoutError::Disconnected) => {}
        }
    };
    signal_handle.close();

    if forced {
        bail!("the machine was stopped without powering off; its disk may not have been synced");
    }
    if !status.success() {
        bail!("qemu exited with {status}");
    }
    println!("cairn run: the machine powered off");
    Ok(())
}

/// QMP `quit`, then a kill if QEMU is still there shortly after.
fn stop_now(qemu: &mut Qemu) {
    if qemu.quit().is_err() || qemu.wait_exit(Duration::from_secs(5)).is_err() {
        let _ = qemu.kill();
    }
}
