//! The identity a client talks with: the project's CA certificate (the
//! only authority it trusts for a device) and one client certificate and
//! key (`admin.*` unless `--as NAME`), from a directory found as
//! `crate::discover` says.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

use super::RemoteError;
use crate::keys::{ProjectKeys, CA_CERT};

/// A loaded client identity, ready for TLS.
#[derive(Debug, Clone)]
pub struct Identity {
    pub dir: PathBuf,
    pub name: String,
    pub config: Arc<rustls::ClientConfig>,
}

impl Identity {
    /// Loads `NAME.crt`, `NAME.key` and `ca.crt` from `dir`.
    pub fn load(dir: &Path, name: &str) -> Result<Identity, RemoteError> {
        let keys = ProjectKeys::at(dir);
        let bad = |path: PathBuf, reason: String| RemoteError::Identity { path, reason };
        let ca_path = keys.ca_cert();
        let ca = CertificateDer::from_pem_file(&ca_path).map_err(|e| {
            bad(
                ca_path.clone(),
                format!("cannot read the project's CA certificate ({e})"),
            )
        })?;
        let cert_path = keys.identity_cert(name);
        let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(&cert_path)
            .and_then(|certs| certs.collect::<Result<_, _>>())
            .map_err(|e| {
                bad(
                    cert_path.clone(),
                    format!("cannot read identity {name}'s certificate ({e}); make one with `cairn keys issue --name {name} --role ...`"),
                )
            })?;
        if chain.is_empty() {
            return Err(bad(cert_path, "holds no certificate".into()));
        }
        let key_path = keys.identity_key(name);
        // Refused when others may read it: a leaked key must be replaced.
        let key_pem = crate::keys::read_private_file(&key_path)
            .map_err(|e| bad(key_path.clone(), e.to_string()))?;
        let key = PrivateKeyDer::from_pem_slice(key_pem.as_bytes())
            .map_err(|e| bad(key_path.clone(), format!("holds no private key ({e})")))?;

        let mut roots = rustls::RootCertStore::empty();
        roots
            .add(ca)
            .map_err(|e| bad(ca_path.clone(), format!("is not a usable CA ({e})")))?;
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| bad(dir.to_path_buf(), e.to_string()))?
            .with_root_certificates(roots)
            .with_client_auth_cert(chain, key)
            .map_err(|e| {
                bad(
                    key_path.clone(),
                    format!("does not go with {} ({e})", cert_path.display()),
                )
            })?;
        Ok(Identity {
            dir: dir.to_path_buf(),
            name: name.to_owned(),
            config: Arc::new(config),
        })
    }
}

/// The file a client identity directory must hold.
pub const NEEDS: &str = CA_CERT;
