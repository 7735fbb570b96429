//! A real, unmodified server from the build host: Debian's `redis-server`
//! (a dynamic ELF; the builder collects its interpreter and libraries) runs
//! as an app on a read-only tree, with its data directory a `state` path,
//! and answers `redis-cli` on the host through QEMU's forwarded port.
//!
//! Needs `redis-server` and `redis-cli` on the host (scripts/host-deps.sh
//! installs them); without them the test fails and says what to install.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use cairn_boot_tests::{serial, TestSystem};

const REDIS_SERVER: &str = "/usr/bin/redis-server";
const REDIS_CLI: &str = "redis-cli";
const PORT: u16 = 6379;

/// No snapshots and no append-only file: the tree is read-only and nothing
/// needs to persist; `--dir` still points at the state path, where redis
/// would write if told to. The guest's connections come from QEMU's
/// gateway, not loopback, hence no protected mode.
const MANIFEST: &str = r#"
version = 1

[network.interfaces.eth0]
dhcp = true

[apps.redis]
bundle = "/usr/bin/redis-server"
exec = ["/bin/redis-server", "--port", "${ports.redis}", "--bind", "0.0.0.0",
        "--save", "", "--appendonly", "no", "--protected-mode", "no",
        "--dir", "/var/lib/redis"]
ports.redis = 6379
restart = "always"

[apps.redis.paths]
"/var/lib/redis" = "state"
"#;

/// `redis-cli -h 127.0.0.1 -p PORT ARGS...`: its trimmed output, or why not.
fn redis_cli(port: u16, args: &[&str]) -> Result<String, String> {
    let output = Command::new(REDIS_CLI)
        .args(["-h", "127.0.0.1", "-p", &port.to_string()])
        .args(args)
        .output()
        .map_err(|e| format!("cannot run {REDIS_CLI}: {e}"))?;
    let stdout = String::from_utf8_lossy(&output.stdout).trim().to_string();
    // redis-cli exits 0 even when the connection fails; it says so on
    // stdout or stderr ("Could not connect", "Connection reset").
    let stderr = String::from_utf8_lossy(&output.stderr).trim().to_string();
    if !output.status.success() || stdout.is_empty() || stdout.starts_with("Error:") {
        return Err(format!("{stdout} {stderr} ({})", output.status));
    }
    Ok(stdout)
}

/// PING until PONG: the forwarded port accepts before redis listens.
fn wait_for_pong(port: u16, timeout: Duration) -> Result<(), String> {
    let deadline = Instant::now() + timeout;
    loop {
        match redis_cli(port, &["PING"]) {
            Ok(answer) if answer == "PONG" => return Ok(()),
            Ok(answer) if Instant::now() >= deadline => return Err(format!("answered {answer:?}")),
            Err(err) if Instant::now() >= deadline => return Err(err),
            _ => std::thread::sleep(Duration::from_millis(500)),
        }
    }
}

/// The test needs Debian's server and client on the host; without them it
/// fails with what to install rather than passing without having run.
fn require_host_redis() {
    let cli = Command::new(REDIS_CLI).arg("--version").output().is_ok();
    assert!(
        Path::new(REDIS_SERVER).is_file() && cli,
        "{REDIS_SERVER} or {REDIS_CLI} is not installed on this host: \
         run scripts/host-deps.sh or apt-get install redis-server redis-tools"
    );
}

#[test]
fn debian_redis_server_answers_set_and_get_through_the_forwarded_port() {
    require_host_redis();
    let _serial = serial();
    let system = TestSystem::build("redis", MANIFEST);
    let mut vm = system.boot(&[PORT]);
    vm.wait_for("cairn: all apps ready");
    let port = vm.host_port(PORT);

    wait_for_pong(port, Duration::from_secs(30)).unwrap_or_else(|e| panic!("PING: {e}"));
    assert_eq!(
        redis_cli(port, &["SET", "cairn:greeting", "hello from redis"]).unwrap(),
        "OK"
    );
    assert_eq!(
        redis_cli(port, &["GET", "cairn:greeting"]).unwrap(),
        "hello from redis"
    );
    assert_eq!(redis_cli(port, &["DBSIZE"]).unwrap(), "1");

    // It runs as the app, in its own PID namespace (pid 2, under the
    // namespace's reaper), with its data directory on the state path.
    let info = redis_cli(port, &["INFO", "server"]).unwrap();
    assert!(
        info.lines().any(|l| l.trim() == "process_id:2"),
        "redis should be pid 2 of its namespace:\n{info}"
    );
    assert!(
        info.lines().any(|l| l.trim() == format!("tcp_port:{PORT}")),
        "{info}"
    );
    assert_eq!(
        redis_cli(port, &["CONFIG", "GET", "dir"]).unwrap(),
        "dir\n/var/lib/redis"
    );

    vm.power_off();
}
