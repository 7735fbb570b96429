//! An app that tries, from inside a booted image, each way out of its
//! sandbox that the system call filter, the kernel's limit on user
//! namespaces and the masks of /proc close, finds each closed (`EPERM`
//! from the filter, `ENOSYS` for clone3, empty or missing masked files, a
//! read-only /proc/sys), and still works: it threads, forks and execs,
//! sees only its own processes, binds its declared port and turns green.
//! A second app allows ptrace and personality in its `[security]` and
//! denies getcpu, and gets exactly that.

use std::collections::BTreeMap;

use cairn_boot_tests::{serial, Machine, TestSystem, BOOT_TIMEOUT, STEP_TIMEOUT};

const MANIFEST: &str = r#"
version = 1

[network.interfaces.eth0]
dhcp = true

[apps.escaper]
bundle = "bin/cairn-testapp"
exec = ["/bin/cairn-testapp", "escapes"]
ports.http = 8080

[apps.escaper.health]
http = "/healthz"
interval = "1s"
timeout = "2s"
grace = "30s"

[apps.tracer]
bundle = "bin/cairn-testapp"
exec = ["/bin/cairn-testapp", "escapes"]
ports.http = 8081

[apps.tracer.security]
syscalls = ["+ptrace", "+personality", "-getcpu"]
"#;

/// The facts app `label` printed, up to the one that says it is done.
fn facts(vm: &Machine, label: &str) -> BTreeMap<String, String> {
    let prefix = format!("[{label}] testapp: fact ");
    let done = vm.wait_for_after(0, &format!("{prefix}done"), BOOT_TIMEOUT);
    vm.lines()
        .into_iter()
        .take(done.index + 1)
        .filter_map(|line| {
            let rest = line.text.split_once(&prefix)?.1.to_string();
            let (key, value) = rest.split_once(' ').unwrap_or((rest.as_str(), ""));
            Some((key.to_string(), value.to_string()))
        })
        .collect()
}

const EPERM: &str = "error:1";

#[test]
fn every_escape_is_closed_and_the_app_still_works() {
    let _serial = serial();
    let system = TestSystem::build("escapes", MANIFEST);
    let mut vm = system.boot(&[8080]);

    let escaper = facts(&vm, "escaper");
    let get = |k: &str| escaper.get(k).map(String::as_str).unwrap_or("missing");
    for call in [
        "keyctl",
        "add_key",
        "io_uring_setup",
        "userfaultfd",
        "personality_linux32",
        "personality_no_aslr",
        "unshare_user",
        "clone_user",
        "mount",
        "ptrace",
    ] {
        assert_eq!(get(call), EPERM, "{call}: {escaper:#?}");
    }
    assert_eq!(
        get("clone3"),
        "error:38",
        "ENOSYS, so libc falls back to clone"
    );
    assert_eq!(get("max_user_namespaces"), "0", "PID 1's limit");
    for file in ["proc_keys", "proc_kcore", "proc_timer_list"] {
        assert!(
            ["0", "error:2"].contains(&get(file)),
            "{file} reads empty or is not there: {}",
            get(file)
        );
    }
    assert_eq!(get("proc_keys"), "0", "the guest kernel has /proc/keys");
    assert!(
        ["0", "error:2"].contains(&get("proc_acpi_entries")),
        "/proc/acpi: {}",
        get("proc_acpi_entries")
    );
    assert!(get("proc_sys_write").starts_with("error:"), "{escaper:#?}");
    assert_eq!(get("proc_sys_read_only"), "true");
    assert_eq!(get("processes"), "2", "its reaper and itself");
    assert_eq!(get("thread"), "ok", "threads start (clone3 falls back)");
    assert_eq!(get("fork_exec"), "exit:2", "fork and exec work");
    assert_eq!(get("getcpu"), "ok");

    let tracer = facts(&vm, "tracer");
    let get = |k: &str| tracer.get(k).map(String::as_str).unwrap_or("missing");
    assert_eq!(get("ptrace"), "ok", "+ptrace: {tracer:#?}");
    assert_eq!(get("personality_no_aslr"), "ok", "+personality");
    assert_eq!(get("keyctl"), EPERM, "the rest of the defaults hold");
    assert_eq!(get("unshare_user"), EPERM);
    assert_eq!(get("getcpu"), EPERM, "-getcpu");

    vm.wait_for("cairn: app escaper health yellow -> green: GET /healthz: 200");
    vm.wait_for("cairn: all apps ready");
    let answer = vm.http_get(8080, "/");
    assert_eq!(answer.status, 200, "{answer:?}");

    let mark = vm.line_count();
    vm.powerdown();
    vm.wait_for_after(
        mark,
        "cairn: unmounted, syncing, powering off",
        STEP_TIMEOUT,
    );
    let status = vm.wait_exit(STEP_TIMEOUT);
    assert!(status.success(), "qemu exited with {status}");
}
