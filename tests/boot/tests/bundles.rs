//! The three kinds of bundle and the app's environment: a dynamic program
//! from the build host (its interpreter and libraries collected), a
//! directory bundle kept as it is, and a static program, each run under its
//! own unprivileged uid with the environment contract.

use cairn_boot_tests::{serial, workspace, TestSystem, STEP_TIMEOUT};

const MANIFEST: &str = r#"
version = 1

[system]
port_offset = 100

[apps.env]
bundle = "/usr/bin/printenv"
exec = ["/bin/printenv"]
restart = "never"
env = { GREETING = "hi there" }
ports.http = 7000
ports.admin = 7100

[apps.tree]
bundle = "tree"
exec = ["/bin/cairn-testapp", "cat", "/etc/greeting.txt"]

[apps.whoami]
bundle = "bin/cairn-testapp"
exec = ["/bin/cairn-testapp", "ids"]
instances = 2
"#;

#[test]
fn dynamic_directory_and_static_bundles_run_with_their_environment() {
    let _serial = serial();
    let system = TestSystem::build_with("bundles", MANIFEST, &workspace::default_board(), |dir| {
        let tree = dir.join("tree");
        std::fs::create_dir_all(tree.join("bin")).unwrap();
        std::fs::create_dir_all(tree.join("etc")).unwrap();
        std::fs::copy(
            dir.join("bin/cairn-testapp"),
            tree.join("bin/cairn-testapp"),
        )
        .unwrap();
        std::fs::write(
            tree.join("etc/greeting.txt"),
            "hello from a directory bundle\nsecond line\n",
        )
        .unwrap();
    });
    let mut vm = system.boot(&[]);

    // A dynamic ELF from the build host runs: its libraries came along.
    vm.wait_for("[env] CAIRN_APP=env");
    for line in [
        "[env] CAIRN_INSTANCE=0",
        "[env] PORT_HTTP=7100",
        "[env] PORT_ADMIN=7200",
        "[env] GREETING=hi there",
        "[env] PATH=/bin:/usr/bin",
        "cairn: app env exited (status 0), not restarting",
    ] {
        vm.wait_for(line);
    }
    // The environment is clean: nothing of PID 1's leaks in.
    let env_lines = vm.lines_matching(r"^\[env\] ");
    assert!(
        env_lines.iter().all(|l| !l.contains("cairn.bank")
            && !l.starts_with("[env] TERM=")
            && !l.starts_with("[env] BOOT_IMAGE=")),
        "{env_lines:#?}"
    );

    // A directory bundle keeps its tree.
    vm.wait_for("[tree] hello from a directory bundle");
    vm.wait_for("[tree] second line");

    // Each app runs under its own stable, unprivileged uid, no groups, no_new_privs.
    let uid = cairn_manifest::app_uid("whoami");
    let expected = format!("testapp: uid={uid} gid={uid} groups=0 no_new_privs=1");
    vm.wait_for(&format!("[whoami] {expected}"));
    vm.wait_for(&format!("[whoami.1] {expected}"));
    assert_ne!(uid, cairn_manifest::app_uid("tree"));

    vm.wait_for("cairn: all apps ready");
    vm.powerdown();
    assert!(vm.wait_exit(STEP_TIMEOUT).success());
}
