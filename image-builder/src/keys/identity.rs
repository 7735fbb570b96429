//! Each device's own server identity, made once per hostname and kept in
//! `.cairn/identities/<hostname>/`.
//!
//! Kept rather than derived: an ECDSA signature (the CA's, over the
//! device's certificate) is randomised, so a certificate made again would
//! differ in its bytes, and so would the image. Keeping the first one made
//! gives the same data partition from the same `.cairn/` at every build,
//! and lets `cairn provision` give a re-flashed device the identity it had.
//! A kept identity is checked at every use: it must chain to the project's
//! CA, name the hostname, be in date and match its key.

use std::path::PathBuf;
use std::sync::Arc;

use rustls::client::danger::ServerCertVerifier;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};

use super::{files, KeysError, ProjectKeys};

const CERT: &str = "server.crt";
const KEY: &str = "server.key";

/// A device's certificate and private key, PEM.
pub struct DeviceIdentity {
    pub hostname: String,
    pub cert_pem: String,
    pub key_pem: String,
}

impl std::fmt::Debug for DeviceIdentity {
    // The key stays out of every message.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DeviceIdentity")
            .field("hostname", &self.hostname)
            .finish_non_exhaustive()
    }
}

impl ProjectKeys {
    /// Where the identity of `hostname` is kept.
    pub fn device_dir(&self, hostname: &str) -> PathBuf {
        self.identities_dir().join(hostname)
    }

    /// The identity of device `hostname`: the one kept, checked, or a new
    /// one signed by the CA and kept. Returns whether it was made now.
    pub fn device_identity(&self, hostname: &str) -> Result<(DeviceIdentity, bool), KeysError> {
        check_hostname(hostname)?;
        let dir = self.device_dir(hostname);
        let (cert_path, key_path) = (dir.join(CERT), dir.join(KEY));
        if cert_path.exists() || key_path.exists() {
            let identity = DeviceIdentity {
                hostname: hostname.to_owned(),
                cert_pem: files::read_text(&cert_path)?,
                key_pem: files::read_private(&key_path)?,
            };
            self.check(&identity)
                .map_err(|problem| KeysError::Mismatch {
                    what: format!(
                    "the kept identity in {} {problem}; remove that directory to make a new one",
                    dir.display()
                ),
                })?;
            return Ok((identity, false));
        }
        let made = self.ca()?.issue_server(hostname)?;
        files::make_dir(&dir)?;
        files::write_new(&key_path, made.key_pem.as_bytes(), files::PRIVATE_MODE)?;
        files::write_new(&cert_path, made.cert_pem.as_bytes(), files::PUBLIC_MODE)?;
        Ok((
            DeviceIdentity {
                hostname: hostname.to_owned(),
                cert_pem: made.cert_pem,
                key_pem: made.key_pem,
            },
            true,
        ))
    }

    /// Why `identity` is not one a client of this project accepts.
    fn check(&self, identity: &DeviceIdentity) -> Result<(), String> {
        let ca = self.ca_pem().map_err(|e| e.to_string())?;
        verify_server_cert(&ca, &identity.cert_pem, &identity.hostname)?;
        let key = rcgen::KeyPair::from_pem(&identity.key_pem)
            .map_err(|e| format!("has an unreadable {KEY} ({e})"))?;
        let cert_key = super::certs::public_key_of(&identity.cert_pem)
            .map_err(|_| format!("has an unreadable {CERT}"))?;
        if key.public_key_der() != cert_key {
            return Err(format!("has a {KEY} that is not the key of its {CERT}"));
        }
        Ok(())
    }
}

/// Checks that `cert_pem` chains to `ca_pem`, names `name`, allows server
/// authentication and is in date: what a client checks in the handshake.
pub fn verify_server_cert(ca_pem: &str, cert_pem: &str, name: &str) -> Result<(), String> {
    let ca = CertificateDer::from_pem_slice(ca_pem.as_bytes())
        .map_err(|_| "has no CA certificate to check against".to_owned())?;
    let cert = CertificateDer::from_pem_slice(cert_pem.as_bytes())
        .map_err(|_| format!("has an unreadable {CERT}"))?;
    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(ca)
        .map_err(|e| format!("cannot use the CA certificate ({e})"))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let verifier =
        rustls::client::WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider)
            .build()
            .map_err(|e| format!("cannot check certificates ({e})"))?;
    let server_name = ServerName::try_from(name.to_owned())
        .map_err(|_| format!("names {name:?}, which is not a DNS name"))?;
    verifier
        .verify_server_cert(&cert, &[], &server_name, &[], UnixTime::now())
        .map(drop)
        .map_err(|e| format!("is not valid for {name} under the project's CA ({e})"))
}

/// A hostname the certificate can name and the cache can file: DNS labels
/// of a-z 0-9 and inner `-`.
pub fn check_hostname(hostname: &str) -> Result<(), KeysError> {
    let label_ok = |l: &str| {
        (1..=63).contains(&l.len())
            && l.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
            && !l.starts_with('-')
            && !l.ends_with('-')
    };
    if hostname.len() <= 253 && hostname.split('.').all(label_ok) {
        Ok(())
    } else {
        Err(KeysError::Mismatch {
            what: format!(
                "{hostname:?} is not a hostname: use labels of a-z, 0-9 and inner '-', \
                 separated by dots"
            ),
        })
    }
}
