//! A CA, the device's server certificate and client certificates per role,
//! made fresh for each test.

use std::fs;
use std::path::Path;

use rcgen::{
    BasicConstraints, Certificate, CertificateParams, DistinguishedName, DnType,
    ExtendedKeyUsagePurpose, IsCa, KeyPair, KeyUsagePurpose,
};

pub struct Ca {
    pub cert: Certificate,
    pub key: KeyPair,
}

pub struct Identity {
    pub cert_pem: String,
    pub key_pem: String,
}

impl Ca {
    pub fn new(name: &str) -> Ca {
        let mut params = CertificateParams::default();
        params.distinguished_name = DistinguishedName::new();
        params.distinguished_name.push(DnType::CommonName, name);
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let key = KeyPair::generate().unwrap();
        let cert = params.self_signed(&key).unwrap();
        Ca { cert, key }
    }

    pub fn pem(&self) -> String {
        self.cert.pem()
    }

    pub fn server(&self) -> Identity {
        let mut params =
            CertificateParams::new(vec!["edge-01".to_string(), "cairn.local".to_string()]).unwrap();
        params.distinguished_name = DistinguishedName::new();
        params
            .distinguished_name
            .push(DnType::CommonName, "edge-01");
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        self.sign(params)
    }

    /// A client: CN `name`, O `role` (none when `None`).
    pub fn client(&self, name: &str, role: Option<&str>) -> Identity {
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.distinguished_name = DistinguishedName::new();
        params.distinguished_name.push(DnType::CommonName, name);
        if let Some(role) = role {
            params
                .distinguished_name
                .push(DnType::OrganizationName, role);
        }
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        self.sign(params)
    }

    fn sign(&self, params: CertificateParams) -> Identity {
        let key = KeyPair::generate().unwrap();
        let cert = params.signed_by(&key, &self.cert, &self.key).unwrap();
        Identity {
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
        }
    }
}

/// Writes `ca.crt`, `server.crt` and `server.key` into `dir`.
pub fn install(dir: &Path, ca: &Ca) {
    fs::create_dir_all(dir).unwrap();
    let server = ca.server();
    fs::write(dir.join("ca.crt"), ca.pem()).unwrap();
    fs::write(dir.join("server.crt"), server.cert_pem).unwrap();
    fs::write(dir.join("server.key"), server.key_pem).unwrap();
}
