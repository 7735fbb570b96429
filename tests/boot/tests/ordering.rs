//! `after` in the real system: an app starts only once the apps it names
//! are ready, and an app that speaks the sd_notify protocol is ready when it
//! says `READY=1`, not when it has merely been running for a while.

use std::time::Duration;

use cairn_boot_tests::{serial, TestSystem, STEP_TIMEOUT};

/// `db` says it is warming up at once and ready three seconds later; `api`
/// waits for it (and `edge` for `api`).
const MANIFEST: &str = r#"
version = 1

[apps.db]
bundle = "bin/cairn-testapp"
exec = ["/bin/cairn-testapp", "ready-after", "3"]

[apps.api]
bundle = "bin/cairn-testapp"
exec = ["/bin/cairn-testapp", "sleep"]
after = ["db"]

[apps.edge]
bundle = "bin/cairn-testapp"
exec = ["/bin/cairn-testapp", "sleep"]
after = ["api"]
"#;

#[test]
fn an_app_starts_after_the_apps_it_names_are_ready() {
    let _serial = serial();
    let system = TestSystem::build("ordering", MANIFEST);
    let mut vm = system.boot(&[]);

    let db_started = vm.wait_for("cairn: app db started (pid ");
    vm.wait_for("[db] testapp: warming up");
    let db_ready = vm.wait_for("cairn: app db yellow -> green: READY=1");
    let api_started = vm.wait_for("cairn: app api started (pid ");
    let api_ready = vm.wait_for("cairn: app api yellow -> green: running");
    let edge_started = vm.wait_for("cairn: app edge started (pid ");
    vm.wait_for("cairn: all apps ready");

    assert!(
        api_started.index > db_ready.index,
        "api started (line {}) before db was ready (line {})",
        api_started.index,
        db_ready.index
    );
    assert!(
        edge_started.index > api_ready.index,
        "edge started (line {}) before api was ready (line {})",
        edge_started.index,
        api_ready.index
    );
    // db spoke in its first second, so its three seconds of warming up were
    // waited for: a second of running did not count as ready. (Console time
    // stamps are taken on the host: allow some jitter.)
    assert!(
        api_started.at >= db_started.at + Duration::from_millis(2500),
        "api started {:?} after db, within db's warm-up",
        api_started.at - db_started.at
    );
    // Only one start each: waiting is not a failure.
    for app in ["db", "api", "edge"] {
        assert_eq!(
            vm.lines_matching(&format!(r"cairn: app {app} started \(pid "))
                .len(),
            1,
            "{app}"
        );
    }

    // Stopping goes the other way: dependents first.
    let mark = vm.line_count();
    vm.powerdown();
    let edge_stopped = vm.wait_for_after(mark, "cairn: app edge stopped", STEP_TIMEOUT);
    let api_stopped = vm.wait_for_after(mark, "cairn: app api stopped", STEP_TIMEOUT);
    let db_stopped = vm.wait_for_after(mark, "cairn: app db stopped", STEP_TIMEOUT);
    assert!(edge_stopped.index < api_stopped.index);
    assert!(api_stopped.index < db_stopped.index);
    vm.wait_for_after(
        mark,
        "cairn: unmounted, syncing, powering off",
        STEP_TIMEOUT,
    );
    assert!(vm.wait_exit(STEP_TIMEOUT).success());
}
