//! The `cairn` command line as an operator runs it against a booted
//! machine: from the project's directory (so its `.cairn/` is found), over
//! the machine's forwarded control port.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use crate::workspace;

/// What one command did.
#[derive(Debug, Clone)]
pub struct Ran {
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl Ran {
    /// Both streams, for assertion messages.
    pub fn text(&self) -> String {
        format!(
            "exit {:?}\n--- stdout\n{}--- stderr\n{}",
            self.code, self.stdout, self.stderr
        )
    }
}

/// `cairn` run in a project directory.
#[derive(Debug, Clone)]
pub struct Cli {
    dir: PathBuf,
}

impl Cli {
    pub fn new(dir: &Path) -> Cli {
        Cli {
            dir: dir.to_path_buf(),
        }
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::new(workspace::cairn_cli());
        command
            .current_dir(&self.dir)
            .args(args)
            .env_remove("CAIRN_IDENTITY")
            .stdin(Stdio::null());
        command
    }

    /// Runs `cairn ARGS` to its end.
    pub fn run(&self, args: &[&str]) -> Ran {
        let output = self
            .command(args)
            .output()
            .unwrap_or_else(|e| panic!("cannot run cairn {args:?}: {e}"));
        let ran = Ran {
            code: output.status.code(),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        };
        eprintln!("cairn {}: exit {:?}", args.join(" "), ran.code);
        ran
    }

    /// Starts `cairn ARGS` without waiting (its output is dropped).
    pub fn spawn(&self, args: &[&str]) -> Child {
        self.command(args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start cairn {args:?}: {e}"))
    }

    /// `cairn status --to 127.0.0.1:PORT --json`, parsed.
    pub fn status(&self, port: u16) -> serde_json::Value {
        let to = format!("127.0.0.1:{port}");
        let ran = self.run(&["status", "--to", &to, "--json"]);
        assert_eq!(ran.code, Some(0), "{}", ran.text());
        serde_json::from_str(&ran.stdout)
            .unwrap_or_else(|e| panic!("status is not JSON ({e}): {}", ran.text()))
    }
}
