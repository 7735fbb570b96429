//! `POST /v1/update` end to end: the API relays the body to a real update
//! writer on its socket, and on success asks PID 1 to reboot.

mod common;

use std::sync::Arc;

use cairn_control::writer::{self, Callers, SystemDisk};
use serde_json::json;

use common::bundle::{self, Payloads};
use common::client::{self, test_limits};
use common::device::{Device, BOARD};
use common::fake_pid1::FakePid1;

fn start_writer(device: &Device) {
    let config = device.config.clone();
    let writer_config = config.writer().unwrap();
    let disk = SystemDisk::new(writer_config.banks.clone(), writer_config.esp().unwrap());
    let listener = writer::bind(
        &config.paths.update_socket,
        cairn_layout::users::CONTROL_UID,
    )
    .unwrap();
    let writer =
        Arc::new(writer::Writer::new(config, Box::new(disk), Callers::standard()).unwrap());
    std::thread::spawn(move || writer.serve(listener));
}

#[tokio::test]
async fn a_bundle_is_written_and_pid_1_asked_to_reboot_into_it() {
    let device = Device::new();
    let pid1 = FakePid1::start(&device.config.paths.pid1_socket);
    start_writer(&device);
    let api = client::start(&device, test_limits()).await;
    let payloads = Payloads::new(11);
    let bytes = bundle::make(BOARD, "2.0.0", 8, &device.key, &payloads);

    let reply = api
        .call(
            "alice",
            "admin",
            "POST",
            "/v1/update?reboot=2026-12-04T23:00:00%2B01:00",
            &bytes,
        )
        .await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    assert_eq!(
        reply.json(),
        json!({"result": "written", "version": "2.0.0", "build": 8,
               "entry": "cairn-0000000008-2.0.0+3-0.conf", "reboot": "2026-12-04T22:00:00Z"})
    );
    assert_eq!(pid1.requests(), ["update-reboot 1796421600 alice"]);
    assert!(device
        .entry_names()
        .contains(&"cairn-0000000008-2.0.0+3-0.conf".to_string()));
    assert_eq!(
        &device.bank("b")[..payloads.bank.len()],
        payloads.bank.as_slice()
    );
    api.wait_for_line("alice (admin) POST /v1/update -> 200 in ")
        .await;
}

#[tokio::test]
async fn reboot_no_writes_without_asking_pid_1_and_now_asks_with_no_time() {
    for (query, expected) in [("?reboot=no", None), ("", Some("update-reboot now ci"))] {
        let device = Device::new();
        let pid1 = FakePid1::start(&device.config.paths.pid1_socket);
        start_writer(&device);
        let api = client::start(&device, test_limits()).await;
        let bytes = bundle::make(BOARD, "2.0.0", 9, &device.key, &Payloads::new(12));
        let reply = api
            .call("ci", "admin", "POST", &format!("/v1/update{query}"), &bytes)
            .await;
        assert_eq!(reply.status, 200, "{}", reply.text());
        let requests = pid1.requests();
        match expected {
            None => {
                assert_eq!(reply.json()["reboot"], "no");
                assert!(requests.is_empty(), "{requests:?}");
            }
            Some(line) => {
                assert_eq!(reply.json()["reboot"], "now");
                assert_eq!(requests, [line]);
            }
        }
    }
}

#[tokio::test]
async fn refusals_come_back_as_400_or_409_and_pid_1_hears_nothing() {
    let device = Device::new();
    let pid1 = FakePid1::start(&device.config.paths.pid1_socket);
    start_writer(&device);
    let api = client::start(&device, test_limits()).await;
    let payloads = Payloads::new(13);
    let other = cairn_update::SigningKey::generate().unwrap();
    let mut tampered = bundle::make(BOARD, "2.0.0", 8, &device.key, &payloads);
    let at = tampered.len() - 5;
    tampered[at] ^= 1;
    let cases = [
        (
            "another key",
            bundle::make(BOARD, "2.0.0", 8, &other, &payloads),
            400,
        ),
        (
            "another board",
            bundle::make("rpi4", "2.0.0", 8, &device.key, &payloads),
            409,
        ),
        (
            "an older build",
            bundle::make(BOARD, "2.0.0", 6, &device.key, &payloads),
            409,
        ),
        (
            "the running build",
            bundle::make(BOARD, "2.0.0", 7, &device.key, &payloads),
            409,
        ),
        ("a tampered payload", tampered, 400),
        ("garbage", b"garbage".to_vec(), 400),
    ];
    for (what, bytes, status) in cases {
        let reply = api
            .call("alice", "admin", "POST", "/v1/update", &bytes)
            .await;
        assert_eq!(reply.status, status, "{what}: {}", reply.text());
        assert!(reply.json()["error"].is_string(), "{what}");
    }
    // Truncated: the declared length does not match the manifest's.
    let bytes = bundle::make(BOARD, "2.0.0", 8, &device.key, &payloads);
    let reply = api
        .call(
            "alice",
            "admin",
            "POST",
            "/v1/update",
            &bytes[..bytes.len() - 100],
        )
        .await;
    assert_eq!(reply.status, 400, "{}", reply.text());
    assert!(pid1.requests().is_empty(), "{:?}", pid1.requests());
    assert!(
        !device.entry_names().iter().any(|n| n.contains("2.0.0")),
        "{:?}",
        device.entry_names()
    );
}
