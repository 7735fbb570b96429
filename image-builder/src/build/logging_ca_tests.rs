use std::os::unix::fs::PermissionsExt;

use super::*;

fn ca_pem() -> String {
    let key = rcgen::KeyPair::generate().unwrap();
    let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    params.self_signed(&key).unwrap().pem()
}

/// `manifest` parsed as `<dir>/system.toml`.
fn parse(dir: &Path, manifest: &str) -> Manifest {
    cairn_manifest::parse(manifest, &dir.join("system.toml")).unwrap()
}

/// Each diagnostic as `line:column: message`.
fn located(found: &[Diagnostic]) -> Vec<String> {
    found
        .iter()
        .map(|d| format!("{}:{}: {}", d.line, d.column, d.message))
        .collect()
}

const TWO_REMOTES: &str = "version = 1\n\
    [[logging.remote]]\nurl = \"syslog+udp://10.0.0.5\"\n\
    [[logging.remote]]\nurl = \"syslog+tls://logs.example.net\"\nca = \"certs/logs-ca.pem\"\n";

#[test]
fn a_written_ca_is_checked_and_staged_by_the_remotes_index() {
    let dir = tempfile::tempdir().unwrap();
    let pem = ca_pem();
    std::fs::create_dir_all(dir.path().join("certs")).unwrap();
    std::fs::write(dir.path().join("certs/logs-ca.pem"), &pem).unwrap();
    let manifest = parse(dir.path(), TWO_REMOTES);
    let (files, found) = resolve(&manifest, dir.path(), Path::new("/nonexistent/bundle"));
    assert!(found.is_empty(), "{found:?}");
    assert_eq!(
        files,
        [CaFile {
            index: 1,
            source: dir.path().join("certs/logs-ca.pem"),
            host_bundle: false,
        }]
    );

    let staged = dir.path().join("stage");
    stage(&staged, &files).unwrap();
    let placed = staged.join(cairn_layout::bank::logging_ca(1));
    assert_eq!(std::fs::read_to_string(&placed).unwrap(), pem);
    let mode = std::fs::metadata(&placed).unwrap().permissions().mode() & 0o7777;
    assert_eq!(mode, 0o644);
    // Only the TLS remote has a file.
    let names: Vec<_> = std::fs::read_dir(staged.join(cairn_layout::bank::LOGGING_CA_DIR))
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names, ["1.pem"]);
}

#[test]
fn a_missing_or_useless_ca_file_is_an_error_at_its_key() {
    let dir = tempfile::tempdir().unwrap();
    let manifest = parse(dir.path(), TWO_REMOTES);
    let (files, found) = resolve(&manifest, dir.path(), Path::new("/nonexistent/bundle"));
    assert!(files.is_empty());
    assert_eq!(
        located(&found),
        [format!(
            "6:6: CA file `certs/logs-ca.pem` does not exist (looked for {})",
            dir.path().join("certs/logs-ca.pem").display()
        )]
    );
    assert_eq!(
        found[0].help.as_deref(),
        Some(
            "`ca` is the host path, relative to the manifest, of a PEM file of the CA \
             certificates that sign the collector's certificate"
        )
    );

    // A key where certificates should be: no certificate at all.
    std::fs::create_dir_all(dir.path().join("certs")).unwrap();
    let key = rcgen::KeyPair::generate().unwrap().serialize_pem();
    std::fs::write(dir.path().join("certs/logs-ca.pem"), key).unwrap();
    let (_, found) = resolve(&manifest, dir.path(), Path::new("/nonexistent/bundle"));
    assert_eq!(
        located(&found),
        [
            "6:6: CA file `certs/logs-ca.pem` cannot be used: it holds no PEM certificate \
          (`-----BEGIN CERTIFICATE-----`)"
        ]
    );
}

#[test]
fn without_ca_the_hosts_bundle_is_trusted_when_there_is_one() {
    let dir = tempfile::tempdir().unwrap();
    let manifest = parse(
        dir.path(),
        "version = 1\n[[logging.remote]]\nurl = \"syslog+tls://logs.example.net\"\n",
    );
    let bundle = dir.path().join("ca-certificates.crt");
    std::fs::write(&bundle, format!("{}{}", ca_pem(), ca_pem())).unwrap();
    let (files, found) = resolve(&manifest, dir.path(), &bundle);
    assert!(found.is_empty(), "{found:?}");
    assert_eq!(
        files,
        [CaFile {
            index: 0,
            source: bundle.clone(),
            host_bundle: true,
        }]
    );

    // No bundle on the host: the URL is blamed, and the help says what to do.
    let missing = dir.path().join("no-such-bundle.crt");
    let (files, found) = resolve(&manifest, dir.path(), &missing);
    assert!(files.is_empty());
    assert_eq!(
        located(&found),
        [format!(
            "3:7: syslog+tls needs a CA to check the collector's certificate: this remote has \
             no `ca`, and the build host has no CA bundle at {}",
            missing.display()
        )]
    );
    let help = found[0].help.clone().unwrap_or_default();
    assert!(
        help.starts_with("add ca = \"path/to/ca.pem\" to this [[logging.remote]]"),
        "{help}"
    );

    // A bundle with nothing PID 1 could use is no better.
    std::fs::write(&bundle, "").unwrap();
    let (_, found) = resolve(&manifest, dir.path(), &bundle);
    assert_eq!(
        located(&found),
        [format!(
            "3:7: this remote has no `ca`, and the build host's CA bundle {} cannot be used: \
             it holds no PEM certificate (`-----BEGIN CERTIFICATE-----`)",
            bundle.display()
        )]
    );
}

#[test]
fn the_hosts_own_bundle_is_usable() {
    // The real default, as Debian and its derivatives have it.
    let bundle = Path::new(HOST_BUNDLE);
    assert!(
        bundle.exists(),
        "{HOST_BUNDLE} is not on this host: apt-get install ca-certificates (scripts/test does)"
    );
    let pem = std::fs::read(bundle).unwrap();
    assert!(roots_from_pem(&pem).unwrap().len() > 10);
}
