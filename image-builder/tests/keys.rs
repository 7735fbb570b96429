//! `cairn keys init` and `cairn keys issue`: the files, their modes, what
//! git keeps out, refusing to overwrite, and certificates that say who and
//! what they are and chain to the project's CA.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Output};
use std::sync::Arc;

use cairn_image_builder::keys::{ProjectKeys, DEVICE_NAME};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, UnixTime};
use x509_parser::extensions::ParsedExtension;
use x509_parser::prelude::*;

fn cairn(args: &[&str], cwd: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_cairn"))
        .args(args)
        .current_dir(cwd)
        .output()
        .unwrap()
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

fn der(path: &Path) -> CertificateDer<'static> {
    CertificateDer::from_pem_file(path).unwrap()
}

/// (CN, O, client auth, server auth, DNS names) of a certificate.
fn fields(path: &Path) -> (String, Option<String>, bool, bool, Vec<String>) {
    let der = der(path);
    let (_, cert) = X509Certificate::from_der(&der).unwrap();
    let subject = cert.subject();
    let cn = subject
        .iter_common_name()
        .next()
        .unwrap()
        .as_str()
        .unwrap()
        .to_owned();
    let o = subject
        .iter_organization()
        .next()
        .map(|o| o.as_str().unwrap().to_owned());
    let (mut client, mut server, mut names) = (false, false, Vec::new());
    for ext in cert.extensions() {
        match ext.parsed_extension() {
            ParsedExtension::ExtendedKeyUsage(eku) => {
                client = eku.client_auth;
                server = eku.server_auth;
            }
            ParsedExtension::SubjectAlternativeName(san) => {
                for name in &san.general_names {
                    if let GeneralName::DNSName(n) = name {
                        names.push((*n).to_owned());
                    }
                }
            }
            _ => {}
        }
    }
    (cn, o, client, server, names)
}

fn roots(ca: &Path) -> Arc<rustls::RootCertStore> {
    let mut roots = rustls::RootCertStore::empty();
    roots.add(der(ca)).unwrap();
    Arc::new(roots)
}

/// What a control API server checks of a client certificate.
fn client_chains(ca: &Path, cert: &Path) -> Result<(), rustls::Error> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(roots(ca), provider)
        .build()
        .unwrap();
    verifier
        .verify_client_cert(&der(cert), &[], UnixTime::now())
        .map(drop)
}

#[test]
fn init_makes_every_file_with_its_mode_and_keeps_keys_out_of_git() {
    let dir = tempfile::tempdir().unwrap();
    let out = cairn(&["keys", "init"], dir.path());
    assert!(out.status.success(), "{out:?}");
    let keys = dir.path().join(".cairn");
    for (file, expected) in [
        ("update.key", 0o600),
        ("update.pub", 0o644),
        ("ca.key", 0o600),
        ("ca.crt", 0o644),
        ("admin.key", 0o600),
        ("admin.crt", 0o644),
    ] {
        assert_eq!(mode(&keys.join(file)), expected, "{file}");
    }
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("admin.crt"), "{stdout}");
    assert!(!stdout.contains("PRIVATE KEY"), "{stdout}");

    // git, asked as it would be: keys ignored, everything else kept.
    let git = |args: &[&str]| {
        Command::new("git")
            .args(args)
            .current_dir(dir.path())
            .output()
            .unwrap()
    };
    assert!(git(&["init", "-q"]).status.success());
    for ignored in [
        "update.key",
        "ca.key",
        "admin.key",
        "identities/edge/server.key",
    ] {
        let out = git(&["check-ignore", "-q", &format!(".cairn/{ignored}")]);
        assert!(out.status.success(), "{ignored} is not ignored");
    }
    for kept in ["update.pub", "ca.crt", "admin.crt", "builds", ".gitignore"] {
        let out = git(&["check-ignore", "-q", &format!(".cairn/{kept}")]);
        assert!(!out.status.success(), "{kept} is ignored");
    }

    // The admin identity: CN admin, O admin, client auth, signed by the CA.
    let (cn, o, client, server, _) = fields(&keys.join("admin.crt"));
    assert_eq!((cn.as_str(), o.as_deref()), ("admin", Some("admin")));
    assert!(client && !server);
    client_chains(&keys.join("ca.crt"), &keys.join("admin.crt")).unwrap();
    let (ca_cn, _, _, _, _) = fields(&keys.join("ca.crt"));
    assert!(ca_cn.starts_with("Cairn project CA "), "{ca_cn}");
    let (_, ca) = X509Certificate::from_der(&der(&keys.join("ca.crt")))
        .map(|(r, c)| (r.len(), c.is_ca()))
        .unwrap();
    assert!(ca);
}

#[test]
fn init_refuses_to_overwrite() {
    let dir = tempfile::tempdir().unwrap();
    assert!(cairn(&["keys", "init", "--dir", "k"], dir.path())
        .status
        .success());
    let before = std::fs::read(dir.path().join("k/ca.key")).unwrap();
    let again = cairn(&["keys", "init", "--dir", "k"], dir.path());
    assert_eq!(again.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&again.stderr);
    assert!(stderr.contains("already exists"), "{stderr}");
    assert_eq!(std::fs::read(dir.path().join("k/ca.key")).unwrap(), before);
}

#[test]
fn issue_writes_an_identity_with_its_role_signed_by_the_ca() {
    let dir = tempfile::tempdir().unwrap();
    assert!(cairn(&["keys", "init"], dir.path()).status.success());
    let out = cairn(
        &["keys", "issue", "--role", "operator", "--name", "ci"],
        dir.path(),
    );
    assert!(out.status.success(), "{out:?}");
    let keys = dir.path().join(".cairn");
    assert_eq!(mode(&keys.join("ci.key")), 0o600);
    let (cn, o, client, _, _) = fields(&keys.join("ci.crt"));
    assert_eq!(
        (cn.as_str(), o.as_deref(), client),
        ("ci", Some("operator"), true)
    );
    client_chains(&keys.join("ca.crt"), &keys.join("ci.crt")).unwrap();

    let again = cairn(
        &["keys", "issue", "--role", "reader", "--name", "ci"],
        dir.path(),
    );
    assert_eq!(again.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&again.stderr).contains("already exists"));
    let bad = cairn(
        &["keys", "issue", "--role", "reader", "--name", "ca"],
        dir.path(),
    );
    assert!(String::from_utf8_lossy(&bad.stderr).contains("not an identity name"));

    // Another project's CA does not vouch for it.
    let other = tempfile::tempdir().unwrap();
    assert!(cairn(&["keys", "init"], other.path()).status.success());
    assert!(client_chains(&other.path().join(".cairn/ca.crt"), &keys.join("ci.crt")).is_err());
}

#[test]
fn issue_without_keys_says_how_to_make_them() {
    let dir = tempfile::tempdir().unwrap();
    let out = cairn(
        &["keys", "issue", "--role", "reader", "--name", "x"],
        dir.path(),
    );
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("cairn keys init"), "{stderr}");
}

#[test]
fn a_device_identity_is_made_once_and_kept() {
    let dir = tempfile::tempdir().unwrap();
    let keys = ProjectKeys::at(dir.path().join(".cairn"));
    assert!(keys.ensure().unwrap(), "made now");
    assert!(!keys.ensure().unwrap(), "opened");
    let (first, made) = keys.device_identity("edge-01").unwrap();
    assert!(made);
    let (second, made) = keys.device_identity("edge-01").unwrap();
    assert!(!made);
    assert_eq!(first.cert_pem, second.cert_pem);
    assert_eq!(first.key_pem, second.key_pem);
    let kept = keys.device_dir("edge-01");
    assert_eq!(mode(&kept.join("server.key")), 0o600);
    let (cn, _, client, server, names) = fields(&kept.join("server.crt"));
    assert_eq!(cn, "edge-01");
    assert!(server && !client);
    assert_eq!(names, ["edge-01", DEVICE_NAME]);

    // A kept identity from another CA is refused, with the way out.
    let other = ProjectKeys::at(dir.path().join("other"));
    other.ensure().unwrap();
    std::fs::create_dir_all(other.identities_dir()).unwrap();
    let copy = other.device_dir("edge-01");
    std::fs::create_dir_all(&copy).unwrap();
    for file in ["server.crt", "server.key"] {
        std::fs::copy(kept.join(file), copy.join(file)).unwrap();
    }
    let err = other.device_identity("edge-01").unwrap_err().to_string();
    assert!(err.contains("remove that directory"), "{err}");
    assert!(keys.device_identity("Bad_Name").is_err());
}

#[test]
fn a_half_made_directory_is_refused_not_refilled() {
    let dir = tempfile::tempdir().unwrap();
    let keys = ProjectKeys::at(dir.path().join(".cairn"));
    keys.ensure().unwrap();
    std::fs::remove_file(keys.ca_key()).unwrap();
    let err = keys.ensure().unwrap_err().to_string();
    assert!(err.contains("ca.key missing"), "{err}");
    assert!(!keys.ca_key().exists());
}
