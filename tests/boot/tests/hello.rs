//! The demo system end to end: boot, serve through a forwarded port, bless
//! the boot, power off cleanly, and leave a blessed entry on the ESP.

use cairn_boot_tests::{serial, TestSystem, HELLO_MANIFEST, STEP_TIMEOUT};

#[test]
fn hello_serves_blesses_and_powers_off_cleanly() {
    let _serial = serial();
    let system = TestSystem::build("hello", HELLO_MANIFEST);
    let version = system.version().to_string();
    let mut vm = system.boot(&[8080]);

    vm.wait_for("cairn: init started");
    vm.wait_for(&format!("cairn: bank a version {version} mounted"));
    vm.wait_for("[hello] hello: listening on 0.0.0.0:8080");
    vm.wait_for("cairn: all apps ready");

    let root = vm.http_get(8080, "/");
    assert_eq!(root.status, 200, "{root:?}");
    assert!(
        root.body.contains("hello from hello instance 0"),
        "{root:?}"
    );
    let health = vm.http_get(8080, "/healthz");
    assert_eq!((health.status, health.body.as_str()), (200, "ok\n"));

    let blessed = vm.wait_for("cairn: boot blessed");
    assert!(
        blessed
            .text
            .contains(&format!("-> {}.conf", system.entry_stem())),
        "{}",
        blessed.text
    );

    let mark = vm.line_count();
    vm.powerdown();
    let requested = vm.wait_for_after(mark, "cairn: power off requested", STEP_TIMEOUT);
    let stopping = vm.wait_for_after(requested.index, "cairn: stopping apps", STEP_TIMEOUT);
    let app_stopped = vm.wait_for_after(
        stopping.index,
        "[hello] hello: got SIGTERM, exiting",
        STEP_TIMEOUT,
    );
    vm.wait_for_after(
        app_stopped.index,
        "cairn: unmounted, syncing, powering off",
        STEP_TIMEOUT,
    );
    let status = vm.wait_exit(STEP_TIMEOUT);
    assert!(status.success(), "qemu exited with {status}");
    drop(vm);

    let disk = system.snapshot_disk();
    let entries = disk.esp_entries().unwrap();
    assert!(
        entries.contains(&format!("{}.conf", system.entry_stem())),
        "loader/entries: {entries:?}"
    );
    assert!(
        entries.iter().all(|name| !name.contains('+')),
        "an entry still counts boots: {entries:?}"
    );
}
