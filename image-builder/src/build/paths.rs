//! Finding the inputs that are not named on the command line: the default
//! board config and the PID 1 binary.

use std::path::{Path, PathBuf};

use super::BuildError;
use crate::board::DEFAULT_BOARD;

/// The workspace root as seen from an executable at
/// `<root>/target/<triple>/<profile>/cairn` (or `<root>/target/<profile>/cairn`,
/// or a test binary one level deeper in `deps/`).
pub fn workspace_root_from_exe(exe: &Path) -> Option<PathBuf> {
    exe.ancestors()
        .find(|dir| dir.file_name().is_some_and(|n| n == "target"))
        .and_then(Path::parent)
        .map(Path::to_path_buf)
}

/// See [`super::find_workspace_board`].
pub fn find_board(explicit: Option<&Path>) -> Result<PathBuf, BuildError> {
    let relative = explicit.unwrap_or(Path::new(DEFAULT_BOARD));
    if relative.is_absolute() {
        return if relative.is_file() {
            Ok(relative.to_path_buf())
        } else {
            Err(BuildError::BoardNotFound {
                tried: vec![relative.to_path_buf()],
            })
        };
    }
    let mut tried = vec![relative.to_path_buf()];
    if explicit.is_none() {
        // A bare default is also looked up from the workspace this cairn was built in.
        if let Some(root) = std::env::current_exe()
            .ok()
            .and_then(|exe| workspace_root_from_exe(&exe))
        {
            tried.push(root.join(relative));
        }
    }
    tried
        .iter()
        .find(|p| p.is_file())
        .cloned()
        .ok_or(BuildError::BoardNotFound { tried })
}

/// `explicit`, else `CAIRN_INIT`, else `cairn-init` beside the running executable.
pub fn find_init(explicit: Option<&Path>) -> Result<PathBuf, BuildError> {
    let tried = candidates(explicit, "CAIRN_INIT", "cairn-init");
    tried
        .iter()
        .find(|p| p.is_file())
        .cloned()
        .ok_or(BuildError::InitNotFound { tried })
}

/// `explicit`, else `CAIRN_CONTROL`, else `cairn-control` beside the
/// running executable: the in-image services' binary.
pub fn find_control(explicit: Option<&Path>) -> Result<PathBuf, BuildError> {
    let tried = candidates(explicit, "CAIRN_CONTROL", "cairn-control");
    tried
        .iter()
        .find(|p| p.is_file())
        .cloned()
        .ok_or(BuildError::ControlNotFound { tried })
}

/// Where a binary the image is made of may be, in order.
fn candidates(explicit: Option<&Path>, variable: &str, name: &str) -> Vec<PathBuf> {
    let mut tried = Vec::new();
    if let Some(path) = explicit {
        tried.push(path.to_path_buf());
    } else if let Some(path) = std::env::var_os(variable).filter(|v| !v.is_empty()) {
        tried.push(PathBuf::from(path));
    } else if let Ok(exe) = std::env::current_exe() {
        if let Some(dir) = exe.parent() {
            tried.push(dir.join(name));
            // Test binaries live one level down, in deps/.
            if dir.file_name().is_some_and(|n| n == "deps") {
                if let Some(up) = dir.parent() {
                    tried.push(up.join(name));
                }
            }
        }
    }
    tried
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn root_from_target_layout() {
        assert_eq!(
            workspace_root_from_exe(Path::new(
                "/w/target/x86_64-unknown-linux-gnu/release/cairn"
            )),
            Some(PathBuf::from("/w"))
        );
        assert_eq!(
            workspace_root_from_exe(Path::new("/w/target/debug/deps/cairn-123")),
            Some(PathBuf::from("/w"))
        );
        assert_eq!(workspace_root_from_exe(Path::new("/usr/bin/cairn")), None);
    }

    #[test]
    fn default_board_is_found_from_the_test_binary() {
        // Tests run from the crate directory, where the relative default does
        // not exist, so this goes through the executable's workspace.
        let found = find_board(None).unwrap();
        assert!(found.ends_with(DEFAULT_BOARD), "{}", found.display());
    }

    #[test]
    fn missing_board_lists_where_it_looked() {
        let err = find_board(Some(Path::new("no/such/board.toml")))
            .unwrap_err()
            .to_string();
        assert!(err.contains("no/such/board.toml"), "{err}");
    }

    #[test]
    fn missing_control_says_how_to_build_it() {
        let err = find_control(Some(Path::new("/nonexistent/cairn-control")))
            .unwrap_err()
            .to_string();
        assert!(err.contains("--control PATH"), "{err}");
        assert!(err.contains("/nonexistent/cairn-control"), "{err}");
    }

    #[test]
    fn missing_init_says_how_to_build_it() {
        let err = find_init(Some(Path::new("/nonexistent/cairn-init")))
            .unwrap_err()
            .to_string();
        assert!(err.contains("cargo build --release -p cairn-init"), "{err}");
    }
}
