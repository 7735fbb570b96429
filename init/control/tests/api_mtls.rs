//! Mutual TLS and roles: who may connect, and what each role may do.

mod common;

use common::certs::Ca;
use common::client::{self, test_limits};
use common::device::Device;
use common::fake_pid1::FakePid1;

#[tokio::test]
async fn a_client_without_a_certificate_or_from_another_ca_is_refused_in_the_handshake() {
    let device = Device::new();
    let api = client::start(&device, test_limits()).await;

    // No certificate: the server's alert arrives on the first read.
    let outcome = match api.connect(None).await {
        Err(_) => true,
        Ok(tls) => {
            let reply = tokio::time::timeout(std::time::Duration::from_secs(5), async {
                let (mut sender, connection) =
                    hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(tls))
                        .await?;
                tokio::spawn(connection);
                let request = hyper::Request::get("/v1/status")
                    .header("host", "edge-01")
                    .body(http_body_util::Empty::<bytes::Bytes>::new())
                    .unwrap();
                sender.send_request(request).await.map(|_| ())
            })
            .await
            .unwrap();
            reply.is_err()
        }
    };
    assert!(outcome, "a client without a certificate got an answer");

    // A certificate from another CA that names the admin role.
    let other = Ca::new("Someone else's CA");
    let intruder = other.client("mallory", Some("admin"));
    let refused = match client::connect(api.addr, &api.ca, Some(&intruder)).await {
        Err(_) => true,
        Ok(tls) => {
            let (mut sender, connection) =
                hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(tls))
                    .await
                    .unwrap();
            tokio::spawn(connection);
            let request = hyper::Request::get("/v1/status")
                .header("host", "edge-01")
                .body(http_body_util::Empty::<bytes::Bytes>::new())
                .unwrap();
            sender.send_request(request).await.is_err()
        }
    };
    assert!(refused, "a certificate of another CA got an answer");
    let refusals = api
        .lines()
        .into_iter()
        .filter(|l| l.contains("handshake refused"))
        .count();
    assert_eq!(refusals, 2, "{:?}", api.lines());
    assert!(
        !api.lines().iter().any(|l| l.contains("GET")),
        "{:?}",
        api.lines()
    );
}

/// Status of each (role, request), with the request log naming the caller.
#[tokio::test]
async fn each_role_may_do_what_the_table_says_and_nothing_more() {
    let device = Device::new();
    let pid1 = FakePid1::start(&device.config.paths.pid1_socket);
    std::fs::write(
        &device.config.paths.status,
        r#"{"instances":[{"app":"web","instance":0,"state":"green","pid":null,"restarts":0,"last_exit":null,"reason":"ok","status":null}]}"#,
    )
    .unwrap();
    std::fs::write(
        &device.config.paths.system,
        r#"{"banks":{"a":{"version":"1.0.0","build":7,"state":"running"},"b":{"version":"0.9.0","build":6,"state":"good"}}}"#,
    )
    .unwrap();
    std::fs::create_dir_all(device.root().join("logs/kernel")).unwrap();
    let api = client::start(&device, test_limits()).await;

    let reads: [(&str, &str); 4] = [
        ("GET", "/v1/status"),
        ("GET", "/v1/logs?lines=1"),
        ("GET", "/v1/kmsg"),
        ("GET", "/metrics"),
    ];
    let operates: [(&str, &str, &[u8]); 2] = [
        ("POST", "/v1/apps/web/restart", b""),
        ("POST", "/v1/reboot", b"{}"),
    ];
    let administers: [(&str, &str, &[u8]); 3] = [
        ("POST", "/v1/update", b"not a bundle"),
        ("POST", "/v1/rollback", b""),
        ("PUT", "/v1/secrets/db-password", b"hunter2"),
    ];

    for role in ["reader", "operator", "admin"] {
        let name = format!("{role}-user");
        for (method, path) in reads {
            let reply = api.call(&name, role, method, path, b"").await;
            assert_eq!(
                reply.status,
                200,
                "{role} {method} {path}: {}",
                reply.text()
            );
        }
        for (method, path, body) in operates {
            let reply = api.call(&name, role, method, path, body).await;
            let expected = if role == "reader" { 403 } else { 200 };
            assert_eq!(
                reply.status,
                expected,
                "{role} {method} {path}: {}",
                reply.text()
            );
        }
        for (method, path, body) in administers {
            let reply = api.call(&name, role, method, path, body).await;
            if role == "admin" {
                // Allowed: the update writer is not running here, the rest
                // reaches PID 1.
                assert_ne!(reply.status, 403, "{role} {method} {path}");
            } else {
                assert_eq!(
                    reply.status,
                    403,
                    "{role} {method} {path}: {}",
                    reply.text()
                );
            }
        }
    }

    // A reader's refused requests changed nothing, and the 403s were
    // answered before the body was read: PID 1 heard only from the
    // operator and the admin.
    let heard = pid1.requests();
    assert_eq!(heard.len(), 2 * 2 + 2, "{heard:?}");
    assert!(
        heard.iter().all(|r| !r.contains("reader-user")),
        "{heard:?}"
    );

    let lines = api.lines();
    let line = lines
        .iter()
        .find(|l| l.contains("reader-user (reader) POST /v1/update -> 403"))
        .unwrap_or_else(|| panic!("{lines:?}"));
    assert!(
        line.starts_with("reader-user (reader) POST /v1/update -> 403 in "),
        "{line}"
    );
    assert!(line.ends_with("ms"), "{line}");
    assert!(lines
        .iter()
        .any(|l| l.contains("admin-user (admin) PUT /v1/secrets/db-password -> 200 in ")));
    assert!(lines
        .iter()
        .any(|l| l.contains("operator-user (operator) POST /v1/reboot -> 200 in ")));
    assert!(!lines.iter().any(|l| l.contains("hunter2")), "{lines:?}");
}

#[tokio::test]
async fn a_certificate_without_a_known_role_may_do_nothing() {
    let device = Device::new();
    let api = client::start(&device, test_limits()).await;
    for role in [None, Some("root"), Some("Admin")] {
        let identity = api.ca.client("eve", role);
        let tls = api.connect(Some(&identity)).await.unwrap();
        let reply = client::send(tls, "GET", "/v1/status", b"").await;
        assert_eq!(reply.status, 403, "{role:?}");
    }
    api.wait_for_line("eve (no role) GET /v1/status -> 403")
        .await;
}
