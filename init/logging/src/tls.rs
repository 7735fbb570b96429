//! TLS for remote syslog: rustls with the ring provider, trusting only the
//! CA file the image carries for each `[[logging.remote]]`.

use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use cairn_layout::bank;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};

/// The CA file PID 1 hands to the logger for `[[logging.remote]]` number
/// `index` (from 0, in manifest order), in the mounted bank, where the
/// builder placed it.
pub fn bank_ca(index: usize) -> PathBuf {
    PathBuf::from(bank::booted(&bank::logging_ca(index)))
}

/// Why a CA file cannot be trusted.
#[derive(Debug, thiserror::Error)]
pub enum CaError {
    #[error("a PEM section is broken: {0}")]
    Pem(String),
    #[error("it holds no PEM certificate (`-----BEGIN CERTIFICATE-----`)")]
    Empty,
    #[error("none of its {0} certificates can be used as a CA")]
    Unusable(usize),
}

/// The trust anchors in the text of a PEM file: every `CERTIFICATE`
/// section webpki accepts (others, such as a key, are ignored). The builder
/// checks each `ca` file with this very function, so a file PID 1 could not
/// use fails the build rather than the boot.
pub fn roots_from_pem(pem: &[u8]) -> Result<rustls::RootCertStore, CaError> {
    let mut certs = Vec::new();
    for cert in CertificateDer::pem_slice_iter(pem) {
        certs.push(cert.map_err(|e| CaError::Pem(e.to_string()))?);
    }
    if certs.is_empty() {
        return Err(CaError::Empty);
    }
    let found = certs.len();
    let mut roots = rustls::RootCertStore::empty();
    // One odd certificate in a large bundle (a system's, say) should not
    // make the others useless.
    roots.add_parsable_certificates(certs);
    if roots.is_empty() {
        return Err(CaError::Unusable(found));
    }
    Ok(roots)
}

/// A client configuration trusting the certificates in the PEM file `ca`.
pub fn client_config(ca: &Path) -> io::Result<Arc<rustls::ClientConfig>> {
    let pem = std::fs::read(ca)
        .map_err(|e| io::Error::new(e.kind(), format!("CA bundle {}: {e}", ca.display())))?;
    let roots = roots_from_pem(&pem)
        .map_err(|e| io::Error::other(format!("CA bundle {}: {e}", ca.display())))?;
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

#[cfg(test)]
mod tests {
    use super::*;

    fn pem_section(body: &str) -> String {
        format!("-----BEGIN CERTIFICATE-----\n{body}\n-----END CERTIFICATE-----\n")
    }

    #[test]
    fn a_ca_file_must_hold_a_usable_certificate() {
        let key = rcgen::KeyPair::generate().unwrap();
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        let ca = params.self_signed(&key).unwrap();
        // Text around the sections and other kinds of section are ignored.
        let file = format!("# our collectors\n{}{}", key.serialize_pem(), ca.pem());
        assert_eq!(roots_from_pem(file.as_bytes()).unwrap().len(), 1);

        assert!(matches!(roots_from_pem(b""), Err(CaError::Empty)));
        assert!(matches!(
            roots_from_pem(key.serialize_pem().as_bytes()),
            Err(CaError::Empty)
        ));
        // Well-formed PEM around bytes that are no certificate.
        let junk = pem_section("AAAA");
        assert!(matches!(
            roots_from_pem(junk.as_bytes()),
            Err(CaError::Unusable(1))
        ));
        // One unusable certificate does not spoil the others.
        let mixed = format!("{junk}{}", ca.pem());
        assert_eq!(roots_from_pem(mixed.as_bytes()).unwrap().len(), 1);
        let broken = pem_section("not base64 at all!");
        let err = roots_from_pem(broken.as_bytes()).unwrap_err();
        assert!(matches!(err, CaError::Pem(_)), "{err}");
    }

    #[test]
    fn each_remote_has_its_own_file_in_the_bank() {
        let in_bank = |n: usize| PathBuf::from(bank::booted(&bank::logging_ca(n)));
        assert_eq!(bank_ca(0), in_bank(0));
        assert_eq!(bank_ca(3), in_bank(3));
        assert_ne!(bank_ca(0), bank_ca(3));
    }
}
