//! Board configuration: one TOML per board under `board-configs/`.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// The default board, relative to the workspace root.
pub const DEFAULT_BOARD: &str = "board-configs/qemu-x86_64.toml";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Board {
    pub name: String,
    pub arch: String,
    pub kernel: KernelConfig,
    pub disk: DiskConfig,
    pub qemu: QemuConfig,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum KernelSource {
    /// Debian's prebuilt package, fetched with `apt-get download`.
    Debian,
    /// Built from `linux-source-6.1` with a config fragment.
    Build,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KernelConfig {
    pub source: KernelSource,
    /// Debian package for `source = "debian"`; may be a metapackage.
    #[serde(default)]
    pub package: Option<String>,
    /// Config fragment (relative to the workspace root) for `source = "build"`.
    #[serde(default)]
    pub fragment: Option<PathBuf>,
    /// Appended to the kernel command line of every entry.
    pub cmdline: String,
    /// Module names PID 1 loads, in order; dependencies are added.
    #[serde(default)]
    pub modules: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DiskConfig {
    pub esp_size: String,
    pub bank_size: String,
    pub data_size: String,
    /// Each bank's kernel slot on the ESP: the largest kernel an update
    /// can bring to a device built with this board.
    #[serde(default = "default_kernel_slot")]
    pub kernel_slot: String,
    /// Each bank's initramfs slot on the ESP.
    #[serde(default = "default_initrd_slot")]
    pub initrd_slot: String,
}

fn default_kernel_slot() -> String {
    "24MiB".to_string()
}

fn default_initrd_slot() -> String {
    "8MiB".to_string()
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QemuConfig {
    pub machine: String,
    pub memory: String,
    pub cpus: u32,
    pub accel: String,
    pub firmware_code: PathBuf,
    pub firmware_vars: PathBuf,
    pub run_disk_size: String,
}

#[derive(Debug, thiserror::Error)]
pub enum BoardError {
    #[error("cannot read board config {path}: {error}")]
    Read {
        path: PathBuf,
        error: std::io::Error,
    },
    #[error("{path}: {message}")]
    Parse { path: PathBuf, message: String },
}

impl Board {
    /// Reads and parses a board config.
    pub fn load(path: &Path) -> Result<Board, BoardError> {
        let text = std::fs::read_to_string(path).map_err(|error| BoardError::Read {
            path: path.to_path_buf(),
            error,
        })?;
        Board::parse(&text, path)
    }

    /// Parses a board config's text; `path` is used in messages only.
    pub fn parse(text: &str, path: &Path) -> Result<Board, BoardError> {
        toml::from_str(text).map_err(|e| BoardError::Parse {
            path: path.to_path_buf(),
            message: e.to_string(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_board_parses() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("..")
            .join(DEFAULT_BOARD);
        let board = Board::load(&path).unwrap();
        assert_eq!(board.name, "qemu-x86_64");
        assert_eq!(board.kernel.source, KernelSource::Debian);
        assert!(board.kernel.modules.iter().any(|m| m == "virtio_blk"));
    }

    #[test]
    fn every_shipped_board_parses() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../board-configs");
        let mut seen = 0;
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|e| e == "toml") {
                Board::load(&path).unwrap_or_else(|e| panic!("{e}"));
                seen += 1;
            }
        }
        assert!(seen >= 2, "expected the shipped boards, saw {seen}");
    }

    #[test]
    fn unknown_key_is_an_error() {
        let err = Board::parse("name = \"x\"\nbogus = 1\n", Path::new("b.toml")).unwrap_err();
        assert!(err.to_string().contains("b.toml"), "{err}");
    }
}
