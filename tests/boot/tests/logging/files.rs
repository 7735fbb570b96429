//! Console and files: every field of a line, rotation, and a flood that
//! does not hold up its neighbour.

use std::time::Duration;

use cairn_boot_tests::{serial, TestSystem, STEP_TIMEOUT};
use cairn_image_builder::disk_logs;

use super::{chatty, longest_tick_gap, manifest, TICKER};

const FLOOD_LINES: u32 = 20_000;

#[test]
fn lines_reach_console_and_rotated_files_and_a_flood_does_not_hold_up_a_neighbour() {
    let _serial = serial();
    let apps = format!("{}{TICKER}", chatty(FLOOD_LINES));
    let system = TestSystem::build("logging-files", &manifest("", &apps));
    let mut vm = system.boot(&[]);

    let started = vm.wait_for("cairn: app chatty started");
    vm.wait_for("[ticker] tick 3");
    // The flood is shown only up to the console's rate; the rest is counted.
    vm.wait_for_after(
        started.index,
        "lines from chatty not shown on the console",
        STEP_TIMEOUT,
    );
    // (Its last line, `flood done`, is in the file, not on the console.)
    // Meanwhile the neighbour ticks on, every 200 ms.
    let later = vm.wait_for_after(started.index, "[ticker] tick 25", STEP_TIMEOUT);
    let during = longest_tick_gap(&vm, started.index, later.index + 1);
    assert!(
        during < Duration::from_secs(3),
        "ticker held up {during:?} by the flood"
    );
    let mark = vm.line_count();
    vm.wait_for_after(mark, "[ticker] tick", STEP_TIMEOUT);
    assert!(
        vm.lines_matching("dropped .* lines from chatty").is_empty(),
        "nothing may be dropped from the files: {:?}",
        vm.lines_matching("dropped")
    );
    vm.power_off();
    drop(vm);

    // The files, read from the powered-off disk.
    let work = tempfile::tempdir().unwrap();
    let dir = disk_logs::extract_logs(system.run_disk(), Some("chatty"), work.path()).unwrap();
    let mut files: Vec<(String, u64)> = std::fs::read_dir(&dir)
        .unwrap()
        .flatten()
        .map(|e| {
            (
                e.file_name().to_string_lossy().into_owned(),
                e.metadata().unwrap().len(),
            )
        })
        .collect();
    files.sort();
    assert_eq!(
        files.len(),
        3,
        "current and keep = 2 rotated files: {files:?}"
    );
    assert!(files.iter().any(|(n, _)| n == "current"), "{files:?}");
    for (name, size) in &files {
        assert!(*size <= 64 * 1024, "{name} is {size} bytes");
    }
    let lines = disk_logs::read_logs(system.run_disk(), Some("chatty"), None).unwrap();
    let last = format!("chatty stdout flood {:06} ", FLOOD_LINES - 1);
    let found = lines.iter().find(|l| l.contains(&last)).unwrap_or_else(|| {
        panic!(
            "no {last:?} in {} lines, last {:?}",
            lines.len(),
            lines.last()
        )
    });
    // `2026-11-23T09:45:10.123456Z chatty stdout flood 019999 xxx`
    let stamp = found.split(' ').next().unwrap();
    assert_eq!(stamp.len(), 27, "{found}");
    assert!(
        stamp.ends_with('Z') && stamp.as_bytes()[10] == b'T',
        "{found}"
    );
    // The newest lines are all there, in order, none lost.
    let numbers: Vec<u32> = lines
        .iter()
        .filter_map(|l| l.split(' ').nth(4)?.parse().ok())
        .collect();
    let first = numbers[0];
    assert_eq!(numbers, (first..FLOOD_LINES).collect::<Vec<_>>());
    assert!(lines
        .iter()
        .any(|l| l.ends_with("chatty stdout testapp: flood done 20000")));

    // The system's own log and the kernel's are files too.
    let system_lines = disk_logs::read_logs(system.run_disk(), Some("cairn"), None).unwrap();
    assert!(
        system_lines
            .iter()
            .any(|l| l.contains(" cairn info app chatty started (pid ")),
        "{system_lines:?}"
    );
    let kernel = disk_logs::read_logs(system.run_disk(), Some("kernel"), None).unwrap();
    assert!(kernel
        .iter()
        .any(|l| l.contains(" kernel ") && l.contains("Linux version")));
    let ticker = disk_logs::read_logs(system.run_disk(), Some("ticker"), None).unwrap();
    assert!(ticker.iter().any(|l| l.ends_with(" ticker stdout tick 3")));
}
