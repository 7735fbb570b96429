//! Update apply throughput: `cairn-bench apply [--runs N] [--bank-mib M]`.
//!
//! The device's update writer (`cairn_control::writer::install`, the code
//! `cairn-control writer` runs) takes a signed bundle from a file and
//! writes it as on a device: the signature and policy checked first, the
//! bank streamed into the inactive bank's partition and the kernel and
//! initramfs into their ESP slots, each hashed on the way and synced, then
//! the boot entry. Here the partitions are files and the ESP a directory
//! on this machine's disk. Against it, `dd bs=1M conv=notrunc,fsync`
//! writes the same three payloads to the same three targets of a fresh
//! copy of the same device, with no checking at all. Runs alternate between
//! the two, each on a new device, and the medians are compared.

use std::fs::{self, File};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use cairn_control::config::Config;
use cairn_control::protocol::{UpdateRequest, WriterEvent};
use cairn_control::writer::{self, Events, SystemDisk, Target};
use cairn_layout::esp;
use cairn_update::entries::{pad_entry, render_entry, Bank, EntryName};
use cairn_update::{BundleInfo, BundleWriter, PayloadName, SigningKey};

const BOARD: &str = "bench-board";
const KERNEL_MIB: u64 = 12;
const INITRD_MIB: u64 = 6;
/// The slots a default board reserves.
const KERNEL_SLOT: u64 = 24 << 20;
const INITRD_SLOT: u64 = 8 << 20;

/// When each payload was done, for `CAIRN_BENCH_VERBOSE=1`.
struct Timeline(Instant, Vec<String>);

impl Events for Timeline {
    fn send(&mut self, event: &WriterEvent) {
        let at = self.0.elapsed().as_secs_f64();
        match event {
            WriterEvent::Verified { .. } => self.1.push(format!("verified {at:.3}")),
            WriterEvent::Progress {
                payload,
                written,
                total,
            } if written == total => self.1.push(format!("{payload} {at:.3}")),
            _ => {}
        }
    }
}

/// Incompressible, reproducible bytes (xorshift64).
fn write_noise(path: &Path, len: u64, seed: u64) -> anyhow::Result<()> {
    let mut out = BufWriter::new(File::create(path)?);
    let mut x = seed | 1;
    let mut block = vec![0u8; 1 << 20];
    let mut left = len;
    while left > 0 {
        for chunk in block.chunks_exact_mut(8) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            chunk.copy_from_slice(&x.to_le_bytes());
        }
        let n = left.min(block.len() as u64) as usize;
        out.write_all(&block[..n])?;
        left -= n as u64;
    }
    out.flush()?;
    Ok(())
}

/// The payloads and their signed bundle, made once.
struct Inputs {
    _dir: tempfile::TempDir,
    payloads: [(PayloadName, PathBuf); 3],
    bundle: PathBuf,
    key: SigningKey,
    bank_bytes: u64,
}

fn make_inputs(scratch: &Path, bank_mib: u64) -> anyhow::Result<Inputs> {
    let dir = tempfile::tempdir_in(scratch)?;
    let bank_bytes = bank_mib << 20;
    let payloads = [
        (
            PayloadName::Bank,
            dir.path().join("bank.squashfs"),
            bank_bytes,
        ),
        (
            PayloadName::Linux,
            dir.path().join("linux"),
            KERNEL_MIB << 20,
        ),
        (
            PayloadName::Initrd,
            dir.path().join("initrd"),
            INITRD_MIB << 20,
        ),
    ];
    for (i, (_, path, len)) in payloads.iter().enumerate() {
        write_noise(path, *len, 0x9e37_79b9 + i as u64)?;
    }
    let key = SigningKey::generate().context("making a signing key")?;
    let info = BundleInfo {
        board: BOARD.into(),
        version: "2.0.0".into(),
        build: 8,
        kernel_options: "console=ttyS0".into(),
        verity_root_hash: None,
    };
    let bundle = dir.path().join("update.cairn");
    let mut writer = BundleWriter::new(info);
    for (name, path, _) in &payloads {
        writer = writer.payload(*name, File::open(path)?);
    }
    writer
        .signed_by(&key)
        .write_to(BufWriter::new(File::create(&bundle)?))
        .context("writing the bundle")?;
    let [(n0, p0, _), (n1, p1, _), (n2, p2, _)] = payloads;
    Ok(Inputs {
        _dir: dir,
        payloads: [(n0, p0), (n1, p1), (n2, p2)],
        bundle,
        key,
        bank_bytes,
    })
}

/// A device as the writer sees it: bank a running build 7, blessed; bank
/// b holding an old version marked bad; slots at a default board's sizes.
fn make_device(scratch: &Path, inputs: &Inputs) -> anyhow::Result<(tempfile::TempDir, Config)> {
    let dir = tempfile::tempdir_in(scratch)?;
    let root = dir.path();
    let bank_size = inputs.bank_bytes + (16 << 20);
    for bank in ["bank-a", "bank-b"] {
        File::create(root.join(bank))?.set_len(bank_size)?;
    }
    fs::create_dir_all(root.join("keys"))?;
    inputs
        .key
        .public_key()
        .save(&root.join("keys/bench.pub"))
        .context("saving the public key")?;
    let esp_dir = root.join("esp-files");
    fs::create_dir_all(esp_dir.join(esp::ENTRIES_DIR))?;
    let running = EntryName::new(7, "1.0.0", 3)?.blessed();
    let old = EntryName::new(6, "0.9.0", 3)?.marked_bad();
    for (name, bank) in [(running, Bank::A), (old, Bank::B)] {
        let letter = bank.char();
        fs::create_dir_all(esp_dir.join(esp::bank_dir(letter)))?;
        File::create(esp_dir.join(esp::kernel(letter)))?.set_len(KERNEL_SLOT)?;
        File::create(esp_dir.join(esp::initrd(letter)))?.set_len(INITRD_SLOT)?;
        let build = name.build.unwrap_or(1);
        let text = render_entry(&name, bank, build, "console=ttyS0")?;
        fs::write(
            esp_dir.join(esp::ENTRIES_DIR).join(name.file_name()),
            pad_entry(&text)?,
        )?;
    }
    for sub in ["logs", "jobs", "cgroup", "proc", "run", "update"] {
        fs::create_dir_all(root.join(sub))?;
    }
    let path = |p: &str| root.join(p).to_string_lossy().into_owned();
    let json = serde_json::json!({
        "hostname": "bench",
        "board": BOARD,
        "version": "1.0.0",
        "build": 7,
        "bank": "a",
        "control": {
            "port": 7443,
            "ca": path("tls/ca.crt"),
            "cert": path("tls/server.crt"),
            "key": path("tls/server.key"),
            "max_bundle_bytes": bank_size * 2,
        },
        "paths": {
            "status": path("run/status.json"),
            "system": path("run/system.json"),
            "logs": path("logs"),
            "jobs": path("jobs"),
            "cgroup_apps": path("cgroup"),
            "proc": path("proc"),
            "pid1_socket": path("run/pid1.sock"),
            "update_socket": path("run/update.sock"),
        },
        "writer": {
            "update_keys": path("keys"),
            "banks": {"a": path("bank-a"), "b": path("bank-b")},
            "bank_size": bank_size,
            "esp_dir": path("esp-files"),
            "update_dir": path("update"),
        },
    });
    let config = Config::parse(json.to_string().as_bytes()).context("the writer's config")?;
    Ok((dir, config))
}

fn run_writer(inputs: &Inputs, config: &Config) -> anyhow::Result<Duration> {
    let writer_config = config.writer().context("no writer config")?;
    let esp = writer_config.esp().context("no ESP in the config")?;
    let disk = SystemDisk::new(writer_config.banks.clone(), esp);
    let target = Target {
        config,
        writer: writer_config,
        disk: &disk,
    };
    let length = fs::metadata(&inputs.bundle)?.len();
    let started = Instant::now();
    let mut timeline = Timeline(started, Vec::new());
    let mut input = File::open(&inputs.bundle)?;
    let last = writer::install(
        target,
        UpdateRequest {
            allow_downgrade: false,
            length: Some(length),
        },
        &mut input,
        &mut timeline,
    );
    let took = started.elapsed();
    if std::env::var_os("CAIRN_BENCH_VERBOSE").is_some() {
        eprintln!(
            "writer: {}, done {:.3}",
            timeline.1.join(", "),
            took.as_secs_f64()
        );
    }
    if !matches!(last, WriterEvent::Done { .. }) {
        bail!("the writer did not finish: {last:?}");
    }
    Ok(took)
}

fn run_dd(inputs: &Inputs, device: &Path) -> anyhow::Result<Duration> {
    let esp_dir = device.join("esp-files");
    let targets = [
        device.join("bank-b"),
        esp_dir.join(esp::kernel('b')),
        esp_dir.join(esp::initrd('b')),
    ];
    let started = Instant::now();
    for ((_, from), to) in inputs.payloads.iter().zip(&targets) {
        let status = Command::new("dd")
            .arg(format!("if={}", from.display()))
            .arg(format!("of={}", to.display()))
            .args(["bs=1M", "conv=notrunc,fsync", "status=none"])
            .status()
            .context("cannot run dd")?;
        if !status.success() {
            bail!("dd into {} failed: {status}", to.display());
        }
    }
    Ok(started.elapsed())
}

fn median(mut values: Vec<Duration>) -> Duration {
    values.sort();
    values[values.len() / 2]
}

pub fn run(runs: usize, bank_mib: u64) -> anyhow::Result<()> {
    let scratch = std::env::temp_dir();
    let inputs = make_inputs(&scratch, bank_mib)?;
    let bytes: u64 = inputs
        .payloads
        .iter()
        .map(|(_, p)| fs::metadata(p).map_or(0, |m| m.len()))
        .sum();
    let mut cairn = Vec::new();
    let mut dd = Vec::new();
    // Each side starts with no dirty pages of anyone else's to write back
    // (making the inputs leaves hundreds of MiB), which would otherwise
    // throttle whichever runs first.
    let settle = || {
        // SAFETY: sync(2) takes no arguments and cannot fail.
        unsafe { libc::sync() };
    };
    for _ in 0..runs {
        let (dir, config) = make_device(&scratch, &inputs)?;
        settle();
        cairn.push(run_writer(&inputs, &config)?);
        drop(dir);
        let (dir, _) = make_device(&scratch, &inputs)?;
        settle();
        dd.push(run_dd(&inputs, dir.path())?);
    }
    let mib = bytes as f64 / f64::from(1 << 20);
    let rate = |d: Duration| mib / d.as_secs_f64();
    let (c, d) = (median(cairn.clone()), median(dd.clone()));
    println!("## Update apply: the writer against dd ({runs} runs each, alternating)\n");
    println!(
        "{mib:.0} MiB of payloads (bank {bank_mib} MiB, kernel {KERNEL_MIB} MiB, initramfs \
         {INITRD_MIB} MiB), files on this machine's disk\n"
    );
    println!("| | median time | median rate | runs |\n|---|---|---|---|");
    let list = |v: &[Duration]| {
        v.iter()
            .map(|d| format!("{:.2}", d.as_secs_f64()))
            .collect::<Vec<_>>()
            .join(", ")
    };
    println!(
        "| cairn writer (verify + write + sync + entry) | {:.2} s | {:.0} MiB/s | {} |",
        c.as_secs_f64(),
        rate(c),
        list(&cairn)
    );
    println!(
        "| dd bs=1M conv=fsync (write + sync) | {:.2} s | {:.0} MiB/s | {} |",
        d.as_secs_f64(),
        rate(d),
        list(&dd)
    );
    println!(
        "\nThe writer reaches {:.0} % of dd's rate.",
        100.0 * d.as_secs_f64() / c.as_secs_f64()
    );
    Ok(())
}
