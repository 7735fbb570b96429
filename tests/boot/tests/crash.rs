//! The crash path: a fatal error in PID 1 is logged, the disks are synced,
//! and the machine reboots after a delay instead of the kernel panicking. The
//! boot is never blessed, so systemd-boot's counter keeps going down: the
//! mechanism that rolls back to the other bank.

use std::time::Duration;

use cairn_boot_tests::{serial, workspace, TestSystem, BOOT_TIMEOUT};

const MANIFEST: &str = r#"
version = 1

[apps.idle]
bundle = "bin/cairn-testapp"
exec = ["/bin/cairn-testapp", "sleep"]
"#;

/// How long PID 1 leaves its last words on screen before rebooting.
const CRASH_DELAY: Duration = Duration::from_secs(10);

#[test]
fn a_fatal_error_reboots_after_a_delay_and_leaves_the_boot_unblessed() {
    let _serial = serial();
    // A board that leaves out the squashfs driver: PID 1 cannot mount the
    // bank, which leaves nothing to run and is fatal.
    let board_dir = tempfile::tempdir().unwrap();
    let board_path = board_dir.path().join("broken.toml");
    let board = std::fs::read_to_string(workspace::default_board()).unwrap();
    let broken = board.replacen("\"squashfs\",", "", 1);
    assert_ne!(board, broken, "the default board loads no squashfs module");
    std::fs::write(&board_path, broken).unwrap();

    let system = TestSystem::build_for_board("crash", MANIFEST, &board_path);
    let vm = system.boot(&[]);

    let first = vm.wait_for("cairn: FATAL: cannot mount bank a");
    // The machine reboots by itself, after the delay, into the same entry.
    let again = vm.wait_for_after(first.index + 1, "cairn: init started", BOOT_TIMEOUT);
    assert!(
        again.at >= first.at + CRASH_DELAY,
        "rebooted {:?} after the fatal error, before the delay",
        again.at - first.at
    );
    vm.wait_for_after(
        again.index,
        "cairn: FATAL: cannot mount bank a",
        BOOT_TIMEOUT,
    );
    assert!(vm.lines_matching("cairn: app idle started").is_empty());
    assert!(vm.lines_matching("cairn: boot blessed").is_empty());
    drop(vm);

    // Two tries of the entry are counted and none was blessed.
    let entries = system.snapshot_disk().esp_entries().unwrap();
    assert_eq!(
        entries,
        vec![
            system.idle_entry('b'),
            format!("{}+1-2.conf", system.entry_stem())
        ],
        "loader/entries after two failed boots"
    );
}
