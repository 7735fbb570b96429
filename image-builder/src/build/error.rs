//! The one error type of `cairn build`; its message tells the whole story.

use std::path::PathBuf;

/// Everything that can stop a build.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    /// The manifest has errors; the text holds them as `file:line:column: message`.
    #[error("{0}")]
    Manifest(String),
    /// Shown whole, not as a source, so its I/O error is not printed twice.
    #[error("{0}")]
    Board(crate::board::BoardError),
    #[error("no board config found; looked at {}", list_paths(.tried))]
    BoardNotFound { tried: Vec<PathBuf> },
    #[error("the PID 1 binary cairn-init was not found at {}; build it with `cargo build --release -p cairn-init` or pass --init PATH (or set CAIRN_INIT)", list_paths(.tried))]
    InitNotFound { tried: Vec<PathBuf> },
    #[error("the services binary cairn-control was not found at {}; build it with `cargo build --release --bin cairn-control` or pass --control PATH (or set CAIRN_CONTROL)", list_paths(.tried))]
    ControlNotFound { tried: Vec<PathBuf> },
    /// The project's keys, shown whole (they say what to do).
    #[error("{0}")]
    Keys(#[from] crate::keys::KeysError),
    #[error("`{tool}` is not installed; install it with `apt-get install {package}`")]
    MissingTool { tool: String, package: String },
    #[error("apt does not know the package {package}; run `apt-get update` and try again")]
    PackageNotFound { package: String },
    #[error("`{command}` failed ({status}){}", stderr_suffix(.stderr))]
    Command {
        command: String,
        status: String,
        stderr: String,
    },
    // The I/O error is part of the message rather than a `source`, so that
    // printing the error chain does not say it twice.
    #[error("{context}: {error}")]
    Io {
        context: String,
        error: std::io::Error,
    },
    #[error("{}: {message}", .path.display())]
    Elf { path: PathBuf, message: String },
    #[error("kernel modules: {0}")]
    Module(String),
    #[error("bank image is {needed} bytes but the board's bank_size is {available} bytes; raise [disk] bank_size to at least {needed_mib} MiB")]
    BankTooLarge {
        needed: u64,
        available: u64,
        needed_mib: u64,
    },
    #[error("esp: {0}")]
    Esp(String),
    /// `cairn.lock` and the packages it pins; the message says what to do.
    /// Boxed: its messages carry several paths and hashes.
    #[error(transparent)]
    Lock(Box<super::lock::LockError>),
    #[error("{0}")]
    Invalid(String),
}

impl BuildError {
    /// Wraps an I/O error with what was being done.
    pub fn io(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> BuildError {
        let context = context.into();
        move |error| BuildError::Io { context, error }
    }

    /// True for errors in the user's manifest (the CLI exits with 2 for those).
    pub fn is_manifest_error(&self) -> bool {
        matches!(self, BuildError::Manifest(_))
    }
}

impl From<super::lock::LockError> for BuildError {
    fn from(err: super::lock::LockError) -> BuildError {
        BuildError::Lock(Box::new(err))
    }
}

impl From<crate::board::BoardError> for BuildError {
    fn from(err: crate::board::BoardError) -> BuildError {
        BuildError::Board(err)
    }
}

fn list_paths(paths: &[PathBuf]) -> String {
    paths
        .iter()
        .map(|p| p.display().to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

fn stderr_suffix(stderr: &str) -> String {
    let trimmed = stderr.trim();
    if trimmed.is_empty() {
        String::new()
    } else {
        format!(":\n{trimmed}")
    }
}
