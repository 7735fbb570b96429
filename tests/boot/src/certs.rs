//! A certificate authority made up for one test, and a TLS server
//! configuration whose certificate it signed, for the TLS syslog collector.

use std::sync::Arc;

use rustls::pki_types::{CertificateDer, PrivateKeyDer};

/// The address a QEMU user-network guest reaches the host at.
pub const HOST_FROM_GUEST: &str = "10.0.2.2";

/// A CA and a server certificate it signed.
#[derive(Debug, Clone)]
pub struct TestCa {
    /// The CA's certificate, PEM: what the manifest's `ca` points at.
    pub ca_pem: String,
    /// A rustls server configuration presenting the signed certificate.
    pub server: Arc<rustls::ServerConfig>,
}

impl TestCa {
    /// A fresh CA, and a server certificate for `name` (an IP address or a
    /// DNS name) signed by it.
    pub fn for_server(name: &str) -> TestCa {
        let fail = |e: &dyn std::fmt::Display| -> ! { panic!("making a test certificate: {e}") };
        let ca_key = rcgen::KeyPair::generate().unwrap_or_else(|e| fail(&e));
        let mut ca_params =
            rcgen::CertificateParams::new(Vec::<String>::new()).unwrap_or_else(|e| fail(&e));
        ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        ca_params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "cairn boot test CA");
        let ca = ca_params.self_signed(&ca_key).unwrap_or_else(|e| fail(&e));

        let key = rcgen::KeyPair::generate().unwrap_or_else(|e| fail(&e));
        let params =
            rcgen::CertificateParams::new(vec![name.to_string()]).unwrap_or_else(|e| fail(&e));
        let cert = params
            .signed_by(&key, &ca, &ca_key)
            .unwrap_or_else(|e| fail(&e));

        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let server = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap_or_else(|e| fail(&e))
            .with_no_client_auth()
            .with_single_cert(
                vec![CertificateDer::from(cert.der().to_vec())],
                PrivateKeyDer::Pkcs8(key.serialize_der().into()),
            )
            .unwrap_or_else(|e| fail(&e));
        TestCa {
            ca_pem: ca.pem(),
            server: Arc::new(server),
        }
    }
}
