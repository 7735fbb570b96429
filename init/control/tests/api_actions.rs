//! What the API asks PID 1, exactly, and what it makes of the answers.

mod common;

use std::fs;

use serde_json::json;

use common::client::{self, test_limits};
use common::device::Device;
use common::fake_pid1::FakePid1;

const STATUS: &str = r#"{"instances":[{"app":"web","instance":0,"state":"green","pid":1,"restarts":0,"last_exit":null,"reason":"","status":null}]}"#;

#[tokio::test]
async fn restart_reboot_rollback_and_secrets_carry_the_right_lines() {
    let device = Device::new();
    let pid1 = FakePid1::start(&device.config.paths.pid1_socket);
    fs::write(&device.config.paths.status, STATUS).unwrap();
    fs::write(
        &device.config.paths.system,
        r#"{"banks":{"a":{"state":"running"},"b":{"version":"0.9.0","build":6,"state":"good"}}}"#,
    )
    .unwrap();
    let api = client::start(&device, test_limits()).await;

    let reply = api
        .call("alice", "operator", "POST", "/v1/apps/web/restart", b"")
        .await;
    assert_eq!(
        (reply.status, reply.json()),
        (200, json!({"result": "restarting", "app": "web"}))
    );
    let reply = api
        .call("alice", "operator", "POST", "/v1/reboot", b"")
        .await;
    assert_eq!(
        (reply.status, reply.json()),
        (200, json!({"result": "rebooting"}))
    );
    let reply = api
        .call(
            "alice",
            "operator",
            "POST",
            "/v1/reboot",
            br#"{"at": "2026-12-04T23:00:00Z"}"#,
        )
        .await;
    assert_eq!(
        (reply.status, reply.json()),
        (
            200,
            json!({"result": "scheduled", "at": "2026-12-04T23:00:00Z"})
        )
    );
    let reply = api.call("bob", "admin", "POST", "/v1/rollback", b"").await;
    assert_eq!(
        (reply.status, reply.json()),
        (200, json!({"result": "rolling back"}))
    );
    let reply = api
        .call(
            "bob",
            "admin",
            "PUT",
            "/v1/secrets/db-password",
            b"s3cret\n",
        )
        .await;
    assert_eq!(
        (reply.status, reply.json()),
        (200, json!({"result": "stored", "name": "db-password"}))
    );

    assert_eq!(
        pid1.requests(),
        [
            "restart web alice",
            "reboot now alice",
            "reboot 1796425200 alice",
            "rollback bob",
            // "s3cret\n" in hex.
            "secret db-password 7333637265740a bob",
        ]
    );
    assert!(!api
        .lines()
        .iter()
        .any(|l| l.contains("s3cret") || l.contains("7333637265")));
}

#[tokio::test]
async fn refusals_by_pid_1_and_by_the_status_files() {
    let device = Device::new();
    let pid1 = FakePid1::start(&device.config.paths.pid1_socket);
    fs::write(&device.config.paths.status, STATUS).unwrap();
    fs::write(
        &device.config.paths.system,
        r#"{"banks":{"a":{"state":"running"},"b":{"state":"bad"}}}"#,
    )
    .unwrap();
    let api = client::start(&device, test_limits()).await;

    let reply = api
        .call("alice", "operator", "POST", "/v1/apps/db/restart", b"")
        .await;
    assert_eq!(reply.status, 404, "{}", reply.text());
    let reply = api.call("bob", "admin", "POST", "/v1/rollback", b"").await;
    assert_eq!(reply.status, 409, "{}", reply.text());
    assert!(reply.json()["error"].as_str().unwrap().contains("bank b"));
    assert!(pid1.requests().is_empty());

    pid1.answer("error a reboot is already scheduled");
    let reply = api
        .call("alice", "operator", "POST", "/v1/reboot", b"{}")
        .await;
    assert_eq!(
        (reply.status, reply.json()),
        (409, json!({"error": "a reboot is already scheduled"}))
    );
    pid1.answer("{\"ok\":true}");
    let reply = api
        .call("alice", "operator", "POST", "/v1/reboot", b"{}")
        .await;
    assert_eq!(reply.status, 502);

    // PID 1 not listening at all.
    fs::remove_file(&device.config.paths.pid1_socket).unwrap();
    let reply = api
        .call("alice", "operator", "POST", "/v1/reboot", b"{}")
        .await;
    assert_eq!(reply.status, 503, "{}", reply.text());
}
