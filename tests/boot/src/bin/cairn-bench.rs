//! `cairn-bench`: the figures of docs/benchmarks.md, measured on this machine.
//!
//!     cargo run --release -p cairn-boot-tests --bin cairn-bench [-- --boots N] [--board FILE] [--warm-only]
//!
//! 1. Build time of the demo image (examples/hello/system.toml): once with an
//!    empty download cache (kernel and systemd-boot fetched and unpacked),
//!    then three times with the cache warm.
//! 2. Image size: the whole disk (apparent and allocated) and each part.
//! 3. Boot: N boots under QEMU (TCG). For each, the wall time from QEMU's
//!    start to "all apps ready", split into firmware + bootloader, kernel
//!    (kernel start to /init, as PID 1 reads it from CLOCK_BOOTTIME) and PID 1
//!    (/init to all apps ready), plus PID 1's time to "ready to start apps"
//!    and its resident memory, both as PID 1 prints them.
//!
//! It prints Markdown tables to paste into docs/benchmarks.md.
//!
//! Two more benchmarks run on their own:
//!
//!     cairn-bench launch [--starts N]        (as root) one app instance's start,
//!                                            Cairn's sandbox launch vs bwrap; default 1000
//!     cairn-bench instances [--counts 1,100] PID 1's memory with N supervised instances
//!     cairn-bench apply [--runs N] [--bank-mib M]
//!                                            the update writer's throughput vs dd; default 5 runs, 256 MiB
//!     cairn-bench deploy [--rounds N]        deploy and rollback times under QEMU; default 3
//!     cairn-bench logging [--lines N] [--line-bytes B]
//!                                            one app's lines to the log files, Cairn vs
//!                                            svlogd; default 1,000,000 lines of 100 bytes

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{anyhow, Context};
use cairn_boot_tests::bench::{apply, deploy, instances, launch, logging, nextfire};
use cairn_boot_tests::{serial, workspace, TestSystem, HELLO_MANIFEST, STEP_TIMEOUT};
use cairn_image_builder::build::{build, BuildOptions, BuildOutput, LockMode};
use tempfile::TempDir;

fn main() -> anyhow::Result<()> {
    // Copied into a sandbox as the program the launch benchmark starts.
    launch::trivial_app_if_asked();
    let mut all: Vec<String> = std::env::args().skip(1).collect();
    match all.first().map(String::as_str) {
        Some("launch") => {
            let starts = number_option(&all[1..], "--starts")?.unwrap_or(1000);
            return launch::run(starts.max(1));
        }
        Some("apply") => {
            let (runs, bank_mib) = apply_options(&all[1..])?;
            return apply::run(runs, bank_mib);
        }
        Some("deploy") => {
            let rounds = number_option(&all[1..], "--rounds")?.unwrap_or(3);
            let _serial = serial();
            workspace::ensure_release_binaries();
            machine_line();
            return deploy::run(rounds.max(1));
        }
        Some("next-fire") => {
            let calls = number_option(&all[1..], "--calls")?.unwrap_or(10_000);
            return nextfire::run(u32::try_from(calls).unwrap_or(u32::MAX));
        }
        Some("logging") => {
            let (lines, line_bytes) = logging_options(&all[1..])?;
            return logging::run(lines, line_bytes);
        }
        Some("instances") => {
            let counts = counts_option(&all[1..])?;
            let _serial = serial();
            workspace::ensure_release_binaries();
            machine_line();
            return instances::run(&counts);
        }
        _ => {}
    }
    let args = parse_args(all.drain(..))?;
    let _serial = serial();
    workspace::ensure_release_binaries();
    machine_line();
    let board = args.board.unwrap_or_else(workspace::default_board);
    println!("Board: {}\n", board.display());

    let (cold, warm, output, _scratch) = measure_builds(&board, args.warm_only)?;
    println!("## Build (examples/hello/system.toml)\n");
    println!("| build | time |\n|---|---|");
    if let Some(cold) = cold {
        println!("| cold cache (download + unpack kernel and systemd-boot) | {cold:.1} s |");
    }
    for (i, secs) in warm.iter().enumerate() {
        println!("| warm cache, run {} | {secs:.1} s |", i + 1);
    }
    println!();
    print_sizes(&output)?;
    measure_boots(&board, args.boots)?;
    Ok(())
}

#[derive(Debug, PartialEq)]
struct Args {
    boots: usize,
    board: Option<PathBuf>,
    warm_only: bool,
}

fn parse_args(mut args: impl Iterator<Item = String>) -> anyhow::Result<Args> {
    let usage = "usage: cairn-bench [--boots N] [--board FILE] [--warm-only]";
    let mut parsed = Args {
        boots: 5,
        board: None,
        warm_only: false,
    };
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--boots" => {
                parsed.boots = args
                    .next()
                    .and_then(|n| n.parse().ok())
                    .with_context(|| format!("--boots needs a number; {usage}"))?;
            }
            "--board" => {
                let file = args
                    .next()
                    .with_context(|| format!("--board needs a file; {usage}"))?;
                parsed.board = Some(PathBuf::from(file).canonicalize()?);
            }
            "--warm-only" => parsed.warm_only = true,
            other => return Err(anyhow!("unknown argument {other}; {usage}")),
        }
    }
    parsed.boots = parsed.boots.max(1);
    Ok(parsed)
}

/// The number after `name` in `args`, if given.
fn number_option(args: &[String], name: &str) -> anyhow::Result<Option<usize>> {
    match args {
        [] => Ok(None),
        [flag, value] if flag == name => value
            .parse()
            .map(Some)
            .with_context(|| format!("{name} needs a number")),
        other => Err(anyhow!("unexpected arguments {other:?}; expected {name} N")),
    }
}

/// `--runs N` and `--bank-mib M`, in any order (default 5 and 256).
fn apply_options(args: &[String]) -> anyhow::Result<(usize, u64)> {
    let mut runs = 5;
    let mut bank_mib = 256;
    let mut it = args.iter();
    while let Some(flag) = it.next() {
        let value: u64 = it
            .next()
            .and_then(|v| v.parse().ok())
            .with_context(|| format!("{flag} needs a number"))?;
        match flag.as_str() {
            "--runs" => runs = usize::try_from(value.max(1)).unwrap_or(1),
            "--bank-mib" => bank_mib = value.max(1),
            other => {
                return Err(anyhow!(
                    "unknown argument {other}; expected --runs N, --bank-mib M"
                ))
            }
        }
    }
    Ok((runs, bank_mib))
}

/// `--lines N` and `--line-bytes B`, in any order (default 1,000,000 and 100).
fn logging_options(args: &[String]) -> anyhow::Result<(u64, usize)> {
    let mut lines = 1_000_000;
    let mut line_bytes = 100;
    let mut it = args.iter();
    while let Some(flag) = it.next() {
        let value = it
            .next()
            .with_context(|| format!("{flag} needs a number"))?;
        match flag.as_str() {
            "--lines" => lines = value.parse().context("--lines needs a number")?,
            "--line-bytes" => line_bytes = value.parse().context("--line-bytes needs a number")?,
            other => {
                return Err(anyhow!(
                    "unknown argument {other}; expected --lines N --line-bytes B"
                ))
            }
        }
    }
    Ok((lines.max(1), line_bytes))
}

/// `--counts 1,100` (the default) as numbers of instances.
fn counts_option(args: &[String]) -> anyhow::Result<Vec<u32>> {
    match args {
        [] => Ok(vec![1, 100]),
        [flag, value] if flag == "--counts" => value
            .split(',')
            .map(|n| {
                n.trim()
                    .parse::<u32>()
                    .context("--counts needs numbers like 1,100")
            })
            .filter(|n| !matches!(n, Ok(0)))
            .collect(),
        other => Err(anyhow!(
            "unexpected arguments {other:?}; expected --counts 1,100"
        )),
    }
}

fn machine_line() {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|t| {
            t.lines()
                .find_map(|l| l.strip_prefix("model name"))
                .map(|l| l.trim_start_matches([' ', '\t', ':']).to_string())
        })
        .unwrap_or_else(|| "unknown cpu".into());
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    println!("Machine: {cpu}, {cores} cores; QEMU with -accel tcg (no KVM)\n");
}

/// What the build step measured: the cold build's seconds (unless skipped),
/// the warm builds' seconds, the last image, and the directory holding it.
type BuildFigures = (Option<f64>, Vec<f64>, BuildOutput, TempDir);

/// Builds the demo image with an empty cache, then three times warm. With
/// `warm_only`, skips the cold build and uses the default cache (a board that
/// compiles its kernel would otherwise spend minutes on it). The scratch
/// directory is returned so the image stays for the size table.
fn measure_builds(board: &Path, warm_only: bool) -> anyhow::Result<BuildFigures> {
    let root = workspace::root();
    let manifest = root.join("examples/hello/system.toml");
    let scratch = tempfile::Builder::new().prefix("cairn-bench-").tempdir()?;
    let cache = scratch.path().join("cache");
    let opts = |out: &str| BuildOptions {
        manifest: manifest.clone(),
        out_dir: scratch.path().join(out),
        board: Some(board.to_path_buf()),
        init_binary: Some(workspace::release_binary("cairn-init")),
        control_binary: Some(workspace::release_dir().join("cairn-control")),
        // Keys of the benchmark's own, never beside the example in the tree.
        keys_dir: Some(scratch.path().join("keys")),
        build_number: None,
        cache_dir: (!warm_only).then(|| cache.clone()),
        // A lock of its own too, never beside the example in the tree.
        lock_file: Some(scratch.path().join("cairn.lock")),
        lock_mode: LockMode::Follow,
        progress: false,
    };
    let cold = if warm_only {
        None
    } else {
        let started = Instant::now();
        build(&opts("cold")).context("cold build")?;
        Some(started.elapsed().as_secs_f64())
    };
    let mut warm = Vec::new();
    let mut last = None;
    for i in 0..3 {
        let started = Instant::now();
        let output = build(&opts(&format!("warm{i}"))).context("warm build")?;
        warm.push(started.elapsed().as_secs_f64());
        last = Some(output);
    }
    let output = last.context("no warm build")?;
    Ok((cold, warm, output, scratch))
}

fn mib(bytes: u64) -> String {
    format!("{:.1} MiB", bytes as f64 / 1048576.0)
}

/// The whole disk and its parts.
fn print_sizes(output: &BuildOutput) -> anyhow::Result<()> {
    use std::os::unix::fs::MetadataExt;
    let meta = std::fs::metadata(&output.disk_image)?;
    let inventory: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&output.inventory)?)?;
    println!("## Image size\n");
    println!("| part | size |\n|---|---|");
    println!("| disk.img, apparent | {} |", mib(meta.len()));
    println!(
        "| disk.img, allocated (sparse) | {} |",
        mib(meta.blocks() * 512)
    );
    for (name, bytes) in esp_files(&inventory) {
        println!("| ESP: {name} | {} |", mib(bytes));
    }
    let bank_used = squashfs_bytes_used(&output.disk_image, &inventory)?;
    println!("| bank A squashfs (used) | {} |", mib(bank_used));
    for (name, first, last) in partitions(&inventory) {
        println!("| partition {name} | {} |", mib((last - first + 1) * 512));
    }
    println!();
    Ok(())
}

fn esp_files(inventory: &serde_json::Value) -> Vec<(String, u64)> {
    let mut files = Vec::new();
    if let Some(list) = inventory.pointer("/esp").and_then(|v| v.as_array()) {
        for file in list {
            let path = file.get("path").and_then(|v| v.as_str()).unwrap_or("?");
            if path.ends_with("/linux") || path.ends_with("/initrd") || path.ends_with(".EFI") {
                let size = file.get("size").and_then(|v| v.as_u64()).unwrap_or(0);
                files.push((path.to_string(), size));
            }
        }
    }
    files
}

fn partitions(inventory: &serde_json::Value) -> Vec<(String, u64, u64)> {
    let mut parts = Vec::new();
    if let Some(list) = inventory.pointer("/partitions").and_then(|v| v.as_array()) {
        for part in list {
            let name = part.get("name").and_then(|v| v.as_str()).unwrap_or("?");
            let first = part.get("first_lba").and_then(|v| v.as_u64()).unwrap_or(0);
            let last = part.get("last_lba").and_then(|v| v.as_u64()).unwrap_or(0);
            parts.push((name.to_string(), first, last));
        }
    }
    parts
}

/// `bytes_used` of bank A's squashfs superblock (offset 40, little endian).
fn squashfs_bytes_used(disk: &Path, inventory: &serde_json::Value) -> anyhow::Result<u64> {
    use std::io::{Read, Seek, SeekFrom};
    let (_, first, _) = partitions(inventory)
        .into_iter()
        .find(|(name, _, _)| name == "cairn-a")
        .context("no cairn-a partition in the inventory")?;
    let mut file = std::fs::File::open(disk)?;
    file.seek(SeekFrom::Start(first * 512 + 40))?;
    let mut raw = [0u8; 8];
    file.read_exact(&mut raw)?;
    Ok(u64::from_le_bytes(raw))
}

/// One boot's figures.
#[derive(Debug)]
struct Boot {
    wall_ready: Duration,
    kernel_ms: u64,
    ready_to_start_ms: u64,
    user_ms: u64,
    system_ms: u64,
    all_ready_ms: u64,
    rss_kib: u64,
}

/// The number after `prefix` in `text` ("kernel took 1234 ms" -> 1234).
fn number_after(text: &str, prefix: &str) -> Option<u64> {
    let rest = &text[text.find(prefix)? + prefix.len()..];
    let digits: String = rest
        .trim_start()
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    digits.parse().ok()
}

fn measure_boots(board: &Path, count: usize) -> anyhow::Result<()> {
    let system = TestSystem::build_for_board("bench", HELLO_MANIFEST, board);
    let mut boots = Vec::new();
    for _ in 0..count {
        let mut vm = system.boot(&[8080]);
        let started = vm.wait_for("cairn: init started");
        let ready_to_start = vm.wait_for("cairn: ready to start apps");
        let all_ready = vm.wait_for("cairn: all apps ready");
        let ready_text = &ready_to_start.text;
        let boot = Boot {
            wall_ready: all_ready.at,
            kernel_ms: number_after(&started.text, "kernel took").context("kernel time")?,
            ready_to_start_ms: number_after(ready_text, "ready to start apps (")
                .context("ready-to-start time")?,
            user_ms: number_after(ready_text, "cpu: user").context("user time")?,
            system_ms: number_after(ready_text, "system").context("system time")?,
            all_ready_ms: number_after(&all_ready.text, "all apps ready (")
                .context("all-ready time")?,
            rss_kib: number_after(&all_ready.text, "pid 1 rss").context("pid 1 rss")?,
        };
        vm.powerdown();
        let status = vm.wait_exit(STEP_TIMEOUT);
        if !status.success() {
            return Err(anyhow!("qemu exited with {status}"));
        }
        boots.push(boot);
    }
    println!("## Boot (QEMU start to \"all apps ready\", TCG)\n");
    println!("| boot | total | firmware + systemd-boot | kernel | PID 1 | PID 1 ready to start apps (its cpu: user / system) | PID 1 RSS |");
    println!("|---|---|---|---|---|---|---|");
    for (i, b) in boots.iter().enumerate() {
        let total_ms = u64::try_from(b.wall_ready.as_millis()).unwrap_or(u64::MAX);
        let firmware_ms = total_ms.saturating_sub(b.kernel_ms + b.all_ready_ms);
        let label = if i == 0 {
            "1 (first: grows data)".to_string()
        } else {
            (i + 1).to_string()
        };
        println!(
            "| {label} | {total_ms} ms | {firmware_ms} ms | {} ms | {} ms | {} ms ({} / {} ms) | {} KiB |",
            b.kernel_ms,
            b.all_ready_ms,
            b.ready_to_start_ms,
            b.user_ms,
            b.system_ms,
            b.rss_kib
        );
    }
    let mut later: Vec<&Boot> = boots.iter().skip(1).collect();
    if !later.is_empty() {
        later.sort_by_key(|b| b.wall_ready);
        let median = later[later.len() / 2];
        println!(
            "\nMedian of the later boots: {} ms to all apps ready; PID 1 ready to start apps {} ms after /init; RSS {} KiB.",
            median.wall_ready.as_millis(),
            median.ready_to_start_ms,
            median.rss_kib
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_numbers_after_a_prefix() {
        let line = "cairn: all apps ready (1234 ms after /init, pid 1 rss 2048 KiB)";
        assert_eq!(number_after(line, "all apps ready ("), Some(1234));
        assert_eq!(number_after(line, "pid 1 rss"), Some(2048));
        assert_eq!(number_after(line, "missing"), None);
    }

    #[test]
    fn reads_cpu_times_from_the_ready_line() {
        let ready =
            "cairn: ready to start apps (643 ms after /init; cpu: user 9 ms, system 420 ms)";
        assert_eq!(number_after(ready, "ready to start apps ("), Some(643));
        assert_eq!(number_after(ready, "cpu: user"), Some(9));
        assert_eq!(number_after(ready, "system"), Some(420));
    }

    #[test]
    fn subcommand_options() {
        let strings = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(number_option(&[], "--starts").unwrap(), None);
        assert_eq!(
            number_option(&strings(&["--starts", "50"]), "--starts").unwrap(),
            Some(50)
        );
        assert!(number_option(&strings(&["--starts", "x"]), "--starts").is_err());
        assert_eq!(logging_options(&[]).unwrap(), (1_000_000, 100));
        assert_eq!(
            logging_options(&strings(&["--line-bytes", "200", "--lines", "5"])).unwrap(),
            (5, 200)
        );
        assert!(logging_options(&strings(&["--lines"])).is_err());
        assert!(logging_options(&strings(&["--bytes", "1"])).is_err());
        assert_eq!(counts_option(&[]).unwrap(), vec![1, 100]);
        assert_eq!(
            counts_option(&strings(&["--counts", "1,10,100"])).unwrap(),
            vec![1, 10, 100]
        );
        assert!(counts_option(&strings(&["--counts", "a"])).is_err());
    }

    #[test]
    fn arguments() {
        let args = |v: &[&str]| {
            v.iter()
                .map(|s| s.to_string())
                .collect::<Vec<_>>()
                .into_iter()
        };
        assert_eq!(parse_args(args(&[])).unwrap().boots, 5);
        assert_eq!(parse_args(args(&["--boots", "3"])).unwrap().boots, 3);
        assert!(parse_args(args(&["--boots", "x"])).is_err());
        assert!(parse_args(args(&["--bogus"])).is_err());
        assert!(parse_args(args(&["--warm-only"])).unwrap().warm_only);
        let board = parse_args(args(&["--board", "."])).unwrap().board;
        assert!(board.is_some_and(|b| b.is_absolute()));
    }
}
