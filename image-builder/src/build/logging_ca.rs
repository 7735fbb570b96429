//! The CA file of each `syslog+tls` remote: found on the building host (its
//! `ca`, relative to the manifest, or the host's CA bundle when `ca` is not
//! written), checked to hold a certificate PID 1 can use, and copied into
//! the bank at `/cairn/logging/ca/<n>.pem`, where PID 1 looks for remote
//! number `n`. The bank's inventory lists it like every other file.

use std::path::{Path, PathBuf};

use cairn_layout::bank;
use cairn_logging::tls::roots_from_pem;
use cairn_manifest::{Diagnostic, Manifest, SyslogTransport};

use super::fsutil::{copy_file, under};
use super::BuildError;

/// Where Debian and its derivatives keep the system's CA bundle: the CA a
/// `syslog+tls` remote without `ca` trusts.
pub const HOST_BUNDLE: &str = "/etc/ssl/certs/ca-certificates.crt";

/// What a `ca` file is, for help lines.
const WHAT: &str = "a PEM file of the CA certificates that sign the collector's certificate";

/// One TLS remote's CA file on the building host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CaFile {
    /// The remote's index in `[[logging.remote]]`, from 0.
    pub index: usize,
    /// The file on the building host.
    pub source: PathBuf,
    /// True when `ca` was not written and the host's bundle is used.
    pub host_bundle: bool,
}

/// The CA file of every `syslog+tls` remote, each checked; `host_bundle` is
/// the default for a remote without `ca`. Problems are located at the
/// remote's `ca`, or at its `url` when `ca` was not written.
pub fn resolve(
    manifest: &Manifest,
    manifest_dir: &Path,
    host_bundle: &Path,
) -> (Vec<CaFile>, Vec<Diagnostic>) {
    let mut files = Vec::new();
    let mut found = Vec::new();
    for (index, remote) in manifest.logging.remote.iter().enumerate() {
        if remote.transport != SyslogTransport::Tls {
            continue;
        }
        let checked = match &remote.ca {
            Some(ca) => check_written(manifest, index, ca, manifest_dir),
            None => check_default(manifest, index, host_bundle),
        };
        match checked {
            Ok(file) => files.push(file),
            Err(diagnostic) => found.push(diagnostic),
        }
    }
    (files, found)
}

fn check_written(
    manifest: &Manifest,
    index: usize,
    ca: &Path,
    manifest_dir: &Path,
) -> Result<CaFile, Diagnostic> {
    let key = format!("logging.remote.{index}.ca");
    let source = manifest_dir.join(ca);
    let help = format!("`ca` is the host path, relative to the manifest, of {WHAT}");
    let blame = |message: String| manifest.diagnostic_at(&key, &message, Some(&help));
    let pem = match std::fs::read(&source) {
        Ok(pem) => pem,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => {
            return Err(blame(format!(
                "CA file `{}` does not exist (looked for {})",
                ca.display(),
                source.display()
            )))
        }
        Err(err) => {
            return Err(blame(format!(
                "cannot read CA file `{}` ({}): {err}",
                ca.display(),
                source.display()
            )))
        }
    };
    roots_from_pem(&pem)
        .map_err(|err| blame(format!("CA file `{}` cannot be used: {err}", ca.display())))?;
    Ok(CaFile {
        index,
        source,
        host_bundle: false,
    })
}

fn check_default(
    manifest: &Manifest,
    index: usize,
    host_bundle: &Path,
) -> Result<CaFile, Diagnostic> {
    let key = format!("logging.remote.{index}.url");
    let help = format!(
        "add ca = \"path/to/ca.pem\" to this [[logging.remote]], {WHAT}; for a collector \
         whose certificate comes from a public CA, `apt-get install ca-certificates` provides \
         the default"
    );
    let blame = |message: String| manifest.diagnostic_at(&key, &message, Some(&help));
    let pem = std::fs::read(host_bundle).map_err(|err| {
        blame(if err.kind() == std::io::ErrorKind::NotFound {
            format!(
                "syslog+tls needs a CA to check the collector's certificate: this remote has \
                 no `ca`, and the build host has no CA bundle at {}",
                host_bundle.display()
            )
        } else {
            format!(
                "this remote has no `ca`, and the build host's CA bundle {} cannot be read: \
                 {err}",
                host_bundle.display()
            )
        })
    })?;
    roots_from_pem(&pem).map_err(|err| {
        blame(format!(
            "this remote has no `ca`, and the build host's CA bundle {} cannot be used: {err}",
            host_bundle.display()
        ))
    })?;
    Ok(CaFile {
        index,
        source: host_bundle.to_path_buf(),
        host_bundle: true,
    })
}

/// Where remote `index`'s CA file goes in a staged bank.
pub fn bank_path(stage: &Path, index: usize) -> PathBuf {
    under(stage, &Path::new("/").join(bank::logging_ca(index)))
}

/// Copies each CA file into the staged bank, readable by all (it holds
/// only public certificates).
pub fn stage(stage: &Path, files: &[CaFile]) -> Result<(), BuildError> {
    for file in files {
        copy_file(&file.source, &bank_path(stage, file.index), Some(0o644))?;
    }
    Ok(())
}

#[cfg(test)]
#[path = "logging_ca_tests.rs"]
mod tests;
