//! Whatever a client sends, the server answers within bounds or hangs up,
//! and keeps serving everyone else.

mod common;

use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use common::client::{self, test_limits, Running};
use common::device::Device;
use common::fake_pid1::FakePid1;

/// Sends raw bytes as an admin and reads what comes back until the server
/// closes or `wait` passes.
async fn raw(api: &Running, bytes: &[u8], wait: Duration) -> (String, Duration) {
    let identity = api.identity("mallory", "admin");
    let mut tls = api.connect(Some(&identity)).await.unwrap();
    let started = Instant::now();
    let _ = tls.write_all(bytes).await;
    let _ = tls.flush().await;
    let mut out = Vec::new();
    let _ = tokio::time::timeout(wait, tls.read_to_end(&mut out)).await;
    (
        String::from_utf8_lossy(&out).into_owned(),
        started.elapsed(),
    )
}

fn status_of(response: &str) -> u16 {
    response
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no status line in {response:?}"))
}

async fn still_serves(api: &Running) {
    let reply = api.call("alice", "reader", "GET", "/v1/status", b"").await;
    assert_eq!(reply.status, 200);
}

#[tokio::test]
async fn oversized_heads_are_refused() {
    let device = Device::new();
    let api = client::start(&device, test_limits()).await;
    let big = format!(
        "GET /v1/status HTTP/1.1\r\nhost: edge-01\r\nx-pad: {}\r\n\r\n",
        "a".repeat(64 * 1024)
    );
    let (response, _) = raw(&api, big.as_bytes(), Duration::from_secs(5)).await;
    assert!(
        response.is_empty() || status_of(&response) == 431,
        "{response}"
    );
    let many: String = (0..200).map(|i| format!("x-{i}: y\r\n")).collect();
    let request = format!("GET /v1/status HTTP/1.1\r\nhost: edge-01\r\n{many}\r\n");
    let (response, _) = raw(&api, request.as_bytes(), Duration::from_secs(5)).await;
    assert!(
        response.is_empty() || status_of(&response) == 431,
        "{response}"
    );
    let long_path = format!(
        "GET /{} HTTP/1.1\r\nhost: edge-01\r\n\r\n",
        "v".repeat(20_000)
    );
    let (response, _) = raw(&api, long_path.as_bytes(), Duration::from_secs(5)).await;
    assert!(
        response.is_empty() || status_of(&response) >= 400,
        "{response}"
    );
    still_serves(&api).await;
}

#[tokio::test]
async fn bodies_beyond_their_limit_are_refused_before_they_are_read() {
    let device = Device::new();
    let pid1 = FakePid1::start(&device.config.paths.pid1_socket);
    let api = client::start(&device, test_limits()).await;

    // A declared length far beyond the bank: refused from the head alone,
    // at once, though not one byte of the body follows.
    let request =
        "POST /v1/update HTTP/1.1\r\nhost: edge-01\r\ncontent-length: 1000000000000000\r\n\r\n";
    let (response, took) = raw(&api, request.as_bytes(), Duration::from_secs(5)).await;
    assert_eq!(status_of(&response), 413, "{response}");
    assert!(took < Duration::from_secs(2), "{took:?}");

    let request = "PUT /v1/secrets/big HTTP/1.1\r\nhost: edge-01\r\ncontent-length: 70000\r\n\r\n";
    let (response, took) = raw(&api, request.as_bytes(), Duration::from_secs(5)).await;
    assert_eq!(status_of(&response), 413, "{response}");
    assert!(took < Duration::from_secs(2), "{took:?}");

    // Chunked, so no length is declared: cut off once it passes the limit.
    let secret = vec![b'x'; 65 * 1024];
    let reply = api
        .call("root", "admin", "PUT", "/v1/secrets/big", &secret)
        .await;
    assert_eq!(reply.status, 413);
    let mut chunked =
        b"PUT /v1/secrets/big HTTP/1.1\r\nhost: edge-01\r\ntransfer-encoding: chunked\r\n\r\n"
            .to_vec();
    for _ in 0..20 {
        chunked.extend_from_slice(b"1000\r\n");
        chunked.extend_from_slice(&[b'y'; 0x1000]);
        chunked.extend_from_slice(b"\r\n");
    }
    chunked.extend_from_slice(b"0\r\n\r\n");
    let (response, _) = raw(&api, &chunked, Duration::from_secs(5)).await;
    assert_eq!(status_of(&response), 413, "{response}");

    let reply = api
        .call("root", "admin", "PUT", "/v1/secrets/big", &[0u8, 1, 2, 255])
        .await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    assert!(
        pid1.requests()
            .iter()
            .all(|r| r == "secret big 000102ff root"),
        "{:?}",
        pid1.requests()
    );
    assert_eq!(pid1.requests().len(), 1);
    still_serves(&api).await;
}

#[tokio::test]
async fn bad_json_bad_names_and_bad_encodings_are_400() {
    let device = Device::new();
    let pid1 = FakePid1::start(&device.config.paths.pid1_socket);
    let api = client::start(&device, test_limits()).await;
    let cases: [(&str, &str, &[u8]); 12] = [
        ("POST", "/v1/reboot", b"{\"at\":"),
        ("POST", "/v1/reboot", b"{\"at\":5}"),
        ("POST", "/v1/reboot", b"{\"at\":\"tomorrow\"}"),
        ("POST", "/v1/reboot", b"{\"when\":\"2026-12-04T23:00:00Z\"}"),
        ("POST", "/v1/reboot", b"\xff\xfe"),
        ("POST", "/v1/apps/../restart", b""),
        ("POST", "/v1/apps/%2e%2e/restart", b""),
        ("POST", "/v1/apps/Web/restart", b""),
        ("PUT", "/v1/secrets/..", b"x"),
        ("PUT", "/v1/secrets/%ff", b"x"),
        ("PUT", "/v1/secrets/.hidden", b"x"),
        ("POST", "/v1/update?reboot=someday", b""),
    ];
    for (method, path, body) in cases {
        let reply = api.call("root", "admin", method, path, body).await;
        assert_eq!(reply.status, 400, "{method} {path}: {}", reply.text());
        assert!(reply.json()["error"]
            .as_str()
            .is_some_and(|e| !e.is_empty()));
    }
    assert!(pid1.requests().is_empty(), "{:?}", pid1.requests());

    // Bytes that are no URI at all never reach a handler.
    let (response, _) = raw(
        &api,
        b"GET /v1/\xff\xfe HTTP/1.1\r\nhost: edge-01\r\n\r\n",
        Duration::from_secs(5),
    )
    .await;
    assert!(
        response.is_empty() || status_of(&response) == 400,
        "{response}"
    );
    let (response, _) = raw(
        &api,
        b"\x00\x01\x02 nonsense\r\n\r\n",
        Duration::from_secs(5),
    )
    .await;
    assert!(
        response.is_empty() || status_of(&response) == 400,
        "{response}"
    );
    let reply = api
        .call("root", "admin", "GET", "/v1/logs?app=%ff", b"")
        .await;
    assert_eq!(reply.status, 400);
    let reply = api.call("root", "admin", "GET", "/nowhere", b"").await;
    assert_eq!(reply.status, 404);
    let reply = api.call("root", "admin", "DELETE", "/v1/status", b"").await;
    assert_eq!(reply.status, 405);
    assert_eq!(reply.headers["allow"], "GET");
    still_serves(&api).await;
}

#[tokio::test]
async fn slow_clients_are_cut_off_and_do_not_hold_the_server() {
    let device = Device::new();
    let api = client::start(&device, test_limits()).await;

    // Connects and never starts TLS.
    let silent = tokio::net::TcpStream::connect(api.addr).await.unwrap();
    // Sends its head one byte at a time, forever.
    let identity = api.identity("slow", "reader");
    let mut trickle = api.connect(Some(&identity)).await.unwrap();
    let trickler = tokio::spawn(async move {
        let started = Instant::now();
        for byte in b"GET /v1/status HTTP/1.1\r\nhost: edge-01\r\nx-slow: "
            .iter()
            .chain(b"a".repeat(1000).iter())
        {
            if trickle.write_all(&[*byte]).await.is_err() || trickle.flush().await.is_err() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
            if started.elapsed() > Duration::from_secs(15) {
                break;
            }
        }
        let mut rest = Vec::new();
        let _ = tokio::time::timeout(Duration::from_secs(5), trickle.read_to_end(&mut rest)).await;
        started.elapsed()
    });

    // Meanwhile everyone else is served.
    for _ in 0..3 {
        still_serves(&api).await;
    }
    let took = trickler.await.unwrap();
    assert!(
        took < Duration::from_secs(8),
        "the slow client was held for {took:?}"
    );

    let mut silent = silent;
    let mut buffer = [0u8; 16];
    let closed = tokio::time::timeout(Duration::from_secs(6), silent.read(&mut buffer)).await;
    assert!(matches!(closed, Ok(Ok(0)) | Ok(Err(_))), "{closed:?}");
    api.wait_for_line("handshake timed out").await;

    // A body that stalls: the request is answered or dropped within the
    // body timeout.
    let (response, took) = raw(
        &api,
        b"POST /v1/reboot HTTP/1.1\r\nhost: edge-01\r\ncontent-length: 100\r\n\r\n{",
        Duration::from_secs(10),
    )
    .await;
    assert!(took < Duration::from_secs(6), "{took:?}");
    assert!(
        response.is_empty() || status_of(&response) == 408,
        "{response}"
    );
}

#[tokio::test]
async fn an_idle_kept_alive_connection_is_closed() {
    let device = Device::new();
    let api = client::start(&device, test_limits()).await;
    let (response, took) = raw(
        &api,
        b"GET /v1/status HTTP/1.1\r\nhost: edge-01\r\n\r\n",
        Duration::from_secs(10),
    )
    .await;
    assert_eq!(status_of(&response), 200);
    assert!(took < Duration::from_secs(5), "kept for {took:?}");
}
