//! The project's certificates, made with rcgen: a private CA, the
//! operators' client identities and the devices' server identities.
//!
//! Keys are ECDSA P-256 (every TLS stack speaks it, and rcgen makes it
//! without a C library). Validity is counted in whole days from the day
//! before today (UTC), so a clock a little behind still accepts a fresh
//! certificate: the CA for about ten years, an operator for one, a device
//! for as long as the CA that signed it.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyPair, KeyUsagePurpose, SanType,
};

use super::KeysError;

const DAY: u64 = 86_400;
/// A client identity's life.
const CLIENT_DAYS: u64 = 365;
/// The CA's life in years.
const CA_YEARS: i16 = 10;

/// The name every device answers to besides its hostname: what clients
/// check when they reach a device by address.
pub const DEVICE_NAME: &str = "cairn.local";

/// What a client identity may do (its certificate's Organization).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Role {
    Reader,
    Operator,
    Admin,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Reader => "reader",
            Role::Operator => "operator",
            Role::Admin => "admin",
        }
    }
}

/// A certificate and its private key, both PEM.
#[derive(Debug)]
pub struct Made {
    pub cert_pem: String,
    pub key_pem: String,
}

/// The CA, loaded to sign.
pub struct Ca {
    cert: rcgen::Certificate,
    key: KeyPair,
    not_after: time::OffsetDateTime,
}

fn cert_error(what: &str) -> impl FnOnce(rcgen::Error) -> KeysError + '_ {
    move |source| KeysError::Cert {
        what: what.to_owned(),
        source,
    }
}

/// The date `secs` after the epoch, at midnight UTC.
fn day(secs: u64) -> time::OffsetDateTime {
    let at = cairn_logging::record::utc(Duration::from_secs(secs));
    date(at.year(), at.month(), at.day())
}

fn date(year: i16, month: i8, day: i8) -> time::OffsetDateTime {
    let month = u8::try_from(month).unwrap_or(1);
    // 29 February does not come every year; the 28th does.
    let day = u8::try_from(day).unwrap_or(1).min(28);
    rcgen::date_time_ymd(i32::from(year), month, day)
}

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

fn name(common_name: &str, organization: Option<&str>) -> DistinguishedName {
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, common_name);
    if let Some(org) = organization {
        dn.push(DnType::OrganizationName, org);
    }
    dn
}

/// A new CA, valid from yesterday for ten years. `label` tells one
/// project's CA from another's in a certificate viewer.
pub fn make_ca(label: &str) -> Result<Made, KeysError> {
    let key = KeyPair::generate().map_err(cert_error("the CA key"))?;
    let mut params = CertificateParams::default();
    params.distinguished_name = name(&format!("Cairn project CA {label}"), Some("cairn"));
    params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let now = now_secs();
    params.not_before = day(now.saturating_sub(DAY));
    let today = cairn_logging::record::utc(Duration::from_secs(now));
    params.not_after = date(today.year() + CA_YEARS, today.month(), today.day());
    let cert = params
        .self_signed(&key)
        .map_err(cert_error("the CA certificate"))?;
    Ok(Made {
        cert_pem: cert.pem(),
        key_pem: key.serialize_pem(),
    })
}

impl std::fmt::Debug for Ca {
    // The key stays out of every message.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ca")
            .field("not_after", &self.not_after)
            .finish_non_exhaustive()
    }
}

impl Ca {
    /// The CA from its PEM certificate and key.
    pub fn load(cert_pem: &str, key_pem: &str) -> Result<Ca, KeysError> {
        let key = KeyPair::from_pem(key_pem).map_err(cert_error("ca.key"))?;
        let params = CertificateParams::from_ca_cert_pem(cert_pem).map_err(cert_error("ca.crt"))?;
        let not_after = params.not_after;
        // Signing reads only the CA's name, key identifier and key usages
        // from this: a certificate made again from the parsed parameters
        // names the same issuer as ca.crt.
        let cert = params.self_signed(&key).map_err(cert_error("ca.crt"))?;
        if key.public_key_der() != public_key_of(cert_pem)? {
            return Err(KeysError::Mismatch {
                what: "ca.key is not the key of ca.crt".into(),
            });
        }
        Ok(Ca {
            cert,
            key,
            not_after,
        })
    }

    /// An operator's identity: CN = `name`, O = `role`, client auth, a year.
    pub fn issue_client(&self, name: &str, role: Role) -> Result<Made, KeysError> {
        let mut params = CertificateParams::default();
        params.distinguished_name = self::name(name, Some(role.as_str()));
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        let now = now_secs();
        params.not_before = day(now.saturating_sub(DAY));
        params.not_after = day(now + CLIENT_DAYS * DAY).min(self.not_after);
        self.sign(params, name)
    }

    /// A device's identity: CN = `hostname`, DNS names `hostname` and
    /// `cairn.local`, server auth, as long as the CA lives.
    pub fn issue_server(&self, hostname: &str) -> Result<Made, KeysError> {
        let mut params = CertificateParams::default();
        params.distinguished_name = name(hostname, None);
        params.subject_alt_names = [hostname, DEVICE_NAME]
            .iter()
            .map(|n| {
                (*n).to_owned()
                    .try_into()
                    .map(SanType::DnsName)
                    .map_err(cert_error(hostname))
            })
            .collect::<Result<_, _>>()?;
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.not_before = day(now_secs().saturating_sub(DAY));
        params.not_after = self.not_after;
        self.sign(params, hostname)
    }

    fn sign(&self, mut params: CertificateParams, what: &str) -> Result<Made, KeysError> {
        params.use_authority_key_identifier_extension = true;
        let key = KeyPair::generate().map_err(cert_error(what))?;
        let cert = params
            .signed_by(&key, &self.cert, &self.key)
            .map_err(cert_error(what))?;
        Ok(Made {
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
        })
    }
}

/// The SubjectPublicKeyInfo (DER) of a PEM certificate.
pub(crate) fn public_key_of(cert_pem: &str) -> Result<Vec<u8>, KeysError> {
    use rustls::pki_types::pem::PemObject;
    let der =
        rustls::pki_types::CertificateDer::from_pem_slice(cert_pem.as_bytes()).map_err(|_| {
            KeysError::Mismatch {
                what: "ca.crt holds no PEM certificate".into(),
            }
        })?;
    let (_, cert) = x509_parser::parse_x509_certificate(&der).map_err(|_| KeysError::Mismatch {
        what: "ca.crt is not an X.509 certificate".into(),
    })?;
    Ok(cert.tbs_certificate.subject_pki.raw.to_vec())
}
