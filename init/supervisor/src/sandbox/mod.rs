//! Each app instance in its own kernel namespaces, seeing exactly what the
//! manifest grants, as its own unprivileged user with no capabilities.
//!
//! Before the clone, PID 1 prepares everything on its side: the instance's
//! state directories on the data partition (owned by the app's uid, mode
//! 0700), `resources.json`, fresh writable copies of the bundled paths with
//! `readonly = false` ([`writable`]), an empty directory that becomes the
//! root, and the ordered mount plan ([`plan`]) with every string the child
//! will need. The child is created by `clone` with new mount, PID, IPC and
//! UTS namespaces (see [`crate::sys::spawn::spawn_sandboxed`] and
//! [`crate::sys::sandbox_child`]); it joins its cgroup, makes a cgroup
//! namespace, sets its hostname (the app's name, `<app>-<i>` for instance
//! i > 0), runs the plan, enters the root, and drops to the app's uid with no
//! capabilities and no_new_privs.
//!
//! Then it starts the app, which installs its system call filter
//! ([`seccomp`]) just before its exec, and stays behind as pid 1 of the
//! namespace, a tiny
//! reaper ([`crate::sys::ns_reaper`]) like `docker run --init`: the app is
//! pid 2, an ordinary process. Orphans the app leaves reparent to the
//! reaper, which reaps them, so no zombie piles up in the namespace; the
//! signals an operator or PID 1 sends (TERM, INT, HUP, QUIT, USR1, USR2,
//! WINCH, CONT) are forwarded to the app's process group, where the default
//! action applies to an app without a handler; and the reaper exits with the
//! app's exit code, or 128 + N when signal N killed the app (SIGKILL: 137).
//! Its exit ends the namespace and everything left in it. PID 1 knows the
//! instance by the reaper's pid. The reaper counts as one process of the
//! instance's cgroup. `LISTEN_PID` is therefore `2`.
//!
//! On a developer's machine (`cairn dev`, not root) the same plan runs in a
//! user namespace of the instance's own ([`UserNamespace`]): the app's uid
//! and gid inside are the host user's outside, so its state directories
//! belong to the host user and need no chown, and what the namespace lets
//! it mount (tmpfs, proc, devpts, binds) is all the plan needs. Binds of
//! host directories keep the flags the host's mount has (see
//! [`plan::keep_locked_flags`]): a user namespace may add restrictions to a
//! mount it inherited but never lift one.

mod copy;
pub mod plan;
pub mod resources;
pub mod seccomp;
pub mod writable;

use std::collections::BTreeMap;
use std::ffi::CString;
use std::fs;
use std::io;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use cairn_manifest::{App, PathGrant};
use nix::mount::MsFlags;

use self::plan::{EntryKind, Layout, Step, TreeEntry};
use self::writable::WritableCopies;
use crate::sys::sandbox_child::{IdMap, RawStep, SandboxSpec, Stage};
use crate::sys::spawn::{self, SpawnError};

/// The app's pid inside its namespace, where the reaper is pid 1.
pub const APP_PID: &str = "2";

/// The notify socket, inside the app and in PID 1's root alike.
pub const NOTIFY_SOCKET: &str = cairn_layout::run::NOTIFY;

/// Where an instance's pieces are in PID 1's mount namespace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SandboxPaths {
    /// `<apps>/<name>` is each app's tree.
    pub apps: PathBuf,
    /// `<state>/<name>/<instance>/<escaped path>` holds each `state` grant.
    pub state: PathBuf,
    /// `<roots>/<label>` becomes the instance's `/`.
    pub roots: PathBuf,
    /// `<run>/<label>/resources.json`.
    pub run: PathBuf,
    /// PID 1's notify socket, bound into the app when it exists.
    pub notify: PathBuf,
    /// The device's secrets, one file per name (`cairn secret set`).
    pub secrets: PathBuf,
    /// Where the device nodes come from.
    pub dev: PathBuf,
    /// Some: each instance gets a user namespace of its own, mapping the
    /// app's uid and gid to these host ids (an unprivileged host). None:
    /// the instance switches to the app's uid in the host's (PID 1).
    pub user_namespace: Option<UserNamespace>,
    /// The uid (and gid) the instance runs as. None: the app's own
    /// ([`cairn_manifest::app_uid`]); a job's run gives its job uid.
    pub run_as: Option<u32>,
}

/// The host ids an app's uid and gid stand for in its user namespace.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UserNamespace {
    pub host_uid: u32,
    pub host_gid: u32,
}

impl UserNamespace {
    /// The calling process's effective ids.
    pub fn current() -> UserNamespace {
        UserNamespace {
            host_uid: nix::unistd::geteuid().as_raw(),
            host_gid: nix::unistd::getegid().as_raw(),
        }
    }
}

impl SandboxPaths {
    /// The paths of a booted Cairn system (see docs/architecture.md).
    pub fn booted() -> SandboxPaths {
        SandboxPaths {
            apps: PathBuf::from(cairn_layout::bank::APPS_PATH),
            state: PathBuf::from(cairn_layout::data::APPS_PATH),
            roots: PathBuf::from(cairn_layout::run::ROOTS),
            run: PathBuf::from(cairn_layout::run::APPS),
            notify: PathBuf::from(NOTIFY_SOCKET),
            secrets: PathBuf::from(cairn_layout::data::SECRETS_PATH),
            dev: PathBuf::from("/dev"),
            user_namespace: None,
            run_as: None,
        }
    }
}

/// One instance, ready to start.
#[derive(Debug)]
pub struct Launch {
    spec: SandboxSpec,
    env: BTreeMap<String, String>,
    steps: Vec<Step>,
    /// Kept open for the child to be created in, or to join.
    cgroup: Option<crate::cgroup::JoinFds>,
    /// Listening sockets passed from fd 3 on, kept open until the start.
    passed: Vec<OwnedFd>,
    /// The notify socket's path on the host, which the app knows as
    /// [`NOTIFY_SOCKET`].
    notify_host: Option<PathBuf>,
    /// This start's writable copies, handed to the started instance.
    copies: Option<WritableCopies>,
}

/// What a started instance hands back: its pid, its output pipes, and its
/// writable copies, to be dropped (removed) when it ends.
#[derive(Debug)]
pub struct Started {
    pub pid: i32,
    pub stdout: OwnedFd,
    pub stderr: OwnedFd,
    pub copies: Option<WritableCopies>,
}

fn context(what: impl std::fmt::Display) -> impl FnOnce(io::Error) -> io::Error {
    move |err| io::Error::new(err.kind(), format!("{what}: {err}"))
}

fn cstring(bytes: &[u8]) -> io::Result<CString> {
    CString::new(bytes)
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "nul byte in a path"))
}

fn path_c(path: &Path) -> io::Result<CString> {
    cstring(path.as_os_str().as_bytes())
}

fn opt_c(value: Option<&[u8]>) -> io::Result<Option<CString>> {
    value.map(cstring).transpose()
}

/// The top-level entries of an app's tree, sorted by name.
pub fn read_tree(tree: &Path) -> io::Result<Vec<TreeEntry>> {
    let mut entries = Vec::new();
    for entry in fs::read_dir(tree).map_err(context(format!("cannot read {}", tree.display())))? {
        let entry = entry?;
        let kind = match entry.file_type()? {
            t if t.is_dir() => EntryKind::Dir,
            t if t.is_symlink() => EntryKind::Symlink(fs::read_link(entry.path())?),
            _ => EntryKind::File,
        };
        entries.push(TreeEntry {
            name: entry.file_name(),
            kind,
        });
    }
    entries.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(entries)
}

/// PID 1's mounts to detach in the child when the root is entered by move +
/// chroot: every mount point of `mountinfo` except `/`, those on the way to
/// `root` and those inside it, keeping only the topmost of nested ones.
pub fn mounts_to_detach(mountinfo: &str, root: &Path) -> Vec<PathBuf> {
    let mut points: Vec<PathBuf> = crate::mountinfo::mount_points(mountinfo)
        .filter(|p| p != Path::new("/") && !root.starts_with(p) && !p.starts_with(root))
        .collect();
    points.sort();
    points.dedup();
    let all = points.clone();
    points.retain(|p| !all.iter().any(|other| other != p && p.starts_with(other)));
    points
}

/// The highest capability number of this kernel, read once.
fn last_cap() -> u32 {
    static LAST_CAP: OnceLock<u32> = OnceLock::new();
    *LAST_CAP.get_or_init(|| {
        fs::read_to_string("/proc/sys/kernel/cap_last_cap")
            .ok()
            .and_then(|text| text.trim().parse().ok())
            // CAP_CHECKPOINT_RESTORE, the last one of Linux 6.1.
            .unwrap_or(40)
    })
}

/// True when this process's root is the initramfs (`rootfs`), which
/// pivot_root cannot leave: the child then enters its root by move +
/// chroot, after detaching every other mount. Elsewhere pivot_root works,
/// and the mount table need not be read at every start. Read once: the
/// root of a running system does not change.
fn root_is_initramfs() -> bool {
    static ROOTFS: OnceLock<bool> = OnceLock::new();
    *ROOTFS.get_or_init(|| {
        let mountinfo = fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
        crate::mountinfo::root_fstype(&mountinfo).is_none_or(|fstype| fstype == "rootfs")
    })
}

fn raw_step(step: &Step) -> io::Result<RawStep> {
    Ok(match step {
        Step::Mount {
            source,
            target,
            fstype,
            flags,
            data,
        } => RawStep::Mount {
            source: opt_c(source.as_ref().map(|s| s.as_os_str().as_bytes()))?,
            target: path_c(target)?,
            fstype: opt_c(fstype.as_ref().map(String::as_bytes))?,
            flags: flags.bits(),
            data: opt_c(data.as_ref().map(String::as_bytes))?,
        },
        Step::Mkdir { path, mode } => RawStep::Mkdir {
            path: path_c(path)?,
            mode: *mode,
        },
        Step::Touch { path } => RawStep::Touch {
            path: path_c(path)?,
        },
        Step::Symlink { target, link } => RawStep::Symlink {
            target: path_c(target)?,
            link: path_c(link)?,
        },
    })
}

fn env_strings(env: &BTreeMap<String, String>) -> io::Result<Vec<CString>> {
    env.iter()
        .map(|(k, v)| cstring(format!("{k}={v}").as_bytes()))
        .collect()
}

/// The hostname of instance `instance`: the app's name, `<app>-<i>` after 0.
pub fn hostname(name: &str, instance: u32) -> String {
    if instance == 0 {
        name.to_string()
    } else {
        format!("{name}-{instance}")
    }
}

/// The entries of [`plan::PROC_MASKS`] this kernel has (an app's `/proc`
/// is of the same kernel as PID 1's), read once.
fn proc_masks() -> Vec<(&'static str, plan::ProcMask)> {
    static PRESENT: OnceLock<Vec<(&'static str, plan::ProcMask)>> = OnceLock::new();
    PRESENT
        .get_or_init(|| {
            plan::PROC_MASKS
                .into_iter()
                .filter(|(name, _)| Path::new("/proc").join(name).exists())
                .collect()
        })
        .clone()
}

/// The empty file bound over masked files of `/proc`, beside the
/// instance's `resources.json`; made at its first start.
fn empty_file(run: &Path) -> io::Result<PathBuf> {
    let path = run.join("empty");
    if !path.exists() {
        fs::write(&path, "").map_err(context(format!("cannot create {}", path.display())))?;
        fs::set_permissions(&path, fs::Permissions::from_mode(0o444))?;
    }
    Ok(path)
}

/// Creates the instance's state directories (mode 0700, owned by `uid`;
/// in a user namespace, by the host user, who is `uid` inside).
fn make_state_dirs(app: &App, state: &Path, uid: Option<u32>) -> io::Result<()> {
    for (path, grant) in &app.paths {
        if *grant != PathGrant::State {
            continue;
        }
        let dir = state.join(plan::state_dir_name(path));
        fs::create_dir_all(&dir).map_err(context(format!("cannot create {}", dir.display())))?;
        if let Some(uid) = uid {
            std::os::unix::fs::chown(&dir, Some(uid), Some(uid))
                .map_err(context(format!("cannot chown {}", dir.display())))?;
        }
        fs::set_permissions(&dir, fs::Permissions::from_mode(0o700))?;
    }
    Ok(())
}

/// The flags of the mount `path` is on that a user namespace must keep
/// when it remounts a bind of it (see [`plan::keep_locked_flags`]).
fn mount_flags(path: &Path) -> MsFlags {
    use nix::sys::statvfs::FsFlags;
    let Ok(stat) = nix::sys::statvfs::statvfs(path) else {
        return MsFlags::empty();
    };
    let have = stat.flags();
    let mut flags = MsFlags::empty();
    for (fs_flag, ms_flag) in [
        (FsFlags::ST_RDONLY, MsFlags::MS_RDONLY),
        (FsFlags::ST_NOSUID, MsFlags::MS_NOSUID),
        (FsFlags::ST_NODEV, MsFlags::MS_NODEV),
        (FsFlags::ST_NOEXEC, MsFlags::MS_NOEXEC),
        (FsFlags::ST_NOATIME, MsFlags::MS_NOATIME),
        (FsFlags::ST_NODIRATIME, MsFlags::MS_NODIRATIME),
        (FsFlags::ST_RELATIME, MsFlags::MS_RELATIME),
    ] {
        if have.contains(fs_flag) {
            flags |= ms_flag;
        }
    }
    if !flags.intersects(MsFlags::MS_NOATIME | MsFlags::MS_RELATIME) {
        flags |= MsFlags::MS_STRICTATIME;
    }
    flags
}

/// Prepares instance `instance` of `app` to run `argv` with exactly `env`:
/// every directory and file PID 1 provides, and the child's whole setup.
pub fn prepare(
    app: &App,
    instance: u32,
    paths: &SandboxPaths,
    argv: &[String],
    env: &BTreeMap<String, String>,
    resources_json: &str,
) -> io::Result<Launch> {
    let Some(program) = argv.first() else {
        return Err(io::Error::new(io::ErrorKind::InvalidInput, "exec is empty"));
    };
    let uid = paths
        .run_as
        .unwrap_or_else(|| cairn_manifest::app_uid(&app.name));
    let label = cairn_manifest::instance_label(&app.name, instance);
    let tree = paths.apps.join(&app.name);
    let root = paths.roots.join(&label);
    fs::create_dir_all(&root).map_err(context(format!("cannot create {}", root.display())))?;
    let run = paths.run.join(&label);
    fs::create_dir_all(&run).map_err(context(format!("cannot create {}", run.display())))?;
    let resources = run.join("resources.json");
    fs::write(&resources, resources_json)
        .map_err(context(format!("cannot write {}", resources.display())))?;
    fs::set_permissions(&resources, fs::Permissions::from_mode(0o644))?;
    let state = paths.state.join(&app.name).join(instance.to_string());
    let owner = paths.user_namespace.is_none().then_some(uid);
    make_state_dirs(app, &state, owner)?;
    // Without a user namespace PID 1 is privileged and mounts a tmpfs.
    let copies = WritableCopies::make(
        app,
        &tree,
        &paths.secrets,
        &run,
        owner.map(|uid| (uid, uid)),
        paths.user_namespace.is_none(),
    )?;
    let layout = Layout {
        entries: read_tree(&tree)?,
        tree,
        root: root.clone(),
        state,
        copies: copies.dir().to_path_buf(),
        resources,
        notify: fs::symlink_metadata(&paths.notify)
            .is_ok()
            .then(|| paths.notify.clone()),
        dev: paths.dev.clone(),
        empty: empty_file(&run)?,
        proc_masks: proc_masks(),
    };
    let notify_host = layout.notify.clone();
    let mut steps = plan::plan(app, &layout);
    if paths.user_namespace.is_some() {
        plan::keep_locked_flags(&mut steps, mount_flags);
    }
    let move_root = root_is_initramfs();
    let mountinfo = if move_root {
        fs::read_to_string("/proc/self/mountinfo").unwrap_or_default()
    } else {
        String::new()
    };
    let spec = SandboxSpec {
        hostname: cstring(hostname(&app.name, instance).as_bytes())?,
        cgroup_dir: None,
        cgroup_procs: None,
        steps: steps.iter().map(raw_step).collect::<io::Result<_>>()?,
        root: path_c(&root)?,
        move_root,
        detach: mounts_to_detach(&mountinfo, &root)
            .iter()
            .map(|p| path_c(p))
            .collect::<io::Result<_>>()?,
        stdio: [-1; 3],
        passed: Vec::new(),
        rlimits: Vec::new(),
        uid,
        gid: uid,
        user_namespace: paths.user_namespace.map(|ids| IdMap {
            host_uid: ids.host_uid,
            host_gid: ids.host_gid,
        }),
        last_cap: last_cap(),
        program: cstring(program.as_bytes())?,
        argv: argv
            .iter()
            .map(|a| cstring(a.as_bytes()))
            .collect::<io::Result<_>>()?,
        env: env_strings(env)?,
        filter: seccomp::program(&app.security)?,
    };
    Ok(Launch {
        spec,
        env: env.clone(),
        steps,
        cgroup: None,
        passed: Vec::new(),
        notify_host,
        copies: Some(copies),
    })
}

impl Launch {
    /// Starts the child in the cgroup `join` leads into, before anything
    /// else, so the cgroup namespace is rooted there.
    pub fn set_cgroup(&mut self, join: crate::cgroup::JoinFds) {
        self.spec.cgroup_dir = Some(join.dir.as_raw_fd());
        self.spec.cgroup_procs = Some(join.procs.as_raw_fd());
        self.cgroup = Some(join);
    }

    /// Passes `sockets` (name, listening socket) from fd 3 on, with
    /// `LISTEN_FDS`, `LISTEN_FDNAMES` and `LISTEN_PID` (always 2: the app is
    /// the first child of its namespace's reaper), as systemd's socket
    /// activation does.
    pub fn pass_sockets(&mut self, sockets: Vec<(String, OwnedFd)>) {
        let names: Vec<&str> = sockets.iter().map(|(n, _)| n.as_str()).collect();
        self.set_env("LISTEN_FDS", &sockets.len().to_string());
        self.set_env("LISTEN_FDNAMES", &names.join(":"));
        self.set_env("LISTEN_PID", APP_PID);
        self.spec.passed = sockets.iter().map(|(_, fd)| fd.as_raw_fd()).collect();
        self.passed = sockets.into_iter().map(|(_, fd)| fd).collect();
    }

    /// Resource limits set just before the ids change: (resource, soft, hard).
    pub fn set_rlimits(&mut self, limits: Vec<(libc::__rlimit_resource_t, u64, u64)>) {
        self.spec.rlimits = limits;
    }

    /// Adds (or replaces) one environment variable; one with a nul byte
    /// cannot be passed and is left out with a warning. A `NOTIFY_SOCKET`
    /// naming the socket's host path becomes [`NOTIFY_SOCKET`], where the
    /// app finds it.
    pub fn set_env(&mut self, key: &str, value: &str) {
        let value = match &self.notify_host {
            Some(host) if key == "NOTIFY_SOCKET" && Path::new(value) == host => NOTIFY_SOCKET,
            _ => value,
        };
        let mut env = self.env.clone();
        env.insert(key.to_string(), value.to_string());
        match env_strings(&env) {
            Ok(strings) => {
                self.spec.env = strings;
                self.env = env;
            }
            Err(err) => tracing::warn!("environment variable {key} not set: {err}"),
        }
    }

    /// The ordered mount plan (for messages and tests).
    pub fn steps(&self) -> &[Step] {
        &self.steps
    }

    /// Starts the instance: stdin from /dev/null, stdout and stderr to new
    /// pipes whose read ends are returned. The pid returned is the
    /// namespace's reaper's, which lives and ends with the app.
    pub fn spawn(&mut self) -> io::Result<Started> {
        let null = fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_CLOEXEC)
            .open("/dev/null")?;
        let cloexec = nix::fcntl::OFlag::O_CLOEXEC;
        let (out_read, out_write) = nix::unistd::pipe2(cloexec).map_err(cairn_sys::io_err)?;
        let (err_read, err_write) = nix::unistd::pipe2(cloexec).map_err(cairn_sys::io_err)?;
        self.spec.stdio = [
            null.as_raw_fd(),
            out_write.as_raw_fd(),
            err_write.as_raw_fd(),
        ];
        let result = spawn::spawn_sandboxed(&self.spec);
        self.spec.stdio = [-1; 3];
        match result {
            Ok(pid) => Ok(Started {
                pid,
                stdout: out_read,
                stderr: err_read,
                copies: self.copies.take(),
            }),
            Err(SpawnError::Os(err)) => Err(context("cannot clone")(err)),
            Err(SpawnError::Setup {
                stage,
                index,
                error,
            }) => {
                let what = match stage {
                    Stage::Step => self
                        .steps
                        .get(index)
                        .map_or_else(|| format!("step {index}"), ToString::to_string),
                    other => format!("{other:?}").to_lowercase(),
                };
                Err(io::Error::new(
                    error.kind(),
                    format!("sandbox setup failed ({what}): {error}"),
                ))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mounts_to_detach_skip_the_way_to_the_root_and_nested_ones() {
        let mountinfo = "\
1 0 0:1 / / rw - rootfs rootfs rw
2 1 0:2 / /proc rw - proc proc rw
3 1 0:3 / /dev rw - devtmpfs devtmpfs rw
4 3 0:4 / /dev/pts rw - devpts devpts rw
5 1 0:5 / /run rw - tmpfs tmpfs rw
6 5 0:6 / /run/os/esp rw - vfat vfat rw
7 5 0:7 / /run/os/roots/web rw - tmpfs tmpfs rw
8 7 0:8 / /run/os/roots/web/bin ro - squashfs squashfs ro
9 1 0:9 / /my\\040data rw - ext4 ext4 rw
";
        let detach = mounts_to_detach(mountinfo, Path::new("/run/os/roots/web"));
        let expected: Vec<PathBuf> = ["/dev", "/my data", "/proc", "/run/os/esp"]
            .iter()
            .map(PathBuf::from)
            .collect();
        assert_eq!(detach, expected);
    }

    #[test]
    fn hostnames_name_extra_instances() {
        assert_eq!(hostname("web", 0), "web");
        assert_eq!(hostname("web", 3), "web-3");
    }
}
