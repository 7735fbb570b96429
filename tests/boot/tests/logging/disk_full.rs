//! A full data partition: the logger pauses its files, with a line saying
//! so, rather than take the space an app's state needs; the system runs
//! on; and once there is room again the files resume, saying how many lines
//! they missed.

use std::time::Duration;

use cairn_boot_tests::{serial, workspace, TestSystem, STEP_TIMEOUT};
use cairn_image_builder::disk_logs;

use super::{chatty_paced, longest_tick_gap, manifest_with_files, tick_numbers, TICKER};

/// MiB the filler frees once the disk has been full for a while (longer
/// than the logger takes to notice), and writes again after holding them
/// free as long.
const ROOM_MIB: u32 = 2;
const HOLD_SECS: u32 = 4;

fn filler() -> String {
    format!(
        r#"
[apps.filler]
bundle = "bin/cairn-testapp"
exec = ["/bin/cairn-testapp", "fill-state", "{ROOM_MIB}", "{HOLD_SECS}"]
restart = "never"

[apps.filler.paths]
"/var/lib/filler" = "state"
"#
    )
}

/// The number in `text` right after `prefix`.
fn number_after(text: &str, prefix: &str) -> u64 {
    let (_, rest) = text
        .split_once(prefix)
        .unwrap_or_else(|| panic!("no {prefix:?} in {text:?}"));
    rest.split(|c: char| !c.is_ascii_digit())
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no number after {prefix:?} in {text:?}"))
}

#[test]
fn a_full_data_partition_pauses_log_files_and_the_system_runs_on() {
    let _serial = serial();
    let boards = tempfile::tempdir().unwrap();
    let board = workspace::board_without_growth(boards.path());
    // A chatty neighbour too, and log files that do not rotate within the
    // test (rotation deletes as much as it writes): logs that were not
    // paused would take the room the filler makes within its hold.
    let apps = format!("{}{TICKER}{}", filler(), chatty_paced(30_000, 1_000));
    let manifest = manifest_with_files("4MiB", 2, "", &apps);
    let system = TestSystem::build_for_board("logging-disk-full", &manifest, &board);
    let mut vm = system.boot(&[]);

    let started = vm.wait_for("cairn: app filler started");
    let full = vm.wait_for_after(
        started.index,
        "[filler] testapp: fill: full after ",
        STEP_TIMEOUT,
    );
    assert!(
        full.text
            .contains("(No space left on device (os error 28)); "),
        "{}",
        full.text
    );
    // The app, not the logs, got the partition: most of its 64 MiB.
    let filled = number_after(&full.text, "full after ");
    assert!(filled > 32 << 10, "the app could write only {filled} KiB");
    // Free space went below the logger's reserve (5% of the partition, but
    // at least 16 MiB): it paused its files and said so, once, before the
    // app made room.
    let paused = vm.wait_for_regex(
        started.index,
        r"^cairn: warning: logger: log files paused: \d+ MiB free on the data partition, 16 MiB kept in reserve; lines are counted until there is room$",
        STEP_TIMEOUT,
    );
    // While the files are paused, the room the app makes stays the app's:
    // after a while it can still write every byte that was free.
    let room = vm.wait_for_after(
        full.index,
        "[filler] testapp: fill: made room: ",
        STEP_TIMEOUT,
    );
    assert!(paused.index < room.index, "the files were not paused yet");
    let free = number_after(&room.text, "made room: ");
    assert!(
        free > (ROOM_MIB as u64 - 1) << 10,
        "only {free} KiB free after deleting {ROOM_MIB} MiB"
    );
    vm.wait_for_regex(
        room.index,
        r"^\[filler\] testapp: fill: (rewrote|rewrite failed)",
        STEP_TIMEOUT,
    );
    assert_eq!(
        vm.lines_matching(r"^\[filler\] testapp: fill: rewr"),
        [format!("[filler] testapp: fill: rewrote {free} KiB")]
    );
    let deleted = vm.wait_for_after(room.index, "[filler] testapp: fill: deleted ", STEP_TIMEOUT);
    let resumed = vm.wait_for_regex(
        deleted.index,
        r"^cairn: logger: log files resumed; \d+ lines were not written while paused$",
        STEP_TIMEOUT,
    );
    let not_written = number_after(&resumed.text, "resumed; ");
    // The neighbour ticked on the console all along, and still does.
    let gap = longest_tick_gap(&vm, started.index, resumed.index);
    assert!(
        gap < Duration::from_secs(3),
        "ticker held up {gap:?} by the full disk"
    );
    let after = vm.wait_for_regex(resumed.index, r"^\[ticker\] tick \d+$", STEP_TIMEOUT);
    assert_eq!(
        vm.lines_matching("log files paused").len(),
        1,
        "paused once"
    );
    assert!(vm.lines_matching("cairn: error:").is_empty());
    vm.power_off();
    drop(vm);

    // In the ticker's file: the ticks before the pause and after the
    // resume; the ones between are missing, and counted.
    let ticker = disk_logs::read_logs(system.run_disk(), Some("ticker"), None).unwrap();
    let ticks = tick_numbers(&ticker);
    let last = *ticks.last().unwrap();
    let missing = (0..=last).filter(|n| !ticks.contains(n)).count() as u64;
    let resumed_tick = tick_numbers([&after.text])[0];
    assert!(
        last >= resumed_tick,
        "no tick after the resume in the file (last {last}, resumed by {resumed_tick})"
    );
    assert!(missing > 0, "no tick was kept out of the file while paused");
    assert!(
        missing <= not_written,
        "{missing} ticks are missing but only {not_written} lines were counted"
    );
    // The system's own file carries on too.
    let cairn = disk_logs::read_logs(system.run_disk(), Some("cairn"), None).unwrap();
    assert!(
        cairn.iter().any(|l| l.ends_with(&format!(
            "log files resumed; {not_written} lines were not written while paused"
        ))),
        "the resume is in the system's log file"
    );
}
