//! The binary's command line: what it says when it cannot start.

mod common;

use std::fs;
use std::process::Command;

use common::device::Device;

fn run(args: &[&str]) -> (bool, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_cairn-control"))
        .args(args)
        .output()
        .unwrap();
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[test]
fn explains_what_stops_it() {
    let (ok, stderr) = run(&[]);
    assert!(!ok);
    assert!(
        stderr.contains("usage: cairn-control api|writer"),
        "{stderr}"
    );
    let (ok, stderr) = run(&["api", "--config"]);
    assert!(!ok && stderr.contains("--config needs a file"), "{stderr}");
    let (ok, stderr) = run(&["api", "--config", "/nonexistent/services.json"]);
    assert!(
        !ok && stderr.contains("/nonexistent/services.json"),
        "{stderr}"
    );

    let device = Device::new();
    let path = device.root().join("services.json");
    fs::write(&path, "{\"hostname\": 1}").unwrap();
    let (ok, stderr) = run(&["writer", "--config", path.to_str().unwrap()]);
    assert!(!ok && stderr.contains("services.json"), "{stderr}");

    // A privileged port is refused before anything is bound or read.
    let mut json: serde_json::Value = serde_json::from_str(
        &fs::read_to_string(env!("CARGO_MANIFEST_DIR").to_owned() + "/tests/services.example.json")
            .unwrap(),
    )
    .unwrap();
    json["control"]["port"] = 443.into();
    fs::write(&path, json.to_string()).unwrap();
    let (ok, stderr) = run(&["api", "--config", path.to_str().unwrap()]);
    assert!(!ok && stderr.contains("not above 1024"), "{stderr}");
    json.as_object_mut().unwrap().remove("writer");
    json["control"]["port"] = 7443.into();
    fs::write(&path, json.to_string()).unwrap();
    let (ok, stderr) = run(&["writer", "--config", path.to_str().unwrap()]);
    assert!(!ok && stderr.contains("no writer member"), "{stderr}");
}
