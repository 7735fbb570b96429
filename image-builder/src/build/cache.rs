//! The download and unpack cache shared by every build on this host.

use std::path::{Path, PathBuf};

use super::BuildError;

/// `explicit`, else `CAIRN_CACHE`, else `$XDG_CACHE_HOME/cairn`, else `~/.cache/cairn`.
pub fn cache_dir(explicit: Option<&Path>) -> Result<PathBuf, BuildError> {
    if let Some(dir) = explicit {
        return Ok(dir.to_path_buf());
    }
    let env = |name: &str| std::env::var_os(name).filter(|v| !v.is_empty());
    if let Some(dir) = env("CAIRN_CACHE") {
        return Ok(PathBuf::from(dir));
    }
    if let Some(dir) = env("XDG_CACHE_HOME") {
        return Ok(PathBuf::from(dir).join("cairn"));
    }
    if let Some(home) = env("HOME") {
        return Ok(PathBuf::from(home).join(".cache").join("cairn"));
    }
    Err(BuildError::Invalid(
        "no cache directory: set CAIRN_CACHE, XDG_CACHE_HOME or HOME".into(),
    ))
}

/// Makes a path component safe from a package name and version (an epoch's
/// `:` becomes `%3a`, as apt names its files).
pub fn key(name: &str, version: &str) -> String {
    format!("{name}_{}", version.replace(':', "%3a"))
}

/// Fills `final_dir` by calling `fill` on a temporary sibling and renaming it
/// into place, so an interrupted fill never looks complete. Does nothing when
/// `final_dir` already exists.
pub fn fill_once(
    final_dir: &Path,
    fill: impl FnOnce(&Path) -> Result<(), BuildError>,
) -> Result<bool, BuildError> {
    if final_dir.is_dir() {
        return Ok(false);
    }
    let parent = final_dir
        .parent()
        .ok_or_else(|| BuildError::Invalid(format!("{} has no parent", final_dir.display())))?;
    std::fs::create_dir_all(parent).map_err(BuildError::io(format!(
        "cannot create {}",
        parent.display()
    )))?;
    let name = final_dir
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let temp = parent.join(format!(".{name}.partial-{}", std::process::id()));
    if temp.exists() {
        std::fs::remove_dir_all(&temp)
            .map_err(BuildError::io(format!("cannot remove {}", temp.display())))?;
    }
    std::fs::create_dir_all(&temp)
        .map_err(BuildError::io(format!("cannot create {}", temp.display())))?;
    if let Err(err) = fill(&temp) {
        let _ = std::fs::remove_dir_all(&temp);
        return Err(err);
    }
    match std::fs::rename(&temp, final_dir) {
        Ok(()) => Ok(true),
        // Another build filled it meanwhile: theirs is as good as ours.
        Err(_) if final_dir.is_dir() => {
            let _ = std::fs::remove_dir_all(&temp);
            Ok(false)
        }
        Err(err) => Err(BuildError::io(format!("cannot rename {}", temp.display()))(
            err,
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn explicit_dir_wins() {
        assert_eq!(
            cache_dir(Some(Path::new("/x/y"))).unwrap(),
            PathBuf::from("/x/y")
        );
    }

    #[test]
    fn epoch_colon_is_escaped() {
        assert_eq!(key("pkg", "1:2.3-4"), "pkg_1%3a2.3-4");
    }

    #[test]
    fn fill_once_fills_then_skips() {
        let base = std::env::temp_dir().join(format!("cairn-fill-{}", std::process::id()));
        let target = base.join("entry");
        let first = fill_once(&target, |dir| {
            std::fs::write(dir.join("f"), b"1").map_err(BuildError::io("write"))
        })
        .unwrap();
        let second = fill_once(&target, |_| panic!("must not run again")).unwrap();
        assert!(first);
        assert!(!second);
        assert_eq!(std::fs::read(target.join("f")).unwrap(), b"1");
        std::fs::remove_dir_all(&base).unwrap();
    }

    #[test]
    fn failed_fill_leaves_nothing() {
        let base = std::env::temp_dir().join(format!("cairn-fail-{}", std::process::id()));
        let target = base.join("entry");
        let result = fill_once(&target, |_| Err(BuildError::Invalid("boom".into())));
        assert!(result.is_err());
        assert!(!target.exists());
        assert_eq!(std::fs::read_dir(&base).unwrap().count(), 0);
        std::fs::remove_dir_all(&base).unwrap();
    }
}
