//! Finding host programs, for the builder's and QEMU's tool checks.

use std::path::{Path, PathBuf};

/// Looks a program up on PATH, then in `/usr/sbin` and `/sbin` (which a
/// non-root PATH often lacks, yet `mkfs.ext4` lives there).
pub fn find_program(program: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain([PathBuf::from("/usr/sbin"), PathBuf::from("/sbin")])
        .map(|dir| dir.join(program))
        .find(|candidate| is_executable(candidate))
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    path.metadata()
        .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        .unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_a_shell_and_not_a_made_up_name() {
        assert!(find_program("sh").is_some_and(|p| p.is_absolute()));
        assert!(find_program("cairn-no-such-program").is_none());
    }
}
