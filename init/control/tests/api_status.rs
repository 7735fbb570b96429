//! `GET /v1/status` and `GET /metrics`, built from fixture files.

mod common;

use std::fs;
use std::io::Write;
use std::process::{Command, Stdio};

use common::client::{self, test_limits};
use common::device::Device;

const STATUS: &str = r#"{"instances":[
  {"app":"web","instance":0,"state":"green","pid":212,"restarts":0,"last_exit":null,"reason":"GET /healthz: 200","status":null},
  {"app":"web","instance":1,"state":"red","pid":null,"restarts":5,"last_exit":"status 3","reason":"crashed 5 times in 60s","status":"say \"hi\"\n"}
]}"#;

/// As PID 1 writes it (its own test renders exactly this file).
const SYSTEM: &str = include_str!("fixtures/system.json");

fn fixtures(device: &Device) {
    let root = device.root();
    fs::write(&device.config.paths.status, STATUS).unwrap();
    fs::write(&device.config.paths.system, SYSTEM).unwrap();
    fs::create_dir_all(root.join("jobs/backup")).unwrap();
    fs::write(
        root.join("jobs/backup/history.jsonl"),
        concat!(
            r#"{"job":"backup","reason":"schedule","scheduled":null,"start":"2026-12-03T02:30:00Z","end":"2026-12-03T02:31:00Z","exit":"status 1","code":1,"signal":null,"timed_out":false,"log":"/var/log/backup"}"#,
            "\n",
            "not json\n",
            r#"{"job":"backup","reason":"schedule","scheduled":null,"start":"2026-12-04T02:30:00Z","end":"2026-12-04T02:31:00Z","exit":"status 0","code":0,"signal":null,"timed_out":false,"log":"/var/log/backup"}"#,
            "\n"
        ),
    )
    .unwrap();
    fs::create_dir_all(root.join("cgroup/web/0")).unwrap();
    fs::write(root.join("cgroup/web/0/memory.current"), "1048576\n").unwrap();
    fs::write(
        root.join("cgroup/web/0/cpu.stat"),
        "usage_usec 1500000\nuser_usec 1000000\n",
    )
    .unwrap();
    fs::create_dir_all(root.join("proc/212")).unwrap();
    let mut fields = vec!["0"; 40];
    fields[18] = "5000";
    fs::write(
        root.join("proc/212/stat"),
        format!("212 (hello) S {}\n", fields.join(" ")),
    )
    .unwrap();
    fs::write(root.join("proc/uptime"), "100.00 50.00\n").unwrap();
    // PID 1 itself, started 2 s after the kernel.
    fs::create_dir_all(root.join("proc/1")).unwrap();
    let mut fields = vec!["0"; 40];
    fields[18] = "200";
    fs::write(
        root.join("proc/1/stat"),
        format!("1 (cairn-init) S {}\n", fields.join(" ")),
    )
    .unwrap();
    fs::write(
        root.join("proc/1/status"),
        "Name:\tcairn-init\nVmRSS:\t1800 kB\n",
    )
    .unwrap();
}

#[tokio::test]
async fn status_is_what_pid_1_wrote_in_the_documented_shape() {
    let device = Device::new();
    fixtures(&device);
    let api = client::start(&device, test_limits()).await;
    let reply = api.call("alice", "reader", "GET", "/v1/status", b"").await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.headers["content-type"], "application/json");
    let status = reply.json();
    assert_eq!(
        status["system"],
        serde_json::json!({"hostname": "edge-01", "board": "qemu-x86_64", "version": "bbbb",
                           "build": 8, "bank": "b", "blessed": true, "uptime_s": 100, "boot": 3})
    );
    assert_eq!(status["banks"]["a"]["state"], "good");
    assert_eq!(status["banks"]["b"]["state"], "running");
    assert_eq!(status["apps"][1]["app"], "web");
    assert_eq!(status["apps"][1]["instance"], 1);
    assert_eq!(status["apps"][1]["last_exit"], "status 3");
    assert_eq!(status["apps"][1]["status"], "say \"hi\"\n");
    assert_eq!(
        status["jobs"],
        serde_json::json!([{"job": "backup", "last": {"start": "2026-12-04T02:30:00Z",
                            "end": "2026-12-04T02:31:00Z", "exit": "status 0"}}])
    );
    assert_eq!(status["last_update"]["outcome"], "blessed");
    assert_eq!(status["last_update"]["to"]["build"], 8);
    assert_eq!(status["last_update"]["at"], "1970-01-01T00:00:05.000000Z");
    assert!(status.get("problems").is_none());
}

#[tokio::test]
async fn status_without_pid_1s_files_says_what_the_configuration_knows() {
    let device = Device::new();
    fs::write(
        &device.config.paths.system,
        r#"{"system":{"blessed":"yes"}}"#,
    )
    .unwrap();
    let api = client::start(&device, test_limits()).await;
    let status = api
        .call("alice", "reader", "GET", "/v1/status", b"")
        .await
        .json();
    assert_eq!(status["system"]["version"], "1.0.0");
    assert_eq!(status["system"]["blessed"], serde_json::Value::Null);
    assert_eq!(status["banks"]["a"]["state"], "running");
    assert_eq!(status["apps"], serde_json::json!([]));
    let problems = status["problems"].as_array().unwrap();
    assert_eq!(problems.len(), 1);
    assert!(
        problems[0].as_str().unwrap().contains("system.json"),
        "{problems:?}"
    );
}

fn promtool_check(text: &str) {
    let mut child = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("promtool (Debian package prometheus) is needed for this test");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(
        output.status.success(),
        "promtool check metrics:\n{}{}\n{text}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

#[tokio::test]
async fn metrics_pass_promtool_and_carry_the_documented_families() {
    let device = Device::new();
    fixtures(&device);
    let api = client::start(&device, test_limits()).await;
    let reply = api.call("prom", "reader", "GET", "/metrics", b"").await;
    assert_eq!(reply.status, 200);
    assert_eq!(
        reply.headers["content-type"],
        "text/plain; version=0.0.4; charset=utf-8"
    );
    let text = reply.text();
    promtool_check(&text);
    for family in [
        "cairn_app_state gauge",
        "cairn_app_restarts_total counter",
        "cairn_app_uptime_seconds gauge",
        "cairn_app_memory_bytes gauge",
        "cairn_app_cpu_seconds_total counter",
        "cairn_log_dropped_lines_total counter",
        "cairn_job_runs_total counter",
        "cairn_pid1_resident_bytes gauge",
        "cairn_pid1_uptime_seconds gauge",
        "cairn_boot_blessed gauge",
        "cairn_info gauge",
    ] {
        assert!(
            text.contains(&format!("# TYPE {family}\n")),
            "{family}\n{text}"
        );
    }
    for sample in [
        "cairn_app_state{app=\"web\",instance=\"0\",state=\"green\"} 1",
        "cairn_app_state{app=\"web\",instance=\"0\",state=\"red\"} 0",
        "cairn_app_state{app=\"web\",instance=\"1\",state=\"red\"} 1",
        "cairn_app_restarts_total{app=\"web\",instance=\"1\"} 5",
        "cairn_app_uptime_seconds{app=\"web\",instance=\"0\"} 50",
        "cairn_app_memory_bytes{app=\"web\",instance=\"0\"} 1048576",
        "cairn_app_cpu_seconds_total{app=\"web\",instance=\"0\"} 1.5",
        "cairn_log_dropped_lines_total{source=\"web\"} 12",
        "cairn_job_runs_total{job=\"backup\",outcome=\"success\"} 1",
        "cairn_job_runs_total{job=\"backup\",outcome=\"failure\"} 1",
        "cairn_pid1_resident_bytes 1843200",
        "cairn_pid1_uptime_seconds 98",
        "cairn_boot_blessed 1",
        // From this boot's configuration.
        "cairn_info{version=\"1.0.0\",build=\"7\",bank=\"a\",board=\"qemu-x86_64\"} 1",
    ] {
        assert!(text.lines().any(|l| l == sample), "{sample}\n{text}");
    }
}

#[tokio::test]
async fn metrics_of_an_empty_system_pass_promtool_too() {
    let device = Device::new();
    let api = client::start(&device, test_limits()).await;
    let text = api
        .call("prom", "reader", "GET", "/metrics", b"")
        .await
        .text();
    promtool_check(&text);
    assert!(text.contains("cairn_info{"), "{text}");
}
