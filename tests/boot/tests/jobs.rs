//! Jobs in a booted system: `@reboot` runs once per boot with its output on
//! the console; an every-minute job that outlives its period shows
//! `overlap = "skip"` (one log line) and `timeout` (TERM); a run missed
//! while the machine was off fires once after the next boot
//! (`missed = "run-once"`); and each job's history on the data partition
//! survives the reboot.
//!
//! The missed run is arranged by writing the job's persisted last instant
//! (long ago) into the data partition between two boots, as if the machine
//! had been off since then. The data partition is read and written on the
//! host with `debugfs` (e2fsprogs) on a raw copy of the run disk.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use cairn_boot_tests::{serial, TestSystem, BOOT_TIMEOUT, STEP_TIMEOUT};
use cairn_image_builder::disk_logs::{self, data_partition_offset};

const MANIFEST: &str = r#"
version = 1

[jobs.at-boot]
schedule = "@reboot"
bundle = "bin/cairn-testapp"
exec = ["/bin/cairn-testapp", "crash-after", "0.5", "0"]

[jobs.slow]
schedule = "* * * * *"
bundle = "bin/cairn-testapp"
exec = ["/bin/cairn-testapp", "sleep"]
overlap = "skip"
timeout = "65s"

[jobs.nightly]
schedule = "0 3 * * *"
timezone = "Europe/Berlin"
missed = "run-once"
bundle = "bin/cairn-testapp"
exec = ["/bin/cairn-testapp", "crash-after", "0.2", "0"]
"#;

/// Longer than a minute plus a TCG boot: the first every-minute fire.
const MINUTE: Duration = Duration::from_secs(100);

/// A raw copy of the run disk and where its data partition starts.
fn raw_copy(system: &TestSystem, work: &Path) -> (PathBuf, u64) {
    let raw = work.join("disk.raw");
    run(Command::new("qemu-img")
        .args(["convert", "-O", "raw"])
        .arg(system.run_disk())
        .arg(&raw));
    let offset = data_partition_offset(&raw).unwrap_or_else(|e| panic!("{e:#}"));
    (raw, offset)
}

fn run(command: &mut Command) -> String {
    let out = command
        .output()
        .unwrap_or_else(|e| panic!("{command:?}: {e}"));
    assert!(
        out.status.success(),
        "{command:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A file of the data partition, read after the machine stopped.
fn read_data_file(system: &TestSystem, path: &str) -> String {
    let work = tempfile::tempdir().unwrap();
    let (raw, offset) = raw_copy(system, work.path());
    run(Command::new("debugfs")
        .arg("-R")
        .arg(format!("cat {path}"))
        .arg(format!("{}?offset={offset}", raw.display())))
}

/// Writes `contents` to `dir/name` on the data partition of the stopped
/// machine (creating `dir`), then puts the disk back.
fn write_data_file(system: &TestSystem, dir: &str, name: &str, contents: &str) {
    let work = tempfile::tempdir().unwrap();
    let (raw, offset) = raw_copy(system, work.path());
    let local = work.path().join(name);
    std::fs::write(&local, contents).unwrap();
    let mut commands = String::new();
    let mut at = String::new();
    for part in dir.trim_matches('/').split('/') {
        at = format!("{at}/{part}");
        commands.push_str(&format!("mkdir {at}\n"));
    }
    commands.push_str(&format!("write {} {dir}/{name}\n", local.display()));
    let script = work.path().join("commands");
    std::fs::write(&script, commands).unwrap();
    // mkdir of an existing directory only complains; the write must work.
    Command::new("debugfs")
        .arg("-w")
        .arg("-f")
        .arg(&script)
        .arg(format!("{}?offset={offset}", raw.display()))
        .output()
        .unwrap_or_else(|e| panic!("debugfs: {e}"));
    run(Command::new("qemu-img")
        .args(["convert", "-n", "-f", "raw", "-O", "qcow2"])
        .arg(&raw)
        .arg(system.run_disk()));
    assert_eq!(read_data_file(system, &format!("{dir}/{name}")), contents);
}

#[test]
fn jobs_fire_overlap_time_out_catch_up_and_keep_their_history() {
    let _serial = serial();
    let system = TestSystem::build("jobs", MANIFEST);

    // Boot 1.
    let mut vm = system.boot(&[]);
    let started = vm.wait_for("cairn: job at-boot started");
    assert!(started.text.contains("reboot run"), "{}", started.text);
    vm.wait_for_after(
        started.index,
        "[at-boot] testapp: crashing with 0",
        STEP_TIMEOUT,
    );
    vm.wait_for_after(
        started.index,
        "cairn: job at-boot exited (status 0)",
        STEP_TIMEOUT,
    );
    // A job with no history has missed nothing.
    assert!(vm.lines_matching("job nightly started").is_empty());

    // The every-minute job starts on a minute, within a second of it.
    let first = vm.wait_for_regex(
        0,
        r"cairn: job slow started \(pid \d+, schedule run for \S+:00Z, \d+ ms after its time\)",
        MINUTE,
    );
    let late_ms: u64 = first
        .text
        .rsplit(", ")
        .next()
        .and_then(|s| s.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or(u64::MAX);
    assert!(late_ms < 1000, "{}", first.text);
    vm.wait_for_after(first.index, "[slow] testapp: up", STEP_TIMEOUT);
    // The next minute it is still running: skipped, logged once.
    let skipped = vm.wait_for_after(first.index, "cairn: job slow: schedule run for", MINUTE);
    assert!(skipped.text.contains("skipped"), "{}", skipped.text);
    // 65 s after its start it is stopped.
    let timeout = vm.wait_for_after(first.index, "exceeded its timeout of 65000 ms", MINUTE);
    let ended = vm.wait_for_regex(
        timeout.index,
        r"cairn: job slow exited \(.*timed out\)",
        STEP_TIMEOUT,
    );
    // Measured in the guest: at least the timeout after the start (the
    // host's receipt times of console lines are not that exact).
    let ran_ms: u64 = ended
        .text
        .rsplit("after ")
        .next()
        .and_then(|s| s.trim_end_matches(" ms").parse().ok())
        .unwrap_or(0);
    assert!(ran_ms >= 65_000, "{}", ended.text);
    assert_eq!(
        vm.lines_matching("job slow: schedule run for .* skipped")
            .len(),
        1
    );
    vm.power_off();
    drop(vm);

    // While the machine is off: nightly last ran long ago.
    write_data_file(
        &system,
        "/cairn/jobs/nightly",
        "last",
        "2025-06-01T01:00:00Z\n",
    );

    // Boot 2: the missed nightly run fires once; @reboot runs again.
    let mut vm = system.boot(&[]);
    let catch_up = vm.wait_for_regex(
        0,
        r"cairn: job nightly started \(pid \d+, catch-up run for ",
        BOOT_TIMEOUT,
    );
    vm.wait_for_after(0, "cairn: job at-boot started", STEP_TIMEOUT);
    let missed = vm.wait_for_after(0, "cairn: job nightly: ", STEP_TIMEOUT);
    assert!(
        missed.text.contains("scheduled run(s) missed"),
        "{}",
        missed.text
    );
    assert!(missed.index < catch_up.index);
    vm.wait_for_after(
        catch_up.index,
        "cairn: job nightly exited (status 0)",
        STEP_TIMEOUT,
    );
    std::thread::sleep(Duration::from_secs(5));
    assert_eq!(vm.lines_matching("job nightly started").len(), 1);
    vm.power_off();
    drop(vm);

    // Each run's output is in the job's log files, with every field, from
    // both boots.
    let logged = disk_logs::read_logs(system.run_disk(), Some("at-boot"), None).unwrap();
    let runs = logged
        .iter()
        .filter(|l| l.ends_with(" at-boot stdout testapp: crashing with 0"))
        .count();
    assert_eq!(runs, 2, "{logged:#?}");
    let slow_log = disk_logs::read_logs(system.run_disk(), Some("slow"), None).unwrap();
    assert!(
        slow_log
            .iter()
            .any(|l| l.contains(" slow ") && l.ends_with("testapp: up")),
        "{slow_log:#?}"
    );

    // The history on the data partition kept both boots.
    let at_boot = read_data_file(&system, "/cairn/jobs/at-boot/history.jsonl");
    let lines: Vec<&str> = at_boot.lines().collect();
    assert_eq!(lines.len(), 2, "{at_boot}");
    assert!(
        lines
            .iter()
            .all(|l| l.contains("\"reason\":\"reboot\"") && l.contains("\"code\":0")),
        "{at_boot}"
    );
    let slow = read_data_file(&system, "/cairn/jobs/slow/history.jsonl");
    assert!(slow.contains("\"timed_out\":true"), "{slow}");
    let nightly = read_data_file(&system, "/cairn/jobs/nightly/history.jsonl");
    assert!(nightly.contains("\"reason\":\"catch-up\""), "{nightly}");
    let last = read_data_file(&system, "/cairn/jobs/nightly/last");
    assert!(
        last.trim_end().ends_with(":00:00Z") && !last.starts_with("2025-06-01"),
        "{last}"
    );
}
