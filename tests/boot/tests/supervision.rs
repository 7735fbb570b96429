//! PID 1 as supervisor and reaper: a crashing app is restarted with growing
//! backoff, and orphaned grandchildren are reaped by PID 1.

use std::time::Duration;

use cairn_boot_tests::{parse_duration, serial, TestSystem, BOOT_TIMEOUT, STEP_TIMEOUT};
use regex::Regex;

const MANIFEST: &str = r#"
version = 1

[apps.crashy]
bundle = "bin/cairn-testapp"
exec = ["/bin/cairn-testapp", "crash-after", "1", "3"]
restart = "on-failure"

[apps.orphans]
bundle = "bin/cairn-testapp"
exec = ["/bin/cairn-testapp", "orphans", "5"]
"#;

const ORPHANS: usize = 5;

#[test]
fn crashes_are_restarted_with_backoff_and_orphans_are_reaped() {
    let _serial = serial();
    let system = TestSystem::build("supervision", MANIFEST);
    let mut vm = system.boot(&[]);

    // Three starts of crashy, each after an exit with status 3.
    let mut found = vm.wait_for("cairn: app crashy started (pid ");
    for _ in 0..2 {
        found = vm.wait_for_after(
            found.index + 1,
            "cairn: app crashy started (pid ",
            BOOT_TIMEOUT,
        );
    }
    vm.wait_for("[crashy] testapp: crashing with 3");
    let exited = Regex::new(r"cairn: app crashy exited \(([^)]*)\), restarting in (\S+)").unwrap();
    let status_three = Regex::new(r"\b3\b").unwrap();
    let mut backoffs: Vec<Duration> = Vec::new();
    for line in vm.lines_matching(exited.as_str()) {
        let caps = exited.captures(&line).unwrap();
        assert!(
            status_three.is_match(&caps[1]),
            "crashy should exit with status 3: {line}"
        );
        backoffs.push(
            parse_duration(&caps[2]).unwrap_or_else(|| panic!("unreadable backoff in {line}")),
        );
    }
    assert!(backoffs.len() >= 2, "restarts: {backoffs:?}");
    assert!(
        backoffs.windows(2).all(|w| w[1] >= w[0]) && backoffs[backoffs.len() - 1] > backoffs[0],
        "backoff should grow: {backoffs:?}"
    );

    // Every orphan the app left behind is reaped by PID 1.
    let orphan = Regex::new(r"\[orphans\] testapp: orphan pid (\d+)").unwrap();
    let mut from = 0;
    let mut pids = Vec::new();
    for _ in 0..ORPHANS {
        let line = vm.wait_for_regex(from, orphan.as_str(), BOOT_TIMEOUT);
        from = line.index + 1;
        pids.push(orphan.captures(&line.text).unwrap()[1].to_string());
    }
    for pid in &pids {
        vm.wait_for_after(0, &format!("cairn: reaped orphan pid {pid}"), STEP_TIMEOUT);
    }

    let mark = vm.line_count();
    vm.powerdown();
    let stopping = vm.wait_for_after(mark, "cairn: stopping apps", STEP_TIMEOUT);
    vm.wait_for_after(
        stopping.index,
        "[orphans] testapp: got SIGTERM",
        STEP_TIMEOUT,
    );
    vm.wait_for_after(
        stopping.index,
        "cairn: unmounted, syncing, powering off",
        STEP_TIMEOUT,
    );
    let status = vm.wait_exit(STEP_TIMEOUT);
    assert!(status.success(), "qemu exited with {status}");
}
