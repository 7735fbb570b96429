//! The control API client against a fake device: a mutual-TLS HTTPS server
//! (hyper and rustls, as the device's own) that plays a device's answers,
//! with certificates made by the project's keys or by rcgen.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::{Arc, Mutex};

use cairn_image_builder::keys::ProjectKeys;
use cairn_image_builder::remote::{render_status, Status};
use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::{Request, Response};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

/// What the fake device does with an update.
#[derive(Debug, Clone, Copy, PartialEq)]
enum OnUpdate {
    /// Reboots into build 2 and blesses it.
    Bless,
    /// Reboots into build 2, finds `web` failing, rolls back to build 1.
    RollBack,
    /// Refuses after reading the header, as a device refuses an old build.
    Refuse,
}

#[derive(Debug, Default)]
struct Seen {
    /// (method, path and query, client CN, body sha256, body length, content-length)
    requests: Vec<(String, String, String, String, u64, Option<u64>)>,
}

struct Device {
    on_update: OnUpdate,
    status: Value,
    /// Answers to the next status polls, before `status` again.
    queued: VecDeque<Option<Value>>,
    seen: Seen,
}

fn status(build: u64, boot: u64, last_update: Value) -> Value {
    let version = if build == 1 {
        "aaaaaaaaaaaa"
    } else {
        "bbbbbbbbbbbb"
    };
    json!({
        "system": {"hostname": "edge-01", "board": "qemu-x86_64", "version": version,
                   "build": build, "bank": if build == 1 { "a" } else { "b" },
                   "blessed": true, "uptime_s": 812, "boot": boot},
        "banks": {"a": {"version": "aaaaaaaaaaaa", "build": 1,
                        "state": if build == 1 { "running" } else { "good" }},
                  "b": {"version": null, "build": null, "state": "empty"}},
        "apps": [{"app": "web", "instance": 0, "state": "green", "reason": "GET /healthz: 200",
                  "pid": 212, "restarts": 0, "last_exit": null, "status": null},
                 {"app": "worker", "instance": 0, "state": "red", "reason": "exited 1",
                  "pid": null, "restarts": 4, "last_exit": "status 1", "status": null}],
        "jobs": [{"job": "backup", "last": {"start": "2026-12-04T02:30:00Z", "exit": "status 0"}}],
        "last_update": last_update
    })
}

fn rolled_back() -> Value {
    json!({"outcome": "rolled-back", "from": {"version": "aaaaaaaaaaaa", "build": 1},
           "to": {"version": "bbbbbbbbbbbb", "build": 2}, "at": "2026-12-04T09:12:40Z",
           "reason": "web did not become healthy within 5m", "app": "web",
           "stderr": ["panic: cannot open /var/lib/web/db", "exit status 2"]})
}

fn blessed() -> Value {
    json!({"outcome": "blessed", "from": {"version": "aaaaaaaaaaaa", "build": 1},
           "to": {"version": "bbbbbbbbbbbb", "build": 2}, "at": "2026-12-04T09:12:40Z",
           "reason": null, "app": null, "stderr": []})
}

fn reply(code: u16, content_type: &str, body: impl Into<Bytes>) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(body.into()));
    *response.status_mut() = hyper::StatusCode::from_u16(code).unwrap();
    response
        .headers_mut()
        .insert("content-type", content_type.parse().unwrap());
    response
}

async fn handle(
    request: Request<Incoming>,
    device: Arc<Mutex<Device>>,
    client: String,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let method = request.method().to_string();
    let path = request
        .uri()
        .path_and_query()
        .map(|p| p.to_string())
        .unwrap_or_default();
    let length = request
        .headers()
        .get("content-length")
        .and_then(|v| v.to_str().ok()?.parse().ok());
    let refuse =
        path.starts_with("/v1/update") && device.lock().unwrap().on_update == OnUpdate::Refuse;
    let mut body = request.into_body();
    let mut hasher = Sha256::new();
    let mut got = 0u64;
    while let Some(Ok(frame)) = body.frame().await {
        if let Ok(data) = frame.into_data() {
            hasher.update(&data);
            got += data.len() as u64;
        }
        // A device refuses on the header, before it writes a byte.
        if refuse && got >= 24 {
            break;
        }
    }
    let mut device = device.lock().unwrap();
    device.seen.requests.push((
        method.clone(),
        path.clone(),
        client,
        hex::encode(hasher.finalize()),
        got,
        length,
    ));
    let route = path.split('?').next().unwrap_or("").to_owned();
    Ok(match (method.as_str(), route.as_str()) {
        ("GET", "/v1/status") => match device.queued.pop_front() {
            Some(None) => reply(503, "application/json", r#"{"error":"rebooting"}"#),
            Some(Some(status)) => reply(200, "application/json", status.to_string()),
            None => reply(200, "application/json", device.status.to_string()),
        },
        ("POST", "/v1/update") => match device.on_update {
            OnUpdate::Refuse => reply(
                409,
                "application/json",
                r#"{"error":"build 1 is not above the running build 1; build again or pass --allow-downgrade"}"#,
            ),
            outcome => {
                // Still up for a poll, then down for two, then the new boot.
                let up = device.status.clone();
                device.queued.extend([Some(up), None, None]);
                device.queued.push_back(Some(status(2, 4, json!({
                    "outcome": "pending", "to": {"version": "bbbbbbbbbbbb", "build": 2}}))));
                device.status = if outcome == OnUpdate::Bless {
                    status(2, 4, blessed())
                } else {
                    status(1, 5, rolled_back())
                };
                reply(
                    200,
                    "application/json",
                    r#"{"result":"written","version":"bbbbbbbbbbbb","build":2,"reboot":"now"}"#,
                )
            }
        },
        ("GET", "/v1/logs") => reply(
            200,
            "text/plain",
            "2026-12-04T09:12:40.123456Z web stdout listening\n2026-12-04T09:12:41.000000Z web stderr slow\n",
        ),
        ("POST", "/v1/rollback") => reply(
            409,
            "application/json",
            r#"{"error":"the other bank holds no good version"}"#,
        ),
        ("POST", "/v1/apps/nope/restart") => {
            reply(404, "application/json", r#"{"error":"no app nope"}"#)
        }
        ("POST", _) | ("PUT", _) => reply(200, "application/json", "{}"),
        _ => reply(404, "application/json", r#"{"error":"no such endpoint"}"#),
    })
}

/// Starts a fake device presenting `cert`/`key`, trusting clients of `ca`.
fn start(
    cert_pem: &str,
    key_pem: &str,
    ca_pem: &str,
    on_update: OnUpdate,
) -> (SocketAddr, Arc<Mutex<Device>>) {
    let device = Arc::new(Mutex::new(Device {
        on_update,
        status: status(1, 3, Value::Null),
        queued: VecDeque::new(),
        seen: Seen::default(),
    }));
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(CertificateDer::from_pem_slice(ca_pem.as_bytes()).unwrap())
        .unwrap();
    let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
        Arc::new(roots),
        provider.clone(),
    )
    .build()
    .unwrap();
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_client_cert_verifier(verifier)
        .with_single_cert(
            vec![CertificateDer::from_pem_slice(cert_pem.as_bytes()).unwrap()],
            PrivateKeyDer::from_pem_slice(key_pem.as_bytes()).unwrap(),
        )
        .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let addr = listener.local_addr().unwrap();
    let shared = device.clone();
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async move {
            let listener = tokio::net::TcpListener::from_std(listener).unwrap();
            loop {
                let Ok((tcp, _)) = listener.accept().await else {
                    continue;
                };
                let (acceptor, device) = (acceptor.clone(), shared.clone());
                tokio::spawn(async move {
                    // A client the CA did not sign fails here: no HTTP is read.
                    let Ok(tls) = acceptor.accept(tcp).await else {
                        return;
                    };
                    let client = tls
                        .get_ref()
                        .1
                        .peer_certificates()
                        .and_then(|c| c.first())
                        .map(|c| common_name(c))
                        .unwrap_or_default();
                    let service = hyper::service::service_fn(move |request| {
                        handle(request, device.clone(), client.clone())
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(hyper_util::rt::TokioIo::new(tls), service)
                        .await;
                });
            }
        });
    });
    (addr, device)
}

fn common_name(cert: &CertificateDer<'_>) -> String {
    use x509_parser::prelude::*;
    let (_, cert) = X509Certificate::from_der(cert).unwrap();
    let name = cert.subject().iter_common_name().next().unwrap();
    name.as_str().unwrap().to_owned()
}

/// A project with keys, a bundle in `out/`, and a fake device of it.
struct Setup {
    dir: tempfile::TempDir,
    keys: ProjectKeys,
    bundle: PathBuf,
    addr: SocketAddr,
    device: Arc<Mutex<Device>>,
}

fn setup(on_update: OnUpdate, bundle_len: usize) -> Setup {
    let dir = tempfile::tempdir().unwrap();
    let keys = ProjectKeys::at(dir.path().join(".cairn"));
    keys.ensure().unwrap();
    std::fs::create_dir(dir.path().join("out")).unwrap();
    let bundle = dir.path().join("out/update.cairn");
    let bytes: Vec<u8> = (0..bundle_len).map(|i| (i * 7 % 251) as u8).collect();
    std::fs::write(&bundle, bytes).unwrap();
    let (identity, _) = keys.device_identity("edge-01").unwrap();
    let (addr, device) = start(
        &identity.cert_pem,
        &identity.key_pem,
        &keys.ca_pem().unwrap(),
        on_update,
    );
    Setup {
        dir,
        keys,
        bundle,
        addr,
        device,
    }
}

fn cairn(args: &[&str], cwd: &Path, env: &[(&str, &Path)]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_cairn"));
    command
        .args(args)
        .current_dir(cwd)
        .env_remove("CAIRN_IDENTITY")
        .env("NO_COLOR", "1");
    for (k, v) in env {
        command.env(k, v);
    }
    command.output().unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

impl Setup {
    fn to(&self) -> String {
        self.addr.to_string()
    }

    fn deploy(&self) -> Output {
        cairn(
            &[
                "deploy",
                "out",
                "--to",
                &self.to(),
                "--poll-interval",
                "20ms",
                "--timeout",
                "30s",
            ],
            self.dir.path(),
            &[],
        )
    }
}

#[test]
fn deploy_streams_the_bundle_and_reports_a_blessed_version() {
    let s = setup(OnUpdate::Bless, 3 << 20);
    let out = s.deploy();
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert_eq!(out.status.code(), Some(0), "{stdout}\n{stderr}");
    assert!(
        stdout.contains("deployed: edge-01 runs version bbbbbbbbbbbb (build 2), blessed"),
        "{stdout}"
    );
    for step in [
        "runs version aaaaaaaaaaaa (build 1)",
        "sent 50%",
        "sent 100%",
        "checked and wrote version bbbbbbbbbbbb (build 2)",
        "is rebooting",
        "it is back (boot #4)",
    ] {
        assert!(stderr.contains(step), "{step:?} in\n{stderr}");
    }
    let seen = &s.device.lock().unwrap().seen;
    let upload = seen
        .requests
        .iter()
        .find(|r| r.1.starts_with("/v1/update"))
        .unwrap();
    let bundle = std::fs::read(&s.bundle).unwrap();
    assert_eq!(upload.1, "/v1/update?allow_downgrade=false&reboot=now");
    assert_eq!(upload.2, "admin", "talks as the admin identity");
    assert_eq!(upload.3, hex::encode(Sha256::digest(&bundle)));
    assert_eq!(
        (upload.4, upload.5),
        (bundle.len() as u64, Some(bundle.len() as u64))
    );
}

#[test]
fn deploy_reports_a_rollback_with_the_reason_and_exit_3() {
    let s = setup(OnUpdate::RollBack, 100_000);
    let out = s.deploy();
    let stdout = text(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(3),
        "{stdout}\n{}",
        text(&out.stderr)
    );
    for line in [
        "rolled back: the new version was not healthy in time",
        "reason: web did not become healthy within 5m",
        "app web, its last stderr lines:",
        "| panic: cannot open /var/lib/web/db",
        "| exit status 2",
        "runs version aaaaaaaaaaaa (build 1) again",
    ] {
        assert!(stdout.contains(line), "{line:?} in\n{stdout}");
    }
}

#[test]
fn deploy_refused_exits_2_with_the_devices_reason() {
    // Larger than any socket buffer: the device stops reading early.
    let s = setup(OnUpdate::Refuse, 8 << 20);
    let out = s.deploy();
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("refused"), "{stderr}");
    assert!(stderr.contains("409"), "{stderr}");
    assert!(
        stderr.contains("build 1 is not above the running build 1"),
        "{stderr}"
    );
}

#[test]
fn status_is_summarised_or_printed_as_json() {
    let s = setup(OnUpdate::Bless, 10);
    let out = cairn(&["status", "--to", &s.to()], s.dir.path(), &[]);
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(
        lines[0],
        "edge-01  qemu-x86_64  version aaaaaaaaaaaa (build 1)  bank a  blessed  up 13m32s  boot #3"
    );
    assert!(stdout.contains("  a  aaaaaaaaaaaa  build 1"), "{stdout}");
    assert!(stdout.contains("running"), "{stdout}");
    assert!(
        stdout.contains("web.0     green     pid 212     restarts 0  GET /healthz: 200"),
        "{stdout}"
    );
    assert!(
        stdout.contains("worker.0  red       pid -       restarts 4  exited 1"),
        "{stdout}"
    );
    assert!(
        stdout.contains("backup  last 2026-12-04T02:30:00Z (status 0)"),
        "{stdout}"
    );
    assert!(!stdout.contains('\u{1b}'), "no colour off a terminal");

    let out = cairn(&["status", "--to", &s.to(), "--json"], s.dir.path(), &[]);
    let value: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(value["system"]["build"], 1);

    // On a terminal, states are coloured: green good, red bad.
    let parsed: Status = serde_json::from_value(status(1, 5, rolled_back())).unwrap();
    let coloured = render_status(&parsed, true);
    assert!(coloured.contains("\u{1b}[32mgreen"), "{coloured:?}");
    assert!(coloured.contains("\u{1b}[31mred"), "{coloured:?}");
    assert!(coloured.contains("\u{1b}[31mrolled-back"), "{coloured:?}");
}

#[test]
fn a_device_certificate_for_another_name_or_ca_is_refused() {
    let s = setup(OnUpdate::Bless, 10);
    let ca = s.keys.ca_pem().unwrap();
    // Signed by the project's CA, but for another name only.
    let ca_key =
        rcgen::KeyPair::from_pem(&std::fs::read_to_string(s.keys.ca_key()).unwrap()).unwrap();
    let issuer = rcgen::CertificateParams::from_ca_cert_pem(&ca)
        .unwrap()
        .self_signed(&ca_key)
        .unwrap();
    let key = rcgen::KeyPair::generate().unwrap();
    let mut params = rcgen::CertificateParams::new(vec!["wrong.example".to_owned()]).unwrap();
    params.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ServerAuth];
    let cert = params.signed_by(&key, &issuer, &ca_key).unwrap();
    let (addr, _) = start(&cert.pem(), &key.serialize_pem(), &ca, OnUpdate::Bless);
    let out = cairn(&["status", "--to", &addr.to_string()], s.dir.path(), &[]);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("TLS with"), "{stderr}");
    assert!(stderr.contains("cairn.local"), "{stderr}");

    // For the right name, but from another CA.
    let other = tempfile::tempdir().unwrap();
    let stranger = ProjectKeys::at(other.path());
    stranger.ensure().unwrap();
    let (identity, _) = stranger.device_identity("edge-01").unwrap();
    let (addr, _) = start(&identity.cert_pem, &identity.key_pem, &ca, OnUpdate::Bless);
    let out = cairn(&["status", "--to", &addr.to_string()], s.dir.path(), &[]);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("invalid peer certificate"), "{stderr}");
}

#[test]
fn the_identity_is_the_flag_then_the_environment_then_the_project() {
    let s = setup(OnUpdate::Bless, 10);
    let ours = s.keys.dir().to_path_buf();
    // Another project's keys in the current directory: not trusted by the
    // device, nor it by them.
    let elsewhere = tempfile::tempdir().unwrap();
    ProjectKeys::at(elsewhere.path().join(".cairn"))
        .ensure()
        .unwrap();
    let theirs = elsewhere.path().join(".cairn");
    let status = |extra: &[&str], env: &[(&str, &Path)]| {
        let mut args = vec!["status", "--to", &s.addr.to_string()]
            .into_iter()
            .map(str::to_owned)
            .collect::<Vec<_>>();
        args.extend(extra.iter().map(|a| (*a).to_owned()));
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        cairn(&args, elsewhere.path(), env).status.success()
    };
    let ours_text = ours.to_str().unwrap();
    let theirs_text = theirs.to_str().unwrap();
    assert!(
        !status(&[], &[]),
        "the current directory's keys are used, and refused"
    );
    assert!(status(&["--identity", ours_text], &[]));
    assert!(status(&[], &[("CAIRN_IDENTITY", &ours)]));
    assert!(
        !status(&["--identity", theirs_text], &[("CAIRN_IDENTITY", &ours)]),
        "the flag wins over the environment"
    );
    // From the project's own directory, its .cairn/ is found.
    let out = cairn(&["status", "--to", &s.to()], &s.dir.path().join("out"), &[]);
    assert!(out.status.success(), "{}", text(&out.stderr));

    // Another identity of the project, by name.
    s.keys
        .issue("ci", cairn_image_builder::keys::Role::Reader)
        .unwrap();
    assert!(status(&["--identity", ours_text, "--as", "ci"], &[]));
    assert_eq!(
        s.device.lock().unwrap().seen.requests.last().unwrap().2,
        "ci"
    );
    let out = cairn(
        &[
            "status",
            "--to",
            &s.to(),
            "--identity",
            ours_text,
            "--as",
            "nobody",
        ],
        elsewhere.path(),
        &[],
    );
    assert!(text(&out.stderr).contains("cairn keys issue --name nobody"));
}

#[test]
fn logs_rollback_restart_reboot_and_secrets() {
    let s = setup(OnUpdate::Bless, 10);
    let to = s.to();
    let run = |args: &[&str]| cairn(args, s.dir.path(), &[]);

    let out = run(&["logs", "--to", &to, "web", "--lines", "5"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).ends_with("web stderr slow\n"));
    let out = run(&["logs", "--to", &to, "-f"]);
    assert!(out.status.success());

    let out = run(&["rollback", "--to", &to]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("the other bank holds no good version"));
    let out = run(&["restart", "--to", &to, "nope"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("no app nope"));
    assert!(run(&["restart", "--to", &to, "web"]).status.success());
    assert!(
        run(&["reboot", "--to", &to, "--at", "2026-12-04T23:00:00Z"])
            .status
            .success()
    );

    let secret = s.dir.path().join("token");
    std::fs::write(&secret, "s3cret\n").unwrap();
    let out = run(&[
        "secret",
        "set",
        "--to",
        &to,
        "api-token",
        secret.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(!text(&out.stdout).contains("s3cret"));
    let out = run(&[
        "secret",
        "set",
        "--to",
        &to,
        "Bad Name",
        secret.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(1));

    let seen = &s.device.lock().unwrap().seen;
    let paths: Vec<&str> = seen.requests.iter().map(|r| r.1.as_str()).collect();
    for expected in [
        "/v1/logs?app=web&lines=5",
        "/v1/logs?follow=true",
        "/v1/rollback",
        "/v1/apps/web/restart",
        "/v1/reboot",
        "/v1/secrets/api-token",
    ] {
        assert!(paths.contains(&expected), "{expected} in {paths:?}");
    }
    let put = seen.requests.iter().find(|r| r.0 == "PUT").unwrap();
    assert_eq!(put.3, hex::encode(Sha256::digest(b"s3cret\n")));
    let reboot = seen.requests.iter().find(|r| r.1 == "/v1/reboot").unwrap();
    assert_eq!(
        reboot.3,
        hex::encode(Sha256::digest(br#"{"at":"2026-12-04T23:00:00Z"}"#))
    );
}
