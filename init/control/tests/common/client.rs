//! The API under test, served in-process on 127.0.0.1, and a TLS client
//! that presents a certificate of the test's CA (or none, or another's).

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use cairn_control::api::{self, Context, Limits, LogSink, Server};
use cairn_control::config::Config;
use http_body_util::{BodyExt, Full};
use hyper::Request;
use hyper_util::rt::TokioIo;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use rustls::{ClientConfig, RootCertStore};
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;
use tokio_rustls::TlsConnector;

use super::certs::{self, Ca, Identity};
use super::device::Device;

/// Collects the request log.
#[derive(Default)]
pub struct Lines(pub Mutex<Vec<String>>);

impl LogSink for Lines {
    fn line(&self, line: &str) {
        self.0.lock().unwrap().push(line.to_owned());
    }
}

pub struct Running {
    pub addr: SocketAddr,
    pub ca: Ca,
    pub log: Arc<Lines>,
    pub config: Config,
}

/// Short bounds, so the hostile tests finish quickly.
pub fn test_limits() -> Limits {
    Limits {
        handshake_timeout: Duration::from_secs(2),
        header_timeout: Duration::from_secs(1),
        body_timeout: Duration::from_secs(2),
        writer_timeout: Duration::from_secs(20),
        follow_poll: Duration::from_millis(50),
        ..Limits::default()
    }
}

pub async fn start(device: &Device, limits: Limits) -> Running {
    let ca = Ca::new("Cairn test CA");
    certs::install(&device.root().join("tls"), &ca);
    let config = device.config.clone();
    let tls = api::tls::server_config(
        &config.control.ca,
        &config.control.cert,
        &config.control.key,
    )
    .unwrap();
    let log = Arc::new(Lines::default());
    let context = Context {
        config: config.clone(),
        limits,
        log: log.clone(),
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(api::serve(Server::new(context, tls), listener));
    Running {
        addr,
        ca,
        log,
        config,
    }
}

impl Running {
    pub fn lines(&self) -> Vec<String> {
        self.log.0.lock().unwrap().clone()
    }

    /// Waits for a log line containing `needle`.
    pub async fn wait_for_line(&self, needle: &str) -> String {
        for _ in 0..200 {
            if let Some(line) = self.lines().into_iter().find(|l| l.contains(needle)) {
                return line;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        panic!("no log line with {needle:?} in {:?}", self.lines());
    }

    pub fn identity(&self, name: &str, role: &str) -> Identity {
        self.ca.client(name, Some(role))
    }

    pub async fn connect(
        &self,
        identity: Option<&Identity>,
    ) -> std::io::Result<TlsStream<TcpStream>> {
        connect(self.addr, &self.ca, identity).await
    }

    /// One request on a fresh connection as `name` with `role`.
    pub async fn call(
        &self,
        name: &str,
        role: &str,
        method: &str,
        path: &str,
        body: &[u8],
    ) -> Reply {
        let identity = self.identity(name, role);
        let tls = self.connect(Some(&identity)).await.unwrap();
        send(tls, method, path, body).await
    }
}

pub fn client_config(ca: &Ca, identity: Option<&Identity>) -> ClientConfig {
    let mut roots = RootCertStore::empty();
    roots.add(ca.cert.der().clone()).unwrap();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots);
    match identity {
        Some(identity) => {
            let chain = vec![CertificateDer::from_pem_slice(identity.cert_pem.as_bytes()).unwrap()];
            let key = PrivateKeyDer::from_pem_slice(identity.key_pem.as_bytes()).unwrap();
            builder.with_client_auth_cert(chain, key).unwrap()
        }
        None => builder.with_no_client_auth(),
    }
}

pub async fn connect(
    addr: SocketAddr,
    ca: &Ca,
    identity: Option<&Identity>,
) -> std::io::Result<TlsStream<TcpStream>> {
    let connector = TlsConnector::from(Arc::new(client_config(ca, identity)));
    let tcp = TcpStream::connect(addr).await?;
    let name = ServerName::try_from("edge-01").unwrap();
    connector.connect(name, tcp).await
}

pub struct Reply {
    pub status: u16,
    pub headers: hyper::HeaderMap,
    pub body: Vec<u8>,
}

impl Reply {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&self.body)))
    }

    pub fn text(&self) -> String {
        String::from_utf8(self.body.clone()).unwrap()
    }
}

pub async fn send(tls: TlsStream<TcpStream>, method: &str, path: &str, body: &[u8]) -> Reply {
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(tls))
        .await
        .unwrap();
    tokio::spawn(connection);
    let request = Request::builder()
        .method(method)
        .uri(path)
        .header("host", "edge-01")
        .body(Full::new(Bytes::copy_from_slice(body)))
        .unwrap();
    let response = sender.send_request(request).await.unwrap();
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let body = response
        .into_body()
        .collect()
        .await
        .unwrap()
        .to_bytes()
        .to_vec();
    Reply {
        status,
        headers,
        body,
    }
}
