//! What a device refuses, over the network, and that refusing changes
//! nothing: a bundle with a tampered payload byte, one signed by another
//! project's key, a truncated one, one for another board and an older build
//! are each refused (`cairn deploy` exits 2 with the reason) while the
//! running version, its boot entries and its apps stay exactly as they were.
//! Then the control API's mutual TLS, as any client (curl) sees it: no
//! certificate, another CA's certificate, and a reader that tries to update
//! are refused.

use std::path::{Path, PathBuf};
use std::process::Command;

use cairn_boot_tests::{serial, Cli, Machine, Next, TestSystem, STEP_TIMEOUT};
use serde_json::Value;

const CONTROL: u16 = 7443;
/// The first image's build number: room below it for an older build.
const FIRST_BUILD: u64 = 5;

fn manifest(tag: &str) -> String {
    format!(
        r#"
version = 1

[system]
hostname = "edge"

[network.interfaces.eth0]
dhcp = true

[apps.web]
bundle = "bin/cairn-testapp"
exec = ["/bin/cairn-testapp", "deploy-probe", "{tag}", "/run/secrets/none"]
restart = "always"

[apps.web.paths]
"/var/lib/web" = "state"
"#
    )
}

fn to(vm: &Machine) -> String {
    format!("127.0.0.1:{}", vm.host_port(CONTROL))
}

/// What must not change when a bundle is refused: the running system, both
/// banks, and every app instance's process and restart count.
fn fingerprint(status: &Value) -> Value {
    let system = &status["system"];
    let apps: Vec<Value> = status["apps"]
        .as_array()
        .map(|apps| {
            apps.iter()
                .map(|a| {
                    serde_json::json!([
                        a["app"],
                        a["instance"],
                        a["state"],
                        a["pid"],
                        a["restarts"]
                    ])
                })
                .collect()
        })
        .unwrap_or_default();
    serde_json::json!({
        "system": [system["version"], system["build"], system["bank"], system["boot"], system["blessed"]],
        "banks": status["banks"],
        "apps": apps,
    })
}

/// A copy of `bundle` at `path` with `change` applied to its bytes.
fn altered(bundle: &Path, path: PathBuf, change: impl FnOnce(&mut Vec<u8>)) -> PathBuf {
    let mut bytes = std::fs::read(bundle).unwrap();
    change(&mut bytes);
    std::fs::write(&path, bytes).unwrap();
    path
}

/// curl against the device's control port as cairn.local, with `args`
/// (certificates, method); the HTTP status, or None when the TLS handshake
/// or the connection failed.
fn curl(port: u16, path: &str, args: &[&str]) -> Option<u16> {
    let url = format!("https://cairn.local:{port}{path}");
    let output = Command::new("curl")
        .args(["--silent", "--show-error", "--max-time", "30"])
        .args(["--output", "/dev/null", "--write-out", "%{http_code}"])
        .args(["--resolve", &format!("cairn.local:{port}:127.0.0.1")])
        .args(args)
        .arg(&url)
        .output()
        .unwrap_or_else(|e| panic!("cannot run curl (apt-get install curl): {e}"));
    let code = String::from_utf8_lossy(&output.stdout).trim().to_string();
    eprintln!(
        "curl {args:?} {path}: exit {:?}, http {code:?}, {}",
        output.status.code(),
        String::from_utf8_lossy(&output.stderr).trim()
    );
    match code.parse::<u16>() {
        Ok(0) | Err(_) => None,
        Ok(code) => Some(code),
    }
}

#[test]
fn bad_bundles_and_clients_are_refused_and_change_nothing() {
    let _serial = serial();
    let system = TestSystem::build_numbered("refusals", &manifest("v1"), FIRST_BUILD);
    let project = system.dir().join(".cairn");
    let cli = Cli::new(system.dir());
    let vm = system.boot(&[CONTROL]);
    vm.wait_for("[web] testapp: deploy-probe tag=v1 starts=1");
    vm.wait_for("cairn: boot blessed");
    let port = vm.host_port(CONTROL);
    let before = fingerprint(&cli.status(port));
    assert_eq!(before["system"][1], FIRST_BUILD, "{before}");

    // A good next build, the material of most bad ones.
    let good = system.build_next("out-good", &manifest("v2"));
    let len = std::fs::metadata(&good.bundle).unwrap().len() as usize;
    let work = system.dir().join("bad");
    std::fs::create_dir_all(&work).unwrap();

    // Another project: its own update key and CA.
    let stranger = TestSystem::build("refusals-stranger", &manifest("v2"));
    let stranger_keys = stranger.dir().join(".cairn");
    // Another board: the same board file under another name.
    let board_text = std::fs::read_to_string(cairn_boot_tests::workspace::default_board()).unwrap();
    let other_board = work.join("other-board.toml");
    std::fs::write(
        &other_board,
        board_text.replacen("name = \"qemu-x86_64\"", "name = \"qemu-x86_64-other\"", 1),
    )
    .unwrap();
    let for_other_board = system.build_next_with(
        "out-board",
        &manifest("v2"),
        &Next {
            board: Some(&other_board),
            build_number: None,
        },
    );
    let older = system.build_next_with(
        "out-older",
        &manifest("v0"),
        &Next {
            board: None,
            build_number: Some(FIRST_BUILD - 2),
        },
    );

    let cases: Vec<(&str, PathBuf, &str, bool)> = vec![
        (
            "a tampered payload byte",
            // The last byte of the last payload: found only by its hash,
            // after the rest was streamed.
            altered(&good.bundle, work.join("tampered.cairn"), |b| {
                if let Some(last) = b.last_mut() {
                    *last ^= 0x5a;
                }
            }),
            "sha256",
            false,
        ),
        (
            "a tampered manifest byte",
            altered(&good.bundle, work.join("manifest.cairn"), |b| b[64] ^= 0x01),
            "signature",
            false,
        ),
        (
            "another project's key",
            stranger.output().bundle.clone(),
            "no signature by a trusted key",
            true,
        ),
        (
            "a truncated bundle",
            altered(&good.bundle, work.join("truncated.cairn"), |b| {
                b.truncate(len / 2)
            }),
            "bytes long",
            false,
        ),
        (
            "another board",
            for_other_board.bundle.clone(),
            "qemu-x86_64-other",
            true,
        ),
        (
            "an older build",
            older.bundle.clone(),
            "older than the running build",
            false,
        ),
    ];
    let identity = project.to_str().unwrap().to_string();
    let device = to(&vm);
    for (what, bundle, reason, allow_downgrade) in &cases {
        let mut args = vec![
            "deploy",
            bundle.to_str().unwrap(),
            "--to",
            &device,
            "--identity",
            &identity,
            "--timeout",
            "3m",
        ];
        if *allow_downgrade {
            // Refused for what it is, not for being older.
            args.push("--allow-downgrade");
        }
        let ran = cli.run(&args);
        assert_eq!(ran.code, Some(2), "{what}: {}", ran.text());
        assert!(ran.stderr.contains("refused"), "{what}: {}", ran.text());
        assert!(
            ran.stderr.contains(reason),
            "{what}: the reason should mention {reason:?}: {}",
            ran.text()
        );
        let after = fingerprint(&cli.status(port));
        assert_eq!(after, before, "{what} changed the running system");
    }
    // Nothing rebooted, nothing restarted.
    assert_eq!(vm.lines_matching("cairn: init started").len(), 1);
    assert_eq!(vm.lines_matching("app web started").len(), 1);

    // Mutual TLS, as curl sees it.
    let cert = |dir: &Path, name: &str| {
        [
            dir.join(format!("{name}.crt"))
                .to_string_lossy()
                .into_owned(),
            dir.join(format!("{name}.key"))
                .to_string_lossy()
                .into_owned(),
        ]
    };
    let ca = project.join("ca.crt").to_string_lossy().into_owned();
    let [admin_crt, admin_key] = cert(&project, "admin");
    let ok = curl(
        port,
        "/v1/status",
        &["--cacert", &ca, "--cert", &admin_crt, "--key", &admin_key],
    );
    assert_eq!(ok, Some(200), "the admin identity works with curl");
    // No certificate: refused in the handshake, no HTTP at all.
    assert_eq!(curl(port, "/v1/status", &["--cacert", &ca]), None);
    // A certificate from another CA: refused in the handshake too.
    let [other_crt, other_key] = cert(&stranger_keys, "admin");
    assert_eq!(
        curl(
            port,
            "/v1/status",
            &["--cacert", &ca, "--cert", &other_crt, "--key", &other_key]
        ),
        None
    );
    // A reader may read, and may not update.
    let issued = cli.run(&["keys", "issue", "--role", "reader", "--name", "watcher"]);
    assert_eq!(issued.code, Some(0), "{}", issued.text());
    let [reader_crt, reader_key] = cert(&project, "watcher");
    let reader = [
        "--cacert",
        ca.as_str(),
        "--cert",
        &reader_crt,
        "--key",
        &reader_key,
    ];
    assert_eq!(curl(port, "/v1/status", &reader), Some(200));
    let upload = format!("@{}", good.bundle.display());
    let mut post = reader.to_vec();
    post.extend([
        "--data-binary",
        &upload,
        "-H",
        "Content-Type: application/octet-stream",
    ]);
    assert_eq!(curl(port, "/v1/update", &post), Some(403));
    vm.wait_for_after(0, "watcher (reader) POST /v1/update -> 403", STEP_TIMEOUT);
    let as_reader = cli.run(&["restart", "--to", &to(&vm), "--as", "watcher", "web"]);
    assert_eq!(as_reader.code, Some(2), "{}", as_reader.text());
    assert_eq!(fingerprint(&cli.status(port)), before);

    let mut vm = vm;
    vm.power_off();
    drop(vm);
    // The boot entries are the ones the image started with.
    let entries = system.snapshot_disk().esp_entries().unwrap();
    assert_eq!(
        entries,
        vec![
            system.idle_entry('b'),
            format!("{}.conf", system.entry_stem())
        ]
    );
    drop(stranger);
}
