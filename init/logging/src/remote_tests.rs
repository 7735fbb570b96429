use std::io::Read;
use std::net::TcpListener;
use std::path::Path;
use std::sync::mpsc;
use std::time::Instant;

use super::*;
use crate::record::Stream;

/// Accepts connections on `listener` one after another, sending every
/// octet-counted message received; stops after `connections`.
fn collect(listener: TcpListener, connections: usize, out: mpsc::Sender<String>) {
    for _ in 0..connections {
        let Ok((mut stream, _)) = listener.accept() else {
            return;
        };
        read_frames(&mut stream, &out);
    }
}

fn read_frames(stream: &mut impl Read, out: &mpsc::Sender<String>) {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        match stream.read(&mut chunk) {
            Ok(0) | Err(_) => return,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
        let (messages, used) = syslog::deframe(&buf);
        buf.drain(..used);
        for m in messages {
            if out.send(m).is_err() {
                return;
            }
        }
    }
}

fn line(text: &str) -> Record {
    Record::new("web", 0, Stream::Stdout, text.to_string())
}

fn wait_for(rx: &mpsc::Receiver<String>, needle: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(20);
    while let Some(left) = deadline.checked_duration_since(Instant::now()) {
        match rx.recv_timeout(left) {
            Ok(m) if m.ends_with(needle) => return m,
            Ok(_) => {}
            Err(_) => break,
        }
    }
    panic!("{needle:?} never arrived");
}

#[test]
fn tcp_lines_arrive_framed_and_survive_a_collector_restart() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let (tx, rx) = mpsc::channel();
    let target = Target {
        transport: SyslogTransport::Tcp,
        host: "127.0.0.1".into(),
        port,
        ca: PathBuf::new(),
    };
    assert_eq!(target.url(), format!("syslog+tcp://127.0.0.1:{port}"));
    let remote = Remote::start(target, "box".into()).unwrap();
    // First collector: takes one connection, then goes away.
    let first = {
        let tx = tx.clone();
        std::thread::spawn(move || {
            let (mut stream, _) = listener.accept().unwrap();
            let mut buf = Vec::new();
            let mut chunk = [0u8; 4096];
            while !syslog::deframe(&buf).0.iter().any(|m| m.ends_with("one")) {
                let n = stream.read(&mut chunk).unwrap();
                buf.extend_from_slice(&chunk[..n]);
            }
            for m in syslog::deframe(&buf).0 {
                tx.send(m).unwrap();
            }
            // Dropping the listener and the stream: the collector is gone.
        })
    };
    remote.push(&line("one"));
    let got = wait_for(&rx, "one");
    assert!(
        got.starts_with("<14>1 ") && got.contains(" box web 0 stdout - "),
        "{got}"
    );
    first.join().unwrap();

    // The sink notices the close on its own (a line written in the instant
    // of the close would be in flight on a dead connection); from then on,
    // lines queue while the collector is away.
    let mut notices = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(10);
    while !notices
        .iter()
        .any(|(_, n): &(u8, String)| n.contains("collector closed the connection"))
    {
        assert!(Instant::now() < deadline, "close not noticed: {notices:?}");
        std::thread::sleep(Duration::from_millis(50));
        notices.extend(remote.take_notices(Instant::now()));
    }
    remote.push(&line("while away"));
    std::thread::sleep(Duration::from_millis(300));
    let listener = TcpListener::bind(("127.0.0.1", port)).unwrap();
    std::thread::spawn(move || collect(listener, 1, tx));
    remote.push(&line("after restart"));
    wait_for(&rx, "while away");
    wait_for(&rx, "after restart");
    notices.extend(remote.take_notices(Instant::now()));
    assert!(
        notices.iter().any(|(_, n)| n.ends_with(": connected")),
        "{notices:?}"
    );
    remote.close(Duration::from_secs(2));
}

#[test]
fn an_unreachable_collector_costs_counted_drops_not_a_stall() {
    // A port nobody listens on.
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let target = Target {
        transport: SyslogTransport::Tcp,
        host: "127.0.0.1".into(),
        port,
        ca: PathBuf::new(),
    };
    let remote = Remote::start(target, "box".into()).unwrap();
    let started = Instant::now();
    for i in 0..QUEUE_MAX + 25 {
        remote.push(&line(&format!("{i}")));
    }
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "push never waits"
    );
    std::thread::sleep(Duration::from_millis(200));
    let t0 = Instant::now();
    let drops = |at: Instant| -> Vec<String> {
        remote
            .take_notices(at)
            .into_iter()
            .map(|(_, n)| n)
            .filter(|n| n.starts_with("dropped "))
            .collect()
    };
    let report = |n: u32| {
        format!("dropped {n} lines for syslog+tcp://127.0.0.1:{port}: collector unreachable")
    };
    // The first drops are reported at once...
    assert_eq!(drops(t0), [report(25)]);
    // ...later ones summed over a second...
    for i in 0..5 {
        remote.push(&line(&format!("more {i}")));
    }
    assert!(drops(t0 + Duration::from_millis(500)).is_empty());
    assert_eq!(drops(t0 + Duration::from_secs(1)), [report(5)]);
    // ...then over two, four...: a collector that stays stuck is not
    // reported on every batch.
    for i in 0..3 {
        remote.push(&line(&format!("still more {i}")));
    }
    assert!(drops(t0 + Duration::from_millis(2900)).is_empty());
    assert_eq!(drops(t0 + Duration::from_secs(3)), [report(3)]);
    remote.push(&line("again"));
    assert!(drops(t0 + Duration::from_millis(6900)).is_empty());
    assert_eq!(drops(t0 + Duration::from_secs(7)), [report(1)]);
    assert!(
        drops(t0 + Duration::from_secs(60)).is_empty(),
        "nothing new"
    );
    remote.close(Duration::from_millis(100));
}

/// A CA, written as PEM into `dir`, and a server configuration whose
/// certificate for 127.0.0.1 it signed. rustls sends TLS 1.3 session
/// tickets after the handshake, as most collectors do.
fn tls_server(dir: &Path) -> (PathBuf, Arc<rustls::ServerConfig>) {
    let ca_key = rcgen::KeyPair::generate().unwrap();
    let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    let ca = ca_params.self_signed(&ca_key).unwrap();
    let key = rcgen::KeyPair::generate().unwrap();
    let params = rcgen::CertificateParams::new(vec!["127.0.0.1".to_string()]).unwrap();
    let cert = params.signed_by(&key, &ca, &ca_key).unwrap();
    let ca_path = dir.join("ca.pem");
    std::fs::write(&ca_path, ca.pem()).unwrap();

    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let server = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(
            vec![cert.der().clone()],
            rustls::pki_types::PrivateKeyDer::Pkcs8(key.serialize_der().into()),
        )
        .unwrap();
    (ca_path, Arc::new(server))
}

#[test]
fn tls_lines_reach_a_collector_with_a_certificate_from_the_bundle() {
    let tmp = tempfile::tempdir().unwrap();
    let (ca_path, server) = tls_server(tmp.path());
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let (tcp, _) = listener.accept().unwrap();
        let conn = rustls::ServerConnection::new(server).unwrap();
        let mut tls = rustls::StreamOwned::new(conn, tcp);
        read_frames(&mut tls, &tx);
    });
    let remote = Remote::start(
        Target {
            transport: SyslogTransport::Tls,
            host: "127.0.0.1".into(),
            port,
            ca: ca_path,
        },
        "box".into(),
    )
    .unwrap();
    remote.push(&line("secret"));
    let got = wait_for(&rx, "secret");
    assert!(got.contains(" box web 0 stdout - "), "{got}");
    remote.close(Duration::from_secs(2));
}

#[test]
fn a_missing_ca_bundle_is_reported() {
    let err = crate::tls::client_config(Path::new("/nonexistent/ca.pem")).unwrap_err();
    assert!(
        err.to_string().contains("CA bundle /nonexistent/ca.pem"),
        "{err}"
    );
}

#[test]
fn a_tls_connection_stays_up_across_what_the_collector_sends_after_the_handshake() {
    let tmp = tempfile::tempdir().unwrap();
    let (ca_path, server) = tls_server(tmp.path());
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let (tx, rx) = mpsc::channel();
    let accepted = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    {
        let accepted = Arc::clone(&accepted);
        std::thread::spawn(move || {
            for tcp in listener.incoming() {
                let Ok(tcp) = tcp else { return };
                accepted.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                let server = Arc::clone(&server);
                let tx = tx.clone();
                std::thread::spawn(move || {
                    let conn = rustls::ServerConnection::new(server).unwrap();
                    let mut tls = rustls::StreamOwned::new(conn, tcp);
                    read_frames(&mut tls, &tx);
                });
            }
        });
    }
    let remote = Remote::start(
        Target {
            transport: SyslogTransport::Tls,
            host: "127.0.0.1".into(),
            port,
            ca: ca_path,
        },
        "box".into(),
    )
    .unwrap();
    // Lines with pauses between them: the sink checks the connection
    // before each write, long after the session tickets arrived.
    for i in 0..4 {
        remote.push(&line(&format!("line {i}")));
        wait_for(&rx, &format!("line {i}"));
        std::thread::sleep(Duration::from_millis(300));
    }
    let notices = remote.take_notices(Instant::now());
    assert!(
        !notices.iter().any(|(_, n)| n.contains("closed")),
        "{notices:?}"
    );
    assert_eq!(accepted.load(std::sync::atomic::Ordering::SeqCst), 1);
    remote.close(Duration::from_secs(2));
}
