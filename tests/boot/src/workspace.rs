//! Where the workspace and its release binaries are, and building those
//! binaries once per test run so the tests never boot stale code.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

/// The binaries the boot tests put into images.
pub const BINARIES: [&str; 3] = ["cairn-init", "hello", "cairn-testapp"];

/// The workspace root: two levels above this crate.
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join("..")
        .canonicalize()
        .unwrap_or_else(|e| panic!("cannot find the workspace root: {e}"))
}

/// The release directory of the workspace's (static) target.
pub fn release_dir() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root().join("target"));
    target.join("x86_64-unknown-linux-gnu").join("release")
}

/// The path of one of [`BINARIES`], built (or brought up to date) first.
pub fn release_binary(name: &str) -> PathBuf {
    ensure_release_binaries();
    let path = release_dir().join(name);
    assert!(
        path.is_file(),
        "{} is missing after `cargo build --release`",
        path.display()
    );
    path
}

/// Runs `cargo build --release` for the binaries once per process. Cargo
/// does nothing when they are up to date, so a change to PID 1 or an app is
/// always what gets booted. Set `CAIRN_BOOT_NO_BUILD=1` to skip this and use
/// whatever is in the release directory.
pub fn ensure_release_binaries() {
    static BUILT: OnceLock<()> = OnceLock::new();
    BUILT.get_or_init(|| {
        if std::env::var_os("CAIRN_BOOT_NO_BUILD").is_some() {
            return;
        }
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
        eprintln!(
            "boot tests: cargo build --release -p cairn-init -p cairn-control -p cairn-image-builder -p hello -p cairn-boot-tests --bins"
        );
        let status = Command::new(cargo)
            .current_dir(root())
            .args([
                "build",
                "--release",
                "-p",
                "cairn-init",
                "-p",
                "cairn-control",
                "-p",
                "cairn-image-builder",
                "-p",
                "hello",
                "-p",
                "cairn-boot-tests",
                "--bins",
            ])
            .status()
            .unwrap_or_else(|e| panic!("cannot run cargo: {e}"));
        assert!(
            status.success(),
            "building the release binaries failed ({status})"
        );
    });
}

/// The `cairn` command line, built like the images' binaries.
pub fn cairn_cli() -> PathBuf {
    ensure_release_binaries();
    release_dir().join("cairn")
}

/// `cairn-control`, which every image carries.
pub fn control_binary() -> PathBuf {
    ensure_release_binaries();
    release_dir().join("cairn-control")
}

/// The default board config.
pub fn default_board() -> PathBuf {
    root().join(cairn_image_builder::board::DEFAULT_BOARD)
}

/// The default board with a run disk no larger than the image, written
/// into `dir`: the data partition keeps the board's `data_size` (64 MiB)
/// instead of growing on first boot, for tests that fill it.
pub fn board_without_growth(dir: &Path) -> PathBuf {
    let board = std::fs::read_to_string(default_board())
        .unwrap_or_else(|e| panic!("cannot read the default board: {e}"));
    // A size below the image's means the image's own size.
    let small = board.replacen("run_disk_size = \"1GiB\"", "run_disk_size = \"0B\"", 1);
    assert_ne!(
        board, small,
        "the default board has no run_disk_size = \"1GiB\""
    );
    let path = dir.join("small-data.toml");
    std::fs::write(&path, small).unwrap_or_else(|e| panic!("{e}"));
    path
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn root_is_the_workspace() {
        let root = root();
        assert!(root.join("Cargo.toml").is_file());
        assert!(root.join("tests").join("boot").join("Cargo.toml").is_file());
        assert!(default_board().is_file());
        assert!(release_dir().ends_with("x86_64-unknown-linux-gnu/release"));
    }
}
