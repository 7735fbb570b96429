//! TLS for remote syslog: rustls with the ring provider, trusting only the
//! CA bundle shipped in the image.

use std::io;
use std::path::Path;
use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};

/// Where the image carries the CA bundle that signs log collectors'
/// certificates.
pub const DEFAULT_CA: &str = "/bank/cairn/logging/ca.pem";

/// A client configuration trusting the certificates in the PEM file `ca`.
pub fn client_config(ca: &Path) -> io::Result<Arc<rustls::ClientConfig>> {
    let pem = std::fs::read(ca)
        .map_err(|e| io::Error::new(e.kind(), format!("CA bundle {}: {e}", ca.display())))?;
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(&pem) {
        let cert =
            cert.map_err(|e| io::Error::other(format!("CA bundle {}: {e}", ca.display())))?;
        roots.add(cert).map_err(io::Error::other)?;
    }
    if roots.is_empty() {
        return Err(io::Error::other(format!(
            "CA bundle {} holds no certificate",
            ca.display()
        )));
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(io::Error::other)?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(config))
}

/// The name the collector's certificate must carry: an IP address or a
/// DNS name.
pub fn server_name(host: &str) -> io::Result<ServerName<'static>> {
    ServerName::try_from(host.to_string()).map_err(io::Error::other)
}
