//! Ctrl-Alt-Delete reboots in place, the data partition keeps its boot
//! count across reboots and QEMU restarts, and an app that ignores SIGTERM
//! is killed after its stop_timeout so shutdown still completes.

use std::time::Duration;

use cairn_boot_tests::{serial, Machine, TestSystem, BOOT_TIMEOUT, STEP_TIMEOUT};

const MANIFEST: &str = r#"
version = 1

[network.interfaces.eth0]
dhcp = true

[apps.hello]
bundle = "bin/hello"
exec = ["/bin/hello"]
ports.http = 8080

[apps.stubborn]
bundle = "bin/cairn-testapp"
exec = ["/bin/cairn-testapp", "ignore-term"]
stop_timeout = "2s"
"#;

const STOP_TIMEOUT: Duration = Duration::from_secs(2);

/// Powers off from a booted machine and checks that stopping took at least
/// the stubborn app's stop_timeout and that QEMU exits cleanly.
fn power_off(vm: &mut Machine) {
    let mark = vm.line_count();
    vm.powerdown();
    let requested = vm.wait_for_after(mark, "cairn: power off requested", STEP_TIMEOUT);
    let stopping = vm.wait_for_after(requested.index, "cairn: stopping apps", STEP_TIMEOUT);
    let killed = vm.wait_for_after(
        stopping.index,
        "cairn: app stubborn stopped (signal SIGKILL)",
        STEP_TIMEOUT,
    );
    let done = vm.wait_for_after(
        killed.index,
        "cairn: unmounted, syncing, powering off",
        STEP_TIMEOUT,
    );
    assert!(
        done.at - stopping.at >= STOP_TIMEOUT,
        "stopping took {:?}, less than stubborn's stop_timeout",
        done.at - stopping.at
    );
    let status = vm.wait_exit(STEP_TIMEOUT);
    assert!(status.success(), "qemu exited with {status}");
}

#[test]
fn reboot_keeps_state_and_stubborn_apps_are_killed() {
    let _serial = serial();
    let system = TestSystem::build("reboot", MANIFEST);
    let mut vm = system.boot(&[8080]);

    vm.wait_for("cairn: data partition mounted (boot #1)");
    vm.wait_for("[stubborn] testapp: ignoring SIGTERM");
    vm.wait_for("cairn: all apps ready");
    assert_eq!(vm.http_get(8080, "/").status, 200);

    let mark = vm.line_count();
    vm.ctrl_alt_del();
    let requested = vm.wait_for_after(mark, "cairn: reboot requested", STEP_TIMEOUT);
    let stopping = vm.wait_for_after(requested.index, "cairn: stopping apps", STEP_TIMEOUT);
    let rebooting = vm.wait_for_after(
        stopping.index,
        "cairn: unmounted, syncing, rebooting",
        STEP_TIMEOUT,
    );
    assert!(rebooting.at - stopping.at >= STOP_TIMEOUT);

    // The same QEMU process boots the machine again.
    let second = vm.wait_for_after(rebooting.index, "cairn: init started", BOOT_TIMEOUT);
    vm.wait_for_after(
        second.index,
        "cairn: data partition mounted (boot #2)",
        BOOT_TIMEOUT,
    );
    vm.wait_for_after(second.index, "cairn: all apps ready", BOOT_TIMEOUT);
    assert_eq!(vm.http_get(8080, "/").status, 200);
    power_off(&mut vm);
    drop(vm);

    // A new QEMU on the same run disk: the count goes on.
    let mut vm = system.boot(&[8080]);
    vm.wait_for("cairn: data partition mounted (boot #3)");
    vm.wait_for("cairn: all apps ready");
    power_off(&mut vm);
}
