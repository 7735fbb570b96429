//! Deploying over the control API, as an operator does it with `cairn`:
//! a new version written to the other bank, rebooted into and blessed with
//! the apps' state kept; a version whose app crash-loops rolled back by the
//! box itself; secrets stored on the device and granted to one app only.
//! QEMU reboots in place; the run disk and its firmware variables are this
//! test's own.

use cairn_boot_tests::{serial, Cli, Machine, TestSystem, BOOT_TIMEOUT, STEP_TIMEOUT};

const CONTROL: u16 = 7443;
const SECRET: &str = "s3cret-token-value\n";

/// Two probes (see `cairn-testapp deploy-probe`): `web` with `web_exec`,
/// granted the secret when `grant`, and `other`, never granted it.
fn manifest(tag: &str, web_exec: &str, grant: bool) -> String {
    let secrets = if grant {
        "[apps.web.secrets]\n\"/run/secrets/token\" = \"api-token\"\n"
    } else {
        ""
    };
    format!(
        r#"
version = 1

[system]
hostname = "edge"

[network.interfaces.eth0]
dhcp = true

[update]
healthy_within = "3m"

[apps.web]
bundle = "bin/cairn-testapp"
exec = [{web_exec}]
restart = "always"

[apps.web.paths]
"/var/lib/web" = "state"

{secrets}
[apps.other]
bundle = "bin/cairn-testapp"
exec = ["/bin/cairn-testapp", "deploy-probe", "{tag}", "/run/secrets/token"]
restart = "always"

[apps.other.paths]
"/var/lib/other" = "state"
"#
    )
}

fn probe(tag: &str) -> String {
    format!(r#""/bin/cairn-testapp", "deploy-probe", "{tag}", "/run/secrets/token""#)
}

fn to(vm: &Machine) -> String {
    format!("127.0.0.1:{}", vm.host_port(CONTROL))
}

#[test]
fn v2_is_deployed_and_blessed_with_state_and_secrets_and_a_crash_looping_v3_rolls_back() {
    let _serial = serial();
    let system = TestSystem::build("deploy", &manifest("v1", &probe("v1"), false));
    let cli = Cli::new(system.dir());
    let vm = system.boot(&[CONTROL]);
    vm.wait_for("[web] testapp: deploy-probe tag=v1 starts=1 secret=absent");
    vm.wait_for("cairn: boot blessed");

    // A secret, stored on the device; never shown, not in the log.
    let secret_file = system.dir().join("token.txt");
    std::fs::write(&secret_file, SECRET).unwrap();
    let ran = cli.run(&[
        "secret",
        "set",
        "--to",
        &to(&vm),
        "api-token",
        secret_file.to_str().unwrap(),
    ]);
    assert_eq!(ran.code, Some(0), "{}", ran.text());
    vm.wait_for("cairn: admin set secret api-token (19 bytes)");

    // v2 grants it to web. Deployed, rebooted into, blessed: exit 0.
    let v2 = system.build_next("out-v2", &manifest("v2", &probe("v2"), true));
    let mark = vm.line_count();
    let ran = cli.run(&[
        "deploy",
        v2.bundle.to_str().unwrap(),
        "--to",
        &to(&vm),
        "--timeout",
        "8m",
    ]);
    assert_eq!(ran.code, Some(0), "{}", ran.text());
    assert!(
        ran.stdout.contains(&format!(
            "deployed: edge runs version {} (build {}), blessed",
            v2.version, v2.build
        )),
        "{}",
        ran.text()
    );
    let booted = vm.wait_for_after(
        mark,
        &format!("cairn: bank b version {} mounted", v2.version),
        STEP_TIMEOUT,
    );
    // The apps' state carried over (second start), and only web sees the
    // secret: read-only to it alone, as its own user.
    let web = vm.wait_for_after(
        booted.index,
        "[web] testapp: deploy-probe tag=v2",
        STEP_TIMEOUT,
    );
    let web_uid = cairn_manifest::app_uid("web");
    assert!(
        web.text.contains(&format!(
            "starts=2 secret=present mode=400 uid={web_uid} len=19"
        )),
        "{}",
        web.text
    );
    let other = vm.wait_for_after(
        booted.index,
        "[other] testapp: deploy-probe tag=v2 starts=2",
        STEP_TIMEOUT,
    );
    assert!(other.text.ends_with("secret=absent"), "{}", other.text);
    vm.wait_for_after(booted.index, "cairn: boot blessed", STEP_TIMEOUT);
    let status = cli.status(vm.host_port(CONTROL));
    assert_eq!(status["system"]["build"], v2.build);
    assert_eq!(status["system"]["bank"], "b");
    assert_eq!(status["last_update"]["outcome"], "blessed");
    assert_eq!(status["banks"]["a"]["state"], "good");

    // v3's web crash-loops: the box goes back to v2 by itself; exit 3,
    // naming the app.
    let v3 = system.build_next(
        "out-v3",
        &manifest(
            "v3",
            r#""/bin/cairn-testapp", "crash-after", "0", "7""#,
            true,
        ),
    );
    let mark = vm.line_count();
    let ran = cli.run(&[
        "deploy",
        v3.bundle.to_str().unwrap(),
        "--to",
        &to(&vm),
        "--timeout",
        "10m",
    ]);
    assert_eq!(ran.code, Some(3), "{}", ran.text());
    assert!(ran.stdout.contains("rolled back"), "{}", ran.text());
    assert!(ran.stdout.contains("app web"), "{}", ran.text());
    let failed = vm.wait_for_after(
        mark,
        &format!("cairn: bank a version {} mounted", v3.version),
        STEP_TIMEOUT,
    );
    vm.wait_for_after(failed.index, "failed its health gate", BOOT_TIMEOUT);
    let back = vm.wait_for_after(
        failed.index,
        &format!("cairn: bank b version {} mounted", v2.version),
        BOOT_TIMEOUT,
    );
    // v2 again, its state and the secret still there.
    let web = vm.wait_for_after(
        back.index,
        "[web] testapp: deploy-probe tag=v2",
        STEP_TIMEOUT,
    );
    assert!(
        web.text.contains("starts=3 secret=present mode=400"),
        "{}",
        web.text
    );
    // ...and its console says which version failed, and why.
    let told = vm.wait_for_after(
        failed.index,
        &format!("was rolled back; {}", v2.version),
        STEP_TIMEOUT,
    );
    assert!(told.text.contains("web"), "{}", told.text);

    // `cairn status` says why.
    let status = cli.status(vm.host_port(CONTROL));
    assert_eq!(status["system"]["build"], v2.build);
    let last = &status["last_update"];
    assert_eq!(last["outcome"], "rolled-back", "{status}");
    assert_eq!(last["to"]["build"], v3.build);
    assert_eq!(last["app"], "web", "{status}");
    assert!(
        last["reason"].as_str().unwrap_or_default().contains("web"),
        "{status}"
    );
    let human = cli.run(&["status", "--to", &to(&vm)]);
    assert!(human.stdout.contains("rolled-back"), "{}", human.text());

    // The secret never reached a log line.
    let console = system.render_logs();
    assert!(
        !console.contains(SECRET.trim()),
        "the secret is on the console"
    );
    let logs = cli.run(&["logs", "--to", &to(&vm), "cairn", "--lines", "500"]);
    assert_eq!(logs.code, Some(0), "{}", logs.text());
    assert!(
        logs.stdout.contains("set secret api-token"),
        "{}",
        logs.text()
    );
    assert!(!logs.stdout.contains(SECRET.trim()));

    let mut vm = vm;
    vm.power_off();
    drop(vm);
    // The ESP is clean after all of it (snapshot_disk runs fsck.fat).
    let disk = system.snapshot_disk();
    let entries = disk.esp_entries().unwrap();
    assert!(
        entries.contains(&format!("cairn-{:010}-{}.conf", v2.build, v2.version)),
        "{entries:?}"
    );
    assert!(
        entries.contains(&format!("cairn-{:010}-{}+0-1.conf", v3.build, v3.version)),
        "{entries:?}"
    );
}
