//! Health in the real system: an app whose HTTP check passes turns green and
//! the boot is blessed; an app whose check fails turns red after its grace
//! and the boot is left unblessed (the entry keeps its boot counter); a
//! crash-looping app is marked failed while its neighbour keeps answering.

use cairn_boot_tests::{serial, TestSystem, STEP_TIMEOUT};

const HEALTHY: &str = r#"
version = 1

[apps.web]
bundle = "bin/hello"
exec = ["/bin/hello"]
ports.http = 8080
restart = "always"

[apps.web.health]
http = "/healthz"
interval = "1s"
timeout = "2s"
grace = "30s"
"#;

const TROUBLED: &str = r#"
version = 1

[network.interfaces.eth0]
dhcp = true

[apps.web]
bundle = "bin/hello"
exec = ["/bin/hello"]
ports.http = 8080
restart = "always"

[apps.sick]
bundle = "bin/cairn-testapp"
exec = ["/bin/cairn-testapp", "http-status", "500"]
ports.http = 8090
restart = "never"

[apps.sick.health]
http = "/healthz"
interval = "500ms"
timeout = "2s"
grace = "3s"

[apps.crashy]
bundle = "bin/cairn-testapp"
exec = ["/bin/cairn-testapp", "crash-after", "0", "boom"]
restart = "always"
"#;

#[test]
fn a_healthy_app_turns_green_and_the_boot_is_blessed() {
    let _serial = serial();
    let system = TestSystem::build("health-green", HEALTHY);
    let mut vm = system.boot(&[8080]);

    let green = vm.wait_for("cairn: app web health yellow -> green: GET /healthz: 200");
    let ready = vm.wait_for("cairn: all apps ready");
    assert!(ready.index > green.index, "ready before the check passed");
    let blessed = vm.wait_for_after(ready.index, "cairn: boot blessed", STEP_TIMEOUT);
    assert!(
        blessed
            .text
            .contains(&format!("-> {}.conf", system.entry_stem())),
        "{}",
        blessed.text
    );
    assert!(vm.lines_matching("health .* -> red").is_empty());

    vm.power_off();
    drop(vm);
    let entries = system.snapshot_disk().esp_entries().unwrap();
    assert_eq!(
        entries,
        vec![
            system.idle_entry('b'),
            format!("{}.conf", system.entry_stem())
        ]
    );
}

#[test]
fn a_red_app_leaves_the_boot_unblessed_and_a_crash_loop_is_marked_failed() {
    let _serial = serial();
    let system = TestSystem::build("health-red", TROUBLED);
    let mut vm = system.boot(&[8080]);

    // The failing check keeps `sick` yellow through its grace, then red.
    let started = vm.wait_for("cairn: app sick started (pid ");
    let red =
        vm.wait_for("cairn: app sick health yellow -> red: GET /healthz: status 500 (3 of 3)");
    // (Console time stamps are taken on the host, so allow some jitter.)
    assert!(
        red.at >= started.at + std::time::Duration::from_millis(2500),
        "red {:?} after the start, within the 3s grace",
        red.at - started.at
    );
    vm.wait_for("cairn: warning: not blessing: app ");

    // `crashy` crashes at once, each time with a crash report, until the
    // breaker opens.
    vm.wait_for("cairn: app crashy crashed (status 2); last stderr lines:");
    vm.wait_for("    testapp: bad exit code \"boom\"");
    vm.wait_for("cairn: error: app crashy failed: crashed 5 times in 60s; not restarting");

    // The neighbour is untouched.
    let answer = vm.http_get(8080, "/");
    assert_eq!(answer.status, 200, "{answer:?}");
    assert!(answer.body.contains("hello from web"), "{answer:?}");
    // Well past the next backoff step: no sixth start.
    std::thread::sleep(std::time::Duration::from_secs(5));
    assert_eq!(
        vm.lines_matching(r"cairn: app crashy started \(pid ").len(),
        5,
        "crashy is not started again once failed"
    );
    assert!(vm.lines_matching("cairn: all apps ready").is_empty());
    assert!(vm.lines_matching("cairn: boot blessed").is_empty());

    vm.power_off();
    drop(vm);
    let entries = system.snapshot_disk().esp_entries().unwrap();
    assert_eq!(
        entries,
        vec![
            system.idle_entry('b'),
            format!("{}+2-1.conf", system.entry_stem())
        ],
        "the boot was counted and not blessed"
    );
}
