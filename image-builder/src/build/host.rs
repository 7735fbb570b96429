//! Running the host tools the build needs, with errors that say how to get them.

use std::path::PathBuf;
use std::process::{Command, Output};

use super::BuildError;
pub use crate::which::find_program;

/// A host program and the Debian package that ships it.
#[derive(Debug, Clone, Copy)]
pub struct Tool {
    pub program: &'static str,
    pub package: &'static str,
}

pub const APT_GET: Tool = Tool {
    program: "apt-get",
    package: "apt",
};
pub const APT_CACHE: Tool = Tool {
    program: "apt-cache",
    package: "apt",
};
pub const DPKG_DEB: Tool = Tool {
    program: "dpkg-deb",
    package: "dpkg",
};
pub const MKSQUASHFS: Tool = Tool {
    program: "mksquashfs",
    package: "squashfs-tools",
};
pub const MKFS_EXT4: Tool = Tool {
    program: "mkfs.ext4",
    package: "e2fsprogs",
};
pub const TAR: Tool = Tool {
    program: "tar",
    package: "tar",
};
pub const MAKE: Tool = Tool {
    program: "make",
    package: "make",
};

/// Finds `tool` on PATH (and in the sbin directories, where mkfs lives), or
/// says which package to install.
pub fn require(tool: Tool) -> Result<PathBuf, BuildError> {
    find_program(tool.program).ok_or_else(|| BuildError::MissingTool {
        tool: tool.program.to_string(),
        package: tool.package.to_string(),
    })
}

/// Runs `command` to completion, capturing its output; a non-zero exit is an
/// error that carries the command line and its stderr.
pub fn run(command: &mut Command) -> Result<Output, BuildError> {
    let line = describe(command);
    let output = command
        .output()
        .map_err(BuildError::io(format!("cannot start `{line}`")))?;
    if output.status.success() {
        Ok(output)
    } else {
        Err(BuildError::Command {
            command: line,
            status: output.status.to_string(),
            stderr: last_lines(&String::from_utf8_lossy(&output.stderr), 40),
        })
    }
}

/// The command line as a user would type it, for messages.
pub fn describe(command: &Command) -> String {
    std::iter::once(command.get_program())
        .chain(command.get_args())
        .map(|s| s.to_string_lossy().into_owned())
        .collect::<Vec<_>>()
        .join(" ")
}

/// The end of a long output, where the error usually is.
fn last_lines(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_tool_names_its_package() {
        let tool = Tool {
            program: "cairn-no-such-program",
            package: "cairn-no-such-package",
        };
        let err = require(tool).unwrap_err().to_string();
        assert!(
            err.contains("apt-get install cairn-no-such-package"),
            "{err}"
        );
    }

    #[test]
    fn failing_command_reports_its_stderr() {
        let err = run(Command::new("sh").args(["-c", "echo oops >&2; exit 3"]))
            .unwrap_err()
            .to_string();
        assert!(err.contains("sh -c"), "{err}");
        assert!(err.contains("oops"), "{err}");
    }
}
