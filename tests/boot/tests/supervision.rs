//! PID 1 as supervisor and reaper: a crashing app is restarted with growing
//! backoff; orphans an app leaves are reaped inside its own namespace, where
//! a reaper is pid 1 and the app pid 2, so no zombie is left; and an app
//! without a SIGTERM handler (Debian's `sleep`) still stops on TERM at power
//! off, long before its `stop_timeout`.

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
exec = ["/bin/cairn-testapp", "zombie-check", "5"]

[apps.nohandler]
bundle = "/usr/bin/sleep"
exec = ["/bin/sleep", "1000"]
stop_timeout = "20s"
"#;

/// How long the whole stop may take after "stopping apps": far less than
/// `nohandler`'s 20 s `stop_timeout`, so it cannot have been killed.
const PROMPT_STOP: Duration = Duration::from_secs(10);

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

    // The orphans are reaped in the app's namespace: none is left a zombie,
    // and the app is pid 2 there, under the namespace's reaper.
    vm.wait_for("[orphans] testapp: zombies: 0");
    vm.wait_for("[orphans] testapp: my pid 2");
    vm.wait_for("cairn: app nohandler started (pid ");

    let mark = vm.line_count();
    vm.powerdown();
    let stopping = vm.wait_for_after(mark, "cairn: stopping apps", STEP_TIMEOUT);
    vm.wait_for_after(
        stopping.index,
        "[orphans] testapp: got SIGTERM",
        STEP_TIMEOUT,
    );
    // TERM reached `sleep` (which has no handler) through the reaper, and
    // its default action ended it: the reaper reports that as 128 + 15.
    vm.wait_for_after(
        stopping.index,
        "cairn: app nohandler stopped (status 143)",
        STEP_TIMEOUT,
    );
    let off = vm.wait_for_after(
        stopping.index,
        "cairn: unmounted, syncing, powering off",
        STEP_TIMEOUT,
    );
    assert!(
        off.at - stopping.at < PROMPT_STOP,
        "the stop took {:?}",
        off.at - stopping.at
    );
    assert!(
        vm.lines_matching("did not stop in").is_empty(),
        "no app should need SIGKILL"
    );
    let status = vm.wait_exit(STEP_TIMEOUT);
    assert!(status.success(), "qemu exited with {status}");
}
