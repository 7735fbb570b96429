//! Running a `debugfs -w` script against an ext4 filesystem in a file (at
//! an offset, for a partition of a disk image), without root and without
//! mounting.

use std::io::Write;
use std::process::{Command, Stdio};

use super::BuildError;
use crate::which::find_program;

/// Runs `script` on `target` (`FILE` or `FILE?offset=BYTES`) with the
/// library's clock pinned to `clock` (seconds), so the inodes it touches
/// get known times. Fails on any complaint: debugfs exits 0 even when a
/// command fails, so its stderr is the only witness.
pub fn run(target: &str, script: &str, clock: &str) -> Result<String, BuildError> {
    let debugfs = find_program("debugfs").ok_or_else(|| BuildError::MissingTool {
        tool: "debugfs".into(),
        package: "e2fsprogs".into(),
    })?;
    let mut child = Command::new(debugfs)
        .env("E2FSPROGS_FAKE_TIME", clock)
        .arg("-w")
        .arg("-f")
        .arg("-")
        .arg(target)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(BuildError::io("cannot start debugfs"))?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin
            .write_all(script.as_bytes())
            .map_err(BuildError::io("cannot talk to debugfs"))?;
    }
    let output = child
        .wait_with_output()
        .map_err(BuildError::io("debugfs did not finish"))?;
    let stderr = String::from_utf8_lossy(&output.stderr);
    // Its only expected line is its banner.
    let complaints: Vec<&str> = stderr
        .lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with("debugfs "))
        .collect();
    if !output.status.success() || !complaints.is_empty() {
        return Err(BuildError::Command {
            command: format!("debugfs -w {target}"),
            status: output.status.to_string(),
            stderr: complaints.join("\n"),
        });
    }
    Ok(String::from_utf8_lossy(&output.stdout).into_owned())
}

/// The lines that give `path` fixed times, an owner and (when given) a
/// mode with its file type bits.
pub fn pin(path: &str, clock: &str, uid: u32, gid: u32, mode: Option<u32>) -> String {
    let mut script = String::new();
    for field in ["atime", "mtime", "ctime", "crtime"] {
        script.push_str(&format!("sif {path} {field} {clock}\n"));
    }
    script.push_str(&format!("sif {path} uid {uid}\nsif {path} gid {gid}\n"));
    if let Some(mode) = mode {
        script.push_str(&format!("sif {path} mode 0{mode:o}\n"));
    }
    script
}
