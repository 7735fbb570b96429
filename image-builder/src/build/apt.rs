//! Debian packages fetched with `apt-get download` and unpacked with
//! `dpkg-deb -x` into the cache: never installed on the host, no root needed.

use std::path::{Path, PathBuf};
use std::process::Command;

use super::host::{self, APT_CACHE, APT_GET, DPKG_DEB};
use super::progress::Progress;
use super::{cache, BuildError};

/// One paragraph of `apt-cache show`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PackageInfo {
    pub name: String,
    pub version: String,
    /// The sha256 of the .deb as the archive lists it.
    pub sha256: Option<String>,
    /// The first alternative of each dependency.
    pub depends: Vec<Dependency>,
}

/// A dependency's package name and, when pinned with `(= v)`, its version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dependency {
    pub name: String,
    pub exact_version: Option<String>,
}

/// Asks apt for the candidate version of `name`.
pub fn show(name: &str) -> Result<PackageInfo, BuildError> {
    let apt_cache = host::require(APT_CACHE)?;
    let output = Command::new(apt_cache)
        .args(["show", "--no-all-versions", name])
        .output()
        .map_err(BuildError::io("cannot run apt-cache"))?;
    let text = String::from_utf8_lossy(&output.stdout);
    match parse_show(&text) {
        Some(info) if output.status.success() => Ok(info),
        _ => Err(BuildError::PackageNotFound {
            package: name.to_string(),
        }),
    }
}

/// Parses the first paragraph of `apt-cache show` output.
pub fn parse_show(text: &str) -> Option<PackageInfo> {
    let paragraph = text.split("\n\n").next()?;
    let field = |key: &str| {
        paragraph
            .lines()
            .find_map(|line| line.strip_prefix(key)?.strip_prefix(':'))
            .map(|v| v.trim().to_string())
    };
    let depends = field("Depends")
        .map(|deps| {
            deps.split(',')
                .filter_map(|alt| {
                    // "a (= 1) | b": keep the first alternative.
                    let first = alt.split('|').next().unwrap_or_default().trim();
                    let (name, constraint) = match first.split_once('(') {
                        Some((name, rest)) => (name.trim(), Some(rest.trim_end_matches(')'))),
                        None => (first.split_whitespace().next().unwrap_or_default(), None),
                    };
                    let exact_version = constraint
                        .and_then(|c| c.trim().strip_prefix('='))
                        .map(|v| v.trim().to_string());
                    (!name.is_empty()).then(|| Dependency {
                        name: name.to_string(),
                        exact_version,
                    })
                })
                .collect()
        })
        .unwrap_or_default();
    Some(PackageInfo {
        name: field("Package")?,
        version: field("Version")?,
        sha256: field("SHA256").map(|h| h.to_ascii_lowercase()),
        depends,
    })
}

/// Follows a metapackage (like `linux-image-cloud-amd64`) to the concrete
/// package whose name starts with `prefix` and that ships the files; a
/// concrete name resolves to itself.
pub fn resolve_concrete(name: &str, prefix: &str) -> Result<PackageInfo, BuildError> {
    let mut info = show(name)?;
    for _ in 0..4 {
        let next = info
            .depends
            .iter()
            .find(|dep| dep.name.starts_with(prefix) && dep.name != info.name)
            .cloned();
        match next {
            Some(dep) if is_metapackage(&info.name) => {
                // A pinned concrete package needs no second (slow) apt-cache call.
                info = match dep.exact_version {
                    Some(version) if !is_metapackage(&dep.name) => PackageInfo {
                        name: dep.name,
                        version,
                        sha256: None,
                        depends: Vec::new(),
                    },
                    _ => show(&dep.name)?,
                }
            }
            _ => return Ok(info),
        }
    }
    Err(BuildError::Invalid(format!(
        "package {name} does not lead to a concrete {prefix}* package"
    )))
}

/// Debian's kernel metapackages have no version digits right after the prefix
/// (`linux-image-cloud-amd64`), concrete ones do (`linux-image-6.1.0-56-cloud-amd64`).
fn is_metapackage(name: &str) -> bool {
    let rest = name.strip_prefix("linux-image-").unwrap_or("");
    !rest.starts_with(|c: char| c.is_ascii_digit())
}

/// What the archive lists for exactly `name` `version`; `None` when this
/// machine's package lists do not have that version.
pub fn show_exact(name: &str, version: &str) -> Result<Option<PackageInfo>, BuildError> {
    let apt_cache = host::require(APT_CACHE)?;
    // `apt-cache show name=version` prints nothing for an unknown version
    // (and exits 0); an unknown name exits non-zero: both are "not served".
    let output = Command::new(apt_cache)
        .arg("show")
        .arg(format!("{name}={version}"))
        .output()
        .map_err(BuildError::io("cannot run apt-cache"))?;
    let text = String::from_utf8_lossy(&output.stdout);
    Ok(parse_show(&text).filter(|info| info.name == name && info.version == version))
}

/// Downloads exactly `name` `version` into `dir` and returns the .deb.
pub fn download(name: &str, version: &str, dir: &Path) -> Result<PathBuf, BuildError> {
    let apt_get = host::require(APT_GET)?;
    let spec = format!("{name}={version}");
    host::run(
        Command::new(apt_get)
            .arg("download")
            .arg(&spec)
            .current_dir(dir),
    )
    .map_err(|err| match err {
        BuildError::Command { stderr, .. }
            if stderr.contains("Unable to locate") || stderr.contains("not found") =>
        {
            BuildError::PackageNotFound { package: spec }
        }
        other => other,
    })?;
    find_deb(dir)
}

/// Unpacks `deb` into the cache (unless done) and returns where its files are.
pub fn unpack(
    cache_root: &Path,
    name: &str,
    version: &str,
    deb: &Path,
    progress: &Progress,
) -> Result<PathBuf, BuildError> {
    let root = cache_root.join("unpacked").join(cache::key(name, version));
    cache::fill_once(&root, |dir| {
        let step = progress.step(format!("unpacking {name}"));
        let dpkg_deb = host::require(DPKG_DEB)?;
        host::run(Command::new(dpkg_deb).arg("-x").arg(deb).arg(dir))?;
        step.done("");
        Ok(())
    })?;
    Ok(root)
}

/// The one .deb in a download directory.
pub fn find_deb(dir: &Path) -> Result<PathBuf, BuildError> {
    let entries =
        std::fs::read_dir(dir).map_err(BuildError::io(format!("cannot read {}", dir.display())))?;
    entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .find(|p| p.extension().is_some_and(|e| e == "deb"))
        .ok_or_else(|| {
            BuildError::Invalid(format!(
                "no .deb in {}; remove that directory and build again",
                dir.display()
            ))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    const META: &str = "Package: linux-image-cloud-amd64\nSource: linux-signed-amd64\n\
Version: 6.1.192-2\nDepends: linux-image-6.1.0-56-cloud-amd64 (= 6.1.192-2)\n\
Description: Linux for x86-64 cloud (meta-package)\n\
SHA256: FCD79A9AEE28374B8D1F1B1C0BF3AB0D920ED1A3ECA887C9E6CC57BB7BEE6E5C\n\nPackage: other\nVersion: 1\n";

    #[test]
    fn parses_first_paragraph() {
        let info = parse_show(META).unwrap();
        assert_eq!(info.name, "linux-image-cloud-amd64");
        assert_eq!(info.version, "6.1.192-2");
        assert_eq!(
            info.sha256.as_deref(),
            Some("fcd79a9aee28374b8d1f1b1c0bf3ab0d920ed1a3eca887c9e6cc57bb7bee6e5c")
        );
        assert_eq!(
            info.depends,
            vec![Dependency {
                name: "linux-image-6.1.0-56-cloud-amd64".into(),
                exact_version: Some("6.1.192-2".into()),
            }]
        );
    }

    #[test]
    fn alternatives_keep_the_first_name() {
        let info =
            parse_show("Package: p\nVersion: 1\nDepends: a (>= 2) | b, c [amd64]\n").unwrap();
        let names: Vec<_> = info.depends.iter().map(|d| d.name.as_str()).collect();
        assert_eq!(names, vec!["a", "c"]);
        assert_eq!(info.depends[0].exact_version, None);
    }

    #[test]
    fn metapackage_detection() {
        let meta = parse_show(META).unwrap();
        assert!(is_metapackage(&meta.name));
        assert!(!is_metapackage("linux-image-6.1.0-56-cloud-amd64"));
    }

    #[test]
    fn empty_output_is_not_a_package() {
        assert_eq!(parse_show(""), None);
    }
}
