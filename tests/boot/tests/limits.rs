//! Limits in the real system: each app instance runs in its own cgroup with
//! the limits of its manifest. A fork bomb stops at its process limit, a
//! memory hog is OOM-killed inside its own cgroup, and PID 1 says which limit
//! each hit, while the neighbour keeps answering HTTP through a forwarded
//! port during and after. An app gets EPERM for a port it did not declare
//! and binds its declared one, and sees its `open_files` as RLIMIT_NOFILE.

use cairn_boot_tests::{serial, Machine, TestSystem, STEP_TIMEOUT};

const MANIFEST: &str = r#"
version = 1

[network.interfaces.eth0]
dhcp = true

[apps.web]
bundle = "bin/hello"
exec = ["/bin/hello"]
ports.http = 8080
restart = "always"

[apps.prober]
bundle = "bin/cairn-testapp"
exec = ["/bin/cairn-testapp", "limits-probe", "9999"]
ports.http = 8090

[apps.prober.limits]
open_files = 64
cpu = 0.5

[apps.bomb]
bundle = "bin/cairn-testapp"
exec = ["/bin/cairn-testapp", "fork-bomb"]
after = ["web"]
restart = "never"

[apps.bomb.limits]
processes = 16

[apps.hog]
bundle = "bin/cairn-testapp"
exec = ["/bin/cairn-testapp", "memory-hog"]
after = ["web"]
restart = "never"

[apps.hog.limits]
memory = "32MiB"
"#;

fn hello(vm: &Machine, when: &str) {
    let answer = vm.http_get(8080, "/");
    assert_eq!(answer.status, 200, "{when}: {answer:?}");
    assert!(answer.body.contains("hello from web"), "{when}: {answer:?}");
}

#[test]
fn limits_hold_and_the_neighbour_keeps_answering() {
    let _serial = serial();
    let system = TestSystem::build("limits", MANIFEST);
    let mut vm = system.boot(&[8080]);

    // Every controller the manifest needs is there, and nothing is left
    // unenforced.
    vm.wait_for("cairn: cgroups: cpu, memory, pids for apps");

    // The port guard and the rlimit, from inside.
    vm.wait_for("[prober] testapp: nofile 64 64");
    vm.wait_for("[prober] testapp: bind 8090 ok");
    vm.wait_for("[prober] testapp: bind 9999 errno 1");

    // The hog grows inside its cgroup while the neighbour answers.
    vm.wait_for("[hog] testapp: holding 8 MiB");
    hello(&vm, "while the hog grows");

    // 16 processes: the bomb itself and 15 children (its namespace's reaper
    // has a pid of its own on top).
    vm.wait_for("[bomb] testapp: forked 15 children, then fork failed: errno 11");
    vm.wait_for("cairn: warning: app bomb: hit its process limit (processes = 16), 1 fork refused");
    vm.wait_for("cairn: app bomb exited (status 1), not restarting");

    let oom = vm.wait_for("cairn: warning: app hog: out of memory (memory = 32 MiB), oom-killed ");
    vm.wait_for_after(
        oom.index,
        "cairn: app hog exited (signal SIGKILL), not restarting",
        STEP_TIMEOUT,
    );
    // It never got past its limit.
    assert!(vm
        .lines_matching(r"\[hog\] testapp: holding (3[2-9]|[4-9]\d)")
        .is_empty());
    hello(&vm, "after the hog was killed");
    hello(&vm, "after the bomb ended");

    // PID 1 and the rest are untouched: no other app died, nothing of the
    // limits went unenforced.
    assert!(vm.lines_matching("not enforced|not refused").is_empty());
    assert!(vm
        .lines_matching(r"cairn: app (web|prober) exited")
        .is_empty());
    assert_eq!(vm.lines_matching(r"cairn: app web started").len(), 1);

    vm.power_off();
}
