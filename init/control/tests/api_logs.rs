//! `GET /v1/logs`: last lines, every source in time order, following
//! appends and rotations.

mod common;

use std::fs::{self, OpenOptions};
use std::io::Write;
use std::path::Path;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper_util::rt::TokioIo;

use common::client::{self, test_limits};
use common::device::Device;

fn line(time: &str, source: &str, text: &str) -> String {
    format!("2026-12-04T09:12:{time}Z {source} stdout {text}\n")
}

fn write_logs(root: &Path) {
    let web = root.join("logs/web");
    fs::create_dir_all(&web).unwrap();
    fs::write(
        web.join("2026-12-04T09-12-30.000000Z.log"),
        line("01.000000", "web", "w1") + &line("03.000000", "web", "w2"),
    )
    .unwrap();
    fs::write(
        web.join("current"),
        line("05.000000", "web", "w3") + &line("07.000000", "web", "w4"),
    )
    .unwrap();
    let db = root.join("logs/db");
    fs::create_dir_all(&db).unwrap();
    fs::write(
        db.join("current"),
        line("02.000000", "db", "d1") + &line("06.000000", "db", "d2"),
    )
    .unwrap();
    let kernel = root.join("logs/kernel");
    fs::create_dir_all(&kernel).unwrap();
    let mut bad = line("04.000000", "kernel", "k1").into_bytes();
    bad.splice(bad.len() - 2..bad.len() - 2, [0xff, 0xfe]);
    fs::write(kernel.join("current"), bad).unwrap();
    // Not a source: left out.
    fs::create_dir_all(root.join("logs/..hidden")).unwrap();
}

fn texts(body: &str) -> Vec<&str> {
    body.lines()
        .map(|l| l.rsplit(' ').next().unwrap())
        .collect()
}

#[tokio::test]
async fn the_last_lines_of_one_source_or_of_all_in_time_order() {
    let device = Device::new();
    write_logs(device.root());
    let api = client::start(&device, test_limits()).await;

    let reply = api
        .call("alice", "reader", "GET", "/v1/logs?app=web&lines=3", b"")
        .await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.headers["content-type"], "text/plain; charset=utf-8");
    assert_eq!(texts(&reply.text()), ["w2", "w3", "w4"]);

    let all = api
        .call("alice", "reader", "GET", "/v1/logs", b"")
        .await
        .text();
    assert_eq!(
        texts(&all),
        ["w1", "d1", "w2", "k\u{fffd}\u{fffd}1", "w3", "d2", "w4"]
    );
    let last_two = api
        .call("alice", "reader", "GET", "/v1/logs?lines=2", b"")
        .await
        .text();
    assert_eq!(texts(&last_two), ["d2", "w4"]);

    let kmsg = api.call("alice", "reader", "GET", "/v1/kmsg", b"").await;
    assert_eq!(kmsg.status, 200);
    assert!(
        kmsg.text().contains("kernel stdout k\u{fffd}\u{fffd}1\n"),
        "{}",
        kmsg.text()
    );

    let missing = api
        .call("alice", "reader", "GET", "/v1/logs?app=nothere", b"")
        .await;
    assert_eq!(missing.status, 404);
    for bad in [
        "app=..",
        "app=..%2fetc",
        "app=web&app=db",
        "lines=many",
        "lines=100000",
        "x=1",
    ] {
        let reply = api
            .call("alice", "reader", "GET", &format!("/v1/logs?{bad}"), b"")
            .await;
        assert_eq!(reply.status, 400, "{bad}: {}", reply.text());
        assert!(reply.json()["error"].is_string());
    }
}

/// Reads a streamed body until it holds every one of `wanted`.
async fn read_until(body: &mut hyper::body::Incoming, got: &mut String, wanted: &[&str]) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while !wanted.iter().all(|w| got.contains(w)) {
        let frame = tokio::time::timeout_at(deadline, body.frame())
            .await
            .unwrap_or_else(|_| panic!("waiting for {wanted:?}, got {got:?}"))
            .unwrap()
            .unwrap();
        if let Ok(data) = frame.into_data() {
            got.push_str(std::str::from_utf8(&data).unwrap());
        }
    }
}

#[tokio::test]
async fn following_shows_appended_lines_across_a_rotation() {
    let device = Device::new();
    write_logs(device.root());
    let api = client::start(&device, test_limits()).await;
    let identity = api.identity("alice", "reader");
    let tls = api.connect(Some(&identity)).await.unwrap();
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(tls))
        .await
        .unwrap();
    tokio::spawn(connection);
    let request = hyper::Request::get("/v1/logs?app=web&lines=1&follow=true")
        .header("host", "edge-01")
        .body(Empty::<Bytes>::new())
        .unwrap();
    let response = sender.send_request(request).await.unwrap();
    assert_eq!(response.status(), 200);
    let mut body = response.into_body();
    let mut got = String::new();
    read_until(&mut body, &mut got, &["w4"]).await;
    assert!(!got.contains("w3"), "{got}");

    let current = device.root().join("logs/web/current");
    let mut file = OpenOptions::new().append(true).open(&current).unwrap();
    file.write_all(line("08.000000", "web", "w5").as_bytes())
        .unwrap();
    file.write_all(b"2026-12-04T09:12:09.000000Z web stdout w")
        .unwrap();
    read_until(&mut body, &mut got, &["w5"]).await;
    assert!(
        !got.contains("stdout w\n"),
        "a partial line was sent: {got}"
    );

    // The rest of that line, then a rotation and a new current.
    file.write_all(b"6\n").unwrap();
    drop(file);
    fs::rename(
        &current,
        device
            .root()
            .join("logs/web/2026-12-04T09-12-10.000000Z.log"),
    )
    .unwrap();
    fs::write(&current, line("11.000000", "web", "w7")).unwrap();
    read_until(&mut body, &mut got, &["w6", "w7"]).await;
    assert_eq!(texts(&got), ["w4", "w5", "w6", "w7"]);

    // The server notices the client left.
    drop(body);
    drop(sender);
    api.wait_for_line("alice (reader) GET /v1/logs -> 200")
        .await;
}

#[tokio::test]
async fn following_every_source_picks_up_a_new_one() {
    let device = Device::new();
    write_logs(device.root());
    let api = client::start(&device, test_limits()).await;
    let identity = api.identity("alice", "reader");
    let tls = api.connect(Some(&identity)).await.unwrap();
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(tls))
        .await
        .unwrap();
    tokio::spawn(connection);
    let request = hyper::Request::get("/v1/logs?lines=1&follow=true")
        .header("host", "edge-01")
        .body(Empty::<Bytes>::new())
        .unwrap();
    let mut body = sender.send_request(request).await.unwrap().into_body();
    let mut got = String::new();
    read_until(&mut body, &mut got, &["w4"]).await;
    let job = device.root().join("logs/backup");
    fs::create_dir_all(&job).unwrap();
    fs::write(job.join("current"), line("20.000000", "backup", "b1")).unwrap();
    let mut db = OpenOptions::new()
        .append(true)
        .open(device.root().join("logs/db/current"))
        .unwrap();
    db.write_all(line("21.000000", "db", "d3").as_bytes())
        .unwrap();
    read_until(&mut body, &mut got, &["b1", "d3"]).await;
}
