//! Where `cairn dev` keeps things: the same tree, state and runtime files a
//! booted system has, under one directory on the host.
//!
//! ```text
//! <dir>/lock                  held while a `cairn dev` runs here
//! <dir>/bank/apps/<app>/      each app's tree, as in the image (restaged at every start)
//! <dir>/data/apps/<app>/<i>/  each instance's state (kept)
//! <dir>/bank/jobs/<job>/      each job's tree, as in the image (restaged at every start)
//! <dir>/data/crash/           crash reports (kept)
//! <dir>/data/jobs/<job>/      each job's last scheduled instant and run history (kept)
//! <dir>/run/                  cleared at every start: roots/, apps/<label>/resources.json,
//!                             notify (the NOTIFY_SOCKET), status.json
//! ```
//!
//! The default `<dir>` is `.cairn/dev` beside the manifest, or
//! `.cairn/dev-<N>` with `--offset N`, so that runs with different offsets
//! are separate systems with separate state, as two machines would be.

use std::fs::{self, File};
use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use nix::fcntl::{Flock, FlockArg};

/// The longest path a unix socket address holds (sun_path, with its nul).
const SOCKET_PATH_MAX: usize = 107;

/// The directories of one dev system.
#[derive(Debug)]
pub struct Layout {
    pub dir: PathBuf,
    pub bank: PathBuf,
    pub apps: PathBuf,
    pub state: PathBuf,
    pub crash: PathBuf,
    /// Each job's persisted instant and history.
    pub jobs: PathBuf,
    pub run: PathBuf,
    pub notify: PathBuf,
    pub status: PathBuf,
    /// Held for as long as this value lives.
    _lock: Flock<File>,
}

/// The default dev directory for `manifest` and `offset`.
pub fn default_dir(manifest: &Path, offset: u16) -> PathBuf {
    let base = manifest
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."))
        .join(".cairn");
    if offset == 0 {
        base.join("dev")
    } else {
        base.join(format!("dev-{offset}"))
    }
}

/// Where the notify socket goes: in the run directory, unless that path is
/// too long for a socket address; then a short one in the temporary
/// directory, named after this process.
fn notify_path(run: &Path) -> PathBuf {
    let path = run.join("notify");
    if path.as_os_str().len() < SOCKET_PATH_MAX {
        return path;
    }
    std::env::temp_dir().join(format!("cairn-dev-{}.notify", std::process::id()))
}

fn make(dir: &Path) -> anyhow::Result<()> {
    fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))
}

impl Layout {
    /// Locks `dir` for this run and clears what does not outlive one run
    /// (the trees and the runtime files); state and crash reports stay.
    pub fn prepare(dir: &Path) -> anyhow::Result<Layout> {
        make(dir)?;
        let dir = dir
            .canonicalize()
            .with_context(|| format!("cannot resolve {}", dir.display()))?;
        let lock_path = dir.join("lock");
        let file = File::create(&lock_path)
            .with_context(|| format!("cannot create {}", lock_path.display()))?;
        let lock = match Flock::lock(file, FlockArg::LockExclusiveNonblock) {
            Ok(lock) => lock,
            Err((_, nix::errno::Errno::EWOULDBLOCK)) => bail!(
                "another `cairn dev` runs in {}; stop it, or run this one with --offset N (or --dir)",
                dir.display()
            ),
            Err((_, err)) => bail!("cannot lock {}: {err}", lock_path.display()),
        };
        let bank = dir.join("bank");
        let run = dir.join("run");
        for stale in [&bank, &run] {
            if stale.exists() {
                fs::remove_dir_all(stale)
                    .with_context(|| format!("cannot clear {}", stale.display()))?;
            }
        }
        let state = dir.join("data/apps");
        let crash = dir.join("data/crash");
        let jobs = dir.join("data/jobs");
        for d in [&bank, &state, &crash, &jobs, &run] {
            make(d)?;
        }
        Ok(Layout {
            apps: bank.join("apps"),
            notify: notify_path(&run),
            status: run.join("status.json"),
            bank,
            state,
            crash,
            jobs,
            run,
            dir,
            _lock: lock,
        })
    }

    /// Removes the runtime files that do not belong in the dev directory
    /// (a notify socket moved out for the length of its path).
    pub fn cleanup(&self) {
        if !self.notify.starts_with(&self.run) {
            let _ = fs::remove_file(&self.notify);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_offset_has_its_own_directory_beside_the_manifest() {
        assert_eq!(
            default_dir(Path::new("examples/hello/system.toml"), 0),
            Path::new("examples/hello/.cairn/dev")
        );
        assert_eq!(
            default_dir(Path::new("system.toml"), 1000),
            Path::new("./.cairn/dev-1000")
        );
    }

    #[test]
    fn a_second_run_in_the_same_directory_is_refused_and_state_is_kept() {
        let dir = std::env::temp_dir().join(format!("cairn-dev-layout-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        let first = Layout::prepare(&dir).unwrap();
        fs::write(first.state.join("kept"), b"x").unwrap();
        fs::write(first.run.join("stale"), b"x").unwrap();
        let err = Layout::prepare(&dir).unwrap_err().to_string();
        assert!(err.contains("another `cairn dev` runs in"), "{err}");
        drop(first);
        let again = Layout::prepare(&dir).unwrap();
        assert!(again.state.join("kept").exists());
        assert!(!again.run.join("stale").exists());
        assert_eq!(again.notify, again.run.join("notify"));
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_long_socket_path_moves_to_the_temporary_directory() {
        let deep = Path::new("/").join("d".repeat(120));
        assert!(notify_path(&deep).starts_with(std::env::temp_dir()));
    }
}
