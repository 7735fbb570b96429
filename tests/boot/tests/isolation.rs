//! Each app instance runs in its own namespaces: it is pid 2 of its own PID
//! namespace, under the namespace's reaper (pid 1), and sees no other
//! process, runs as its own non-root uid with no
//! capabilities and no_new_privs, sees its own read-only tree plus exactly
//! its grants (nothing of the host, not the other app's state), and its
//! state survives a reboot. A bundled path with `readonly = false` is a
//! writable copy of what is shipped, afresh at every start.

use std::collections::BTreeMap;

use cairn_boot_tests::{serial, workspace, Machine, TestSystem, BOOT_TIMEOUT, STEP_TIMEOUT};

const MANIFEST: &str = r#"
version = 1

[apps.alpha]
bundle = "bin/cairn-testapp"
exec = ["/bin/cairn-testapp", "probe", "beta"]

[apps.alpha.paths]
"/var/lib/alpha" = "state"
"/tmp" = "tmpfs"

[apps.beta]
bundle = "bin/cairn-testapp"
exec = ["/bin/cairn-testapp", "probe", "alpha"]
instances = 2

[apps.beta.paths]
"/var/lib/beta" = "state"

[apps.scratch]
bundle = "bin/cairn-testapp"
exec = ["/bin/cairn-testapp", "writable-copy", "/etc/scratch", "/etc/scratch.txt", "/etc/shipped"]
restart = "always"

[apps.scratch.paths]
"/var/lib/scratch" = "state"
"/etc/scratch" = { bundle = "scratch", readonly = false }
"/etc/scratch.txt" = { bundle = "scratch.txt", readonly = false }
"/etc/shipped" = { bundle = "scratch", readonly = true }
"#;

/// The shipped content of `scratch`'s bundled paths.
fn ship_scratch(dir: &std::path::Path) {
    std::fs::create_dir_all(dir.join("scratch")).unwrap();
    std::fs::write(dir.join("scratch/app.conf"), "shipped\n").unwrap();
    std::fs::write(dir.join("scratch.txt"), "shipped file\n").unwrap();
}

/// The facts instance `label` printed after line `from`, once it is done.
fn facts(vm: &Machine, from: usize, label: &str) -> BTreeMap<String, String> {
    facts_to_done(vm, from, label).0
}

/// [`facts`], and the index of the line that said it was done.
fn facts_to_done(vm: &Machine, from: usize, label: &str) -> (BTreeMap<String, String>, usize) {
    let prefix = format!("[{label}] testapp: fact ");
    let done = vm.wait_for_after(from, &format!("{prefix}done"), BOOT_TIMEOUT);
    let facts = vm
        .lines()
        .into_iter()
        .skip(from)
        .take(done.index + 1 - from)
        .filter_map(|line| {
            let rest = line.text.split_once(&prefix)?.1.to_string();
            let (key, value) = rest.split_once(' ').unwrap_or((rest.as_str(), ""));
            Some((key.to_string(), value.to_string()))
        })
        .collect();
    (facts, done.index)
}

/// Both starts of `scratch` in boot `boot` (1 or 2): each finds what is
/// shipped, not what the one before wrote, and can write its copies but
/// not the read-only bundled path.
fn check_writable_copies(vm: &Machine, from: usize, boot: u32) {
    let uid = cairn_manifest::app_uid("scratch").to_string();
    let mut from = from;
    for start in [2 * boot - 1, 2 * boot] {
        let (facts, done) = facts_to_done(vm, from, "scratch");
        from = done + 1;
        let get = |key: &str| facts.get(key).map(String::as_str).unwrap_or("missing");
        assert_eq!(get("start"), start.to_string(), "{facts:#?}");
        assert_eq!(
            get("conf"),
            "shipped",
            "start {start} sees the shipped copy"
        );
        assert_eq!(get("earlier"), "false", "start {start}: no earlier write");
        assert_eq!(get("file"), "shipped file", "start {start}");
        assert_eq!(get("owner"), uid, "the copy is the app's");
        assert_eq!(get("write_conf"), "ok", "start {start}");
        assert_eq!(get("write_added"), "ok", "start {start}");
        assert_eq!(get("conf_after"), "changed", "start {start}");
        assert_eq!(get("write_file"), "ok", "start {start}");
        assert_eq!(get("file_after"), "changed", "start {start}");
        assert_eq!(get("write_readonly"), "error:30", "readonly = true");
    }
}

fn check(facts: &BTreeMap<String, String>, label: &str, app: &str, count: u32) {
    let get = |key: &str| facts.get(key).map(String::as_str).unwrap_or("missing");
    let uid = cairn_manifest::app_uid(app).to_string();
    assert_eq!(get("pid"), "2", "{label}: {facts:#?}");
    assert_eq!(
        get("pids"),
        "1,2",
        "{label} sees only its reaper and itself"
    );
    assert_eq!(get("uid"), uid, "{label}");
    assert_eq!(get("gid"), uid, "{label}");
    for cap in ["CapEff", "CapPrm", "CapBnd"] {
        assert_eq!(get(cap), "0000000000000000", "{label} {cap}");
    }
    assert_eq!(get("NoNewPrivs"), "1", "{label}");
    let hostname = label.replace('.', "-");
    assert_eq!(get("hostname"), hostname, "{label}");
    assert_eq!(get("bank"), "error:2", "{label} cannot see /bank");
    assert_eq!(
        get("other_state"),
        "error:2",
        "{label} cannot see the other's state"
    );
    assert_eq!(get("write_root"), "error:30", "{label}: / is read-only");
    assert_eq!(
        get("write_bin"),
        "error:30",
        "{label}: the tree is read-only"
    );
    assert_eq!(get("write_state"), "ok", "{label}");
    assert_eq!(get("count"), count.to_string(), "{label}: state count");
    assert!(
        get("resources").starts_with(&format!("{{\"app\":\"{app}\",")),
        "{label}: {}",
        get("resources")
    );
}

fn check_boot(vm: &Machine, from: usize, count: u32) {
    check_writable_copies(vm, from, count);
    let alpha = facts(vm, from, "alpha");
    check(&alpha, "alpha", "alpha", count);
    assert_eq!(alpha["root"], "bin,dev,proc,run,tmp,var");
    assert_eq!(alpha["write_tmp"], "ok", "alpha has a tmpfs /tmp");
    for label in ["beta", "beta.1"] {
        let beta = facts(vm, from, label);
        check(&beta, label, "beta", count);
        assert_eq!(beta["root"], "bin,dev,proc,run,var");
        assert_eq!(beta["write_tmp"], "error:2", "{label} was granted no /tmp");
    }
}

#[test]
fn apps_see_only_their_grants_as_their_own_users() {
    let _serial = serial();
    let system = TestSystem::build_with(
        "isolation",
        MANIFEST,
        &workspace::default_board(),
        ship_scratch,
    );
    let mut vm = system.boot(&[]);

    let first = vm.wait_for("cairn: data partition mounted (boot #1)");
    check_boot(&vm, first.index, 1);
    vm.wait_for("cairn: all apps ready");

    let mark = vm.line_count();
    vm.ctrl_alt_del();
    let rebooting = vm.wait_for_after(mark, "cairn: unmounted, syncing, rebooting", STEP_TIMEOUT);
    let second = vm.wait_for_after(
        rebooting.index,
        "cairn: data partition mounted (boot #2)",
        BOOT_TIMEOUT,
    );
    check_boot(&vm, second.index, 2);
    vm.wait_for_after(second.index, "cairn: all apps ready", BOOT_TIMEOUT);
    vm.powerdown();
    vm.wait_for_after(
        second.index,
        "cairn: unmounted, syncing, powering off",
        STEP_TIMEOUT,
    );
    let status = vm.wait_exit(STEP_TIMEOUT);
    assert!(status.success(), "qemu exited with {status}");
}
