//! Writable copies of bundled paths (`readonly = false`): what is shipped in
//! the app's tree, copied afresh for every start of an instance.
//!
//! Before the clone, PID 1 mounts a tmpfs of the instance's own at
//! `<run>/<label>/writable-<n>` (nosuid, nodev, mode 0700, as large as a
//! `tmpfs` grant: the app's memory limit, 64 MiB without one) and copies
//! each writable path's shipped file or directory into it, at the path's
//! escaped name, owned by the app's uid and gid. The plan then binds each
//! copy read-write at its path (see [`super::plan`]). `n` counts starts, so
//! two runs of one job at once never share a copy.
//!
//! Nothing is written to the bank or the data partition: a copy is not
//! state. The tmpfs bounds what the app can write there, so a copy never
//! fills the system's `/run`, and unmounting it when the instance ends
//! (dropping [`WritableCopies`]) frees everything at once. What is shipped
//! must fit [`MAX_BYTES`] and [`MAX_ENTRIES`] (and the tmpfs): the copy is
//! made in PID 1's loop, which must stay responsive.
//!
//! The same directory holds the copies of the secrets the app is granted
//! (in [`SECRETS_DIR`]), read from the device's store on the data
//! partition at every start, so a secret set while the app runs reaches
//! its next start, and its copy lives in memory only while the instance
//! does.
//!
//! In a user namespace (`cairn dev` as an ordinary user) PID 1 cannot
//! mount, and the copies are a plain directory in its run directory, owned
//! by the host user, who is the app inside.

use std::fs;
use std::io;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use cairn_manifest::{App, PathGrant};
use nix::mount::MsFlags;

use super::copy::{self, Budget};
use super::plan::{state_dir_name, DEFAULT_TMPFS_BYTES, SECRETS_DIR};
use cairn_sys::mount::{Linux, MountOps};

/// The most bytes of file content all writable copies of one instance
/// together take from the tree.
pub const MAX_BYTES: u64 = 16 << 20;
/// The most files, directories and symlinks they take.
pub const MAX_ENTRIES: u64 = 10_000;

/// The largest secret `cairn secret set` stores.
pub const MAX_SECRET_BYTES: u64 = 64 * 1024;

/// Numbers the copies' directories, one per start in this process.
static NEXT: AtomicU64 = AtomicU64::new(0);

/// How the copies' directory was made, and so how it is removed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Made {
    /// The app has no writable bundled path.
    Nothing,
    Directory,
    Tmpfs,
}

/// One instance's writable copies; removed when dropped, which the
/// supervisor does when the instance ends.
#[derive(Debug)]
pub struct WritableCopies {
    dir: PathBuf,
    made: Made,
}

/// The bundled paths of `app` that get a writable copy.
pub fn writable_paths(app: &App) -> impl Iterator<Item = &str> {
    app.paths.iter().filter_map(|(path, grant)| match grant {
        PathGrant::Bundle {
            readonly: false, ..
        } => Some(path.as_str()),
        _ => None,
    })
}

/// The size of the tmpfs holding an instance's copies: a `tmpfs` grant's.
pub fn tmpfs_bytes(app: &App) -> u64 {
    app.limits.memory.unwrap_or(DEFAULT_TMPFS_BYTES)
}

/// A directory under `parent` that did not exist, mode 0700.
fn fresh_dir(parent: &Path) -> io::Result<PathBuf> {
    loop {
        let dir = parent.join(format!("writable-{}", NEXT.fetch_add(1, Ordering::Relaxed)));
        match fs::DirBuilder::new().mode(0o700).create(&dir) {
            Ok(()) => return Ok(dir),
            Err(err) if err.kind() == io::ErrorKind::AlreadyExists => continue,
            Err(err) => {
                return Err(io::Error::new(
                    err.kind(),
                    format!("cannot create {}: {err}", dir.display()),
                ))
            }
        }
    }
}

impl WritableCopies {
    /// Copies every writable bundled path of `app` from its tree `tree`
    /// into a new directory under `parent` (the instance's run directory):
    /// on a tmpfs of its own when `own_tmpfs`, else a plain directory.
    /// Copied entries belong to `owner` (uid, gid) when given. On failure
    /// nothing is left behind.
    pub fn make(
        app: &App,
        tree: &Path,
        secrets: &Path,
        parent: &Path,
        owner: Option<(u32, u32)>,
        own_tmpfs: bool,
    ) -> io::Result<WritableCopies> {
        if writable_paths(app).next().is_none() && app.secrets.is_empty() {
            return Ok(WritableCopies {
                dir: parent.join("writable"),
                made: Made::Nothing,
            });
        }
        let mut copies = WritableCopies {
            dir: fresh_dir(parent)?,
            made: Made::Directory,
        };
        let mut bytes = MAX_BYTES;
        if own_tmpfs {
            let size = tmpfs_bytes(app);
            Linux
                .mount(
                    "tmpfs",
                    &copies.dir,
                    "tmpfs",
                    MsFlags::MS_NOSUID | MsFlags::MS_NODEV,
                    &format!("mode=0700,size={size}"),
                )
                .map_err(|err| {
                    io::Error::new(
                        err.kind(),
                        format!("cannot mount a tmpfs on {}: {err}", copies.dir.display()),
                    )
                })?;
            copies.made = Made::Tmpfs;
            bytes = bytes.min(size);
        }
        let mut budget = Budget::new(bytes, MAX_ENTRIES);
        for path in writable_paths(app) {
            let to = copies.dir.join(state_dir_name(path));
            copy::source_in_tree(tree, Path::new(path))
                .and_then(|from| copy::copy_tree(&from, &to, owner, &mut budget))
                .map_err(|err| io::Error::other(format!("writable copy of {path}: {err}")))?;
        }
        if !app.secrets.is_empty() {
            copy_secrets(app, secrets, &copies.dir.join(SECRETS_DIR), owner)?;
        }
        Ok(copies)
    }

    /// The directory holding the copies: `<dir>/<escaped path>` for each.
    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

impl Drop for WritableCopies {
    fn drop(&mut self) {
        let removed = match self.made {
            Made::Nothing => return,
            Made::Tmpfs => Linux
                .unmount(&self.dir, true)
                .and_then(|()| fs::remove_dir(&self.dir)),
            Made::Directory => remove_tree(&self.dir),
        };
        if let Err(err) = removed {
            tracing::warn!("cannot remove {}: {err}", self.dir.display());
        }
    }
}

/// Copies each secret `app` is granted from the device's store `store`
/// into `to` (made here, mode 0700), each file mode 0400 and owned by
/// `owner` when given. A secret that is not stored is an error that says
/// how to store it: the app does not start without what it was promised.
fn copy_secrets(app: &App, store: &Path, to: &Path, owner: Option<(u32, u32)>) -> io::Result<()> {
    fs::DirBuilder::new()
        .mode(0o700)
        .create(to)
        .map_err(|err| {
            io::Error::new(err.kind(), format!("cannot create {}: {err}", to.display()))
        })?;
    let names: std::collections::BTreeSet<&String> = app.secrets.values().collect();
    for name in names {
        let from = store.join(name);
        let value = match fs::metadata(&from) {
            Ok(meta) if meta.len() > MAX_SECRET_BYTES => {
                return Err(io::Error::other(format!(
                "secret `{name}` is {} bytes, more than the {MAX_SECRET_BYTES} a secret may have",
                meta.len()
            )))
            }
            Ok(_) => zeroize::Zeroizing::new(fs::read(&from)?),
            Err(err) if err.kind() == io::ErrorKind::NotFound => {
                return Err(io::Error::new(
                    err.kind(),
                    format!(
                        "secret `{name}` is not stored on this device: store it with \
                         `cairn secret set --to HOST {name} FILE`"
                    ),
                ))
            }
            Err(err) => {
                return Err(io::Error::new(
                    err.kind(),
                    format!("cannot read secret `{name}`: {err}"),
                ))
            }
        };
        let file = to.join(name);
        let mut out = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o400)
            .open(&file)?;
        std::io::Write::write_all(&mut out, &value)?;
        if let Some((uid, gid)) = owner {
            std::os::unix::fs::fchown(&out, Some(uid), Some(gid))?;
        }
    }
    Ok(())
}

/// Removes `dir` and everything in it, even directories the app took its
/// own permissions away from (it owns them in a user namespace).
fn remove_tree(dir: &Path) -> io::Result<()> {
    let mut pending = vec![dir.to_path_buf()];
    while let Some(next) = pending.pop() {
        // Best effort: what cannot be opened fails the removal below.
        let _ = fs::set_permissions(&next, fs::Permissions::from_mode(0o700));
        let Ok(entries) = fs::read_dir(&next) else {
            continue;
        };
        for entry in entries.flatten() {
            if entry.file_type().is_ok_and(|t| t.is_dir()) {
                pending.push(entry.path());
            }
        }
    }
    fs::remove_dir_all(dir)
}
