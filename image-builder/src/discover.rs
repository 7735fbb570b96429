//! Finding a project's `.cairn/` from where a command runs.
//!
//! In order: the directory given on the command line; `$CAIRN_IDENTITY`
//! (for the commands that talk to a device); then, going up from the file
//! the command works on (a build directory, a bundle) and then from the
//! current directory, the first directory that is a `.cairn/` or has one
//! holding the file the command needs. So `cairn deploy out/` finds the
//! keys beside the manifest `out/` was built from, and `.cairn/build` (what
//! `cairn run` builds into) finds the `.cairn/` it is in.

use std::path::{Path, PathBuf};

use crate::keys::DIR_NAME;

/// The environment variable that names a client's identity directory.
pub const IDENTITY_VAR: &str = "CAIRN_IDENTITY";

/// Why no project directory was found.
#[derive(Debug, thiserror::Error)]
#[error(
    "no {DIR_NAME}/ holding {needs} was found (looked in {}); {hint}",
    looked.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(", ")
)]
pub struct NotFound {
    pub needs: String,
    pub looked: Vec<PathBuf>,
    pub hint: String,
}

/// Where to look, besides the fixed order.
#[derive(Debug, Clone, Default)]
pub struct Search<'a> {
    /// `--identity DIR` or `--dir DIR`: used as given.
    pub explicit: Option<&'a Path>,
    /// Whether `$CAIRN_IDENTITY` counts.
    pub env: bool,
    /// The file or directory the command works on.
    pub near: Option<&'a Path>,
    /// The file the directory must hold (`ca.crt`, `update.pub`).
    pub needs: &'a str,
    /// What to do when nothing is found.
    pub hint: &'a str,
}

/// Finds the directory; `cwd` is the current directory.
pub fn find(search: &Search<'_>, cwd: &Path) -> Result<PathBuf, NotFound> {
    if let Some(dir) = search.explicit {
        return Ok(dir.to_path_buf());
    }
    if search.env {
        if let Some(dir) = std::env::var_os(IDENTITY_VAR).filter(|v| !v.is_empty()) {
            return Ok(PathBuf::from(dir));
        }
    }
    let mut looked = Vec::new();
    let starts = search
        .near
        .map(|near| absolute(near, cwd))
        .into_iter()
        .chain(std::iter::once(cwd.to_path_buf()));
    for start in starts {
        for dir in start.ancestors() {
            let candidates = [
                (dir.file_name().is_some_and(|n| n == DIR_NAME)).then(|| dir.to_path_buf()),
                Some(dir.join(DIR_NAME)),
            ];
            for candidate in candidates.into_iter().flatten() {
                if candidate.join(search.needs).is_file() {
                    return Ok(candidate);
                }
            }
            if !looked.iter().any(|l| l == dir) {
                looked.push(dir.to_path_buf());
            }
        }
    }
    Err(NotFound {
        needs: search.needs.to_owned(),
        looked,
        hint: search.hint.to_owned(),
    })
}

fn absolute(path: &Path, cwd: &Path) -> PathBuf {
    let joined = if path.is_absolute() {
        path.to_path_buf()
    } else {
        cwd.join(path)
    };
    // A file's search starts at its directory.
    if joined.is_dir() {
        joined
    } else {
        joined.parent().map_or(joined.clone(), Path::to_path_buf)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn search<'a>(near: Option<&'a Path>, explicit: Option<&'a Path>) -> Search<'a> {
        Search {
            explicit,
            env: false,
            near,
            needs: "ca.crt",
            hint: "make one",
        }
    }

    #[test]
    fn explicit_then_near_then_current_directory() {
        let root = tempfile::tempdir().unwrap();
        let project = root.path().join("project");
        let other = root.path().join("other");
        for dir in [&project, &other] {
            std::fs::create_dir_all(dir.join(DIR_NAME).join("build")).unwrap();
            std::fs::write(dir.join(DIR_NAME).join("ca.crt"), "x").unwrap();
        }
        std::fs::create_dir_all(project.join("out")).unwrap();
        std::fs::write(project.join("out/update.cairn"), "x").unwrap();

        let given = Path::new("/given");
        assert_eq!(
            find(&search(Some(&project.join("out")), Some(given)), &other).unwrap(),
            given
        );
        // Beside the manifest the build directory was made from.
        assert_eq!(
            find(
                &search(Some(&project.join("out/update.cairn")), None),
                &other
            )
            .unwrap(),
            project.join(DIR_NAME)
        );
        // Inside the .cairn/ that `cairn run` builds into.
        assert_eq!(
            find(
                &search(Some(&project.join(DIR_NAME).join("build")), None),
                &other
            )
            .unwrap(),
            project.join(DIR_NAME)
        );
        // Nothing near: the current directory's.
        assert_eq!(
            find(&search(Some(root.path()), None), &other).unwrap(),
            other.join(DIR_NAME)
        );
        assert_eq!(
            find(&search(None, None), &other.join(DIR_NAME).join("build")).unwrap(),
            other.join(DIR_NAME)
        );
        let err = find(&search(None, None), root.path())
            .unwrap_err()
            .to_string();
        assert!(err.contains("holding ca.crt"), "{err}");
        assert!(err.ends_with("make one"), "{err}");
    }
}
