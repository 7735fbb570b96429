//! The mounts that build an app instance's root, as a pure, ordered list.
//!
//! The root is a fresh tmpfs (the app's tree is read-only squashfs, so it has
//! no mount points of its own for /dev, /proc or /run). Into it go, in order:
//!
//! 1. every top-level entry of the app's tree: a directory or file is
//!    bind-mounted read-only (nosuid, nodev), a symlink is recreated as it is;
//!    the tree's own `dev`, `proc`, `sys` and `run` are left out, the OS
//!    provides those;
//! 2. `/dev`: a small tmpfs with the device nodes null, zero, full, random,
//!    urandom and tty bound from the OS's /dev, a private devpts instance,
//!    `/dev/ptmx`, `/dev/shm` and the usual /proc/self/fd links;
//! 3. `/proc`: a new proc of the app's own PID namespace, with what
//!    Docker masks masked ([`PROC_MASKS`]): an empty read-only file bound
//!    over the kernel's memory, keys and debug files, an empty read-only
//!    tmpfs over `acpi` and `scsi`, and `sys`, `bus`, `fs` and `irq`
//!    bound over themselves read-only;
//! 4. `/run`: a small root-owned tmpfs holding `/run/cairn/resources.json`
//!    (read-only) and, when PID 1 has one, the notify socket;
//! 5. the grants, parents first: `state` paths bind the instance's directory
//!    on the data partition read-write (nosuid, nodev), `tmpfs` paths get a
//!    fresh size-limited tmpfs; bundled paths are already in the tree, and a
//!    writable one (`readonly = false`) gets the instance's fresh copy of
//!    what is shipped there bound over it read-write (nosuid, nodev; see
//!    [`super::writable`]). A `state` or `tmpfs` grant whose first component
//!    is not in the tree gets its directories created in the root tmpfs;
//! 6. the secrets: each granted secret's copy (made for this start, owned
//!    by the app's uid, mode 0400, see [`super::writable`]) bound read-only
//!    (nosuid, nodev, noexec) at its path; outside the tree its directories
//!    and the file to bind over are created, inside a shipped directory
//!    the app ships a placeholder file there;
//! 7. the root tmpfs itself is made read-only.
//!
//! Every path in a step is absolute in PID 1's mount namespace; entering the
//! root (pivot_root or move + chroot) happens after the steps.

use std::collections::BTreeSet;
use std::ffi::OsString;
use std::fmt;
use std::path::{Component, Path, PathBuf};

use cairn_manifest::{App, PathGrant};
use nix::mount::MsFlags;

/// What a top-level entry of the app's tree is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EntryKind {
    Dir,
    /// A file, or anything else that is not a directory or symlink.
    File,
    Symlink(PathBuf),
}

/// One top-level entry of the app's tree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TreeEntry {
    pub name: OsString,
    pub kind: EntryKind,
}

/// Where everything is, for one instance, in PID 1's mount namespace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layout {
    /// The app's tree (`/bank/apps/<name>`).
    pub tree: PathBuf,
    /// Its top-level entries, sorted by name.
    pub entries: Vec<TreeEntry>,
    /// An empty directory that becomes the app's `/`.
    pub root: PathBuf,
    /// The instance's state directory (`/data/apps/<name>/<instance>`).
    pub state: PathBuf,
    /// The directory holding this start's writable copies of bundled
    /// paths, one per path at its escaped name ([`state_dir_name`]), and
    /// its secrets' copies in [`SECRETS_DIR`].
    pub copies: PathBuf,
    /// The file bound read-only at `/run/cairn/resources.json`.
    pub resources: PathBuf,
    /// PID 1's notify socket, bound at `/run/cairn/notify` when present.
    pub notify: Option<PathBuf>,
    /// The OS's /dev, whose device nodes are bound into the app's.
    pub dev: PathBuf,
    /// An empty file, bound read-only over the masked files of `/proc`.
    pub empty: PathBuf,
    /// The entries of [`PROC_MASKS`] this kernel's `/proc` has.
    pub proc_masks: Vec<(&'static str, ProcMask)>,
}

/// How an entry of an app's `/proc` is masked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProcMask {
    /// A file that reads empty and cannot be written.
    EmptyFile,
    /// A directory that is empty and cannot be written.
    EmptyDir,
    /// Stays readable; writes fail with `EROFS`.
    ReadOnly,
}

/// What of `/proc` an app gets masked, as Docker's default does: the
/// kernel's memory (`kcore`), the keys of the whole system, timer and
/// scheduler internals that leak addresses and other processes' activity,
/// the magic SysRq key; the firmware's and the SCSI bus's tables; and the
/// kernel's settings, which no app may change.
pub const PROC_MASKS: [(&str, ProcMask); 12] = [
    ("kcore", ProcMask::EmptyFile),
    ("keys", ProcMask::EmptyFile),
    ("latency_stats", ProcMask::EmptyFile),
    ("sched_debug", ProcMask::EmptyFile),
    ("sysrq-trigger", ProcMask::EmptyFile),
    ("timer_list", ProcMask::EmptyFile),
    ("acpi", ProcMask::EmptyDir),
    ("scsi", ProcMask::EmptyDir),
    ("bus", ProcMask::ReadOnly),
    ("fs", ProcMask::ReadOnly),
    ("irq", ProcMask::ReadOnly),
    ("sys", ProcMask::ReadOnly),
];

/// One step of building the root.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    Mount {
        source: Option<PathBuf>,
        target: PathBuf,
        fstype: Option<String>,
        flags: MsFlags,
        data: Option<String>,
    },
    Mkdir {
        path: PathBuf,
        mode: u32,
    },
    /// Creates an empty file to bind a file over.
    Touch {
        path: PathBuf,
    },
    Symlink {
        target: PathBuf,
        link: PathBuf,
    },
}

/// The device nodes an app gets.
pub const DEVICES: [&str; 6] = ["null", "zero", "full", "random", "urandom", "tty"];

/// Top-level names the OS provides; a tree's own are not bound.
const PROVIDED: [&str; 4] = ["dev", "proc", "sys", "run"];

/// Under an instance's copies directory, the directory of its secrets'
/// copies, one file per secret name. Path escaping never yields `@`, so
/// no writable copy can be named so.
pub const SECRETS_DIR: &str = "@secrets";

/// A `tmpfs` grant's size when the app has no memory limit.
pub const DEFAULT_TMPFS_BYTES: u64 = 64 << 20;

const RO_BIND_REMOUNT: MsFlags = MsFlags::MS_REMOUNT
    .union(MsFlags::MS_BIND)
    .union(MsFlags::MS_RDONLY)
    .union(MsFlags::MS_NOSUID)
    .union(MsFlags::MS_NODEV);
const NOSUID_NODEV: MsFlags = MsFlags::MS_NOSUID.union(MsFlags::MS_NODEV);
const NOSUID_NODEV_NOEXEC: MsFlags = NOSUID_NODEV.union(MsFlags::MS_NOEXEC);

impl Step {
    /// `mount -t <fstype> <fstype> target -o data`.
    pub fn fs(fstype: &str, target: PathBuf, flags: MsFlags, data: &str) -> Step {
        Step::Mount {
            source: Some(PathBuf::from(fstype)),
            target,
            fstype: Some(fstype.to_string()),
            flags,
            data: Some(data.to_string()),
        }
    }

    /// A recursive bind mount.
    pub fn bind(source: PathBuf, target: PathBuf) -> Step {
        Step::Mount {
            source: Some(source),
            target,
            fstype: None,
            flags: MsFlags::MS_BIND | MsFlags::MS_REC,
            data: None,
        }
    }

    /// Changes the flags of the bind mount at `target`.
    pub fn remount_bind(target: PathBuf, flags: MsFlags) -> Step {
        Step::Mount {
            source: None,
            target,
            fstype: None,
            flags: MsFlags::MS_REMOUNT | MsFlags::MS_BIND | flags,
            data: None,
        }
    }

    /// Makes every mount private, so nothing propagates back to PID 1.
    pub fn make_private() -> Step {
        Step::Mount {
            source: None,
            target: PathBuf::from("/"),
            fstype: None,
            flags: MsFlags::MS_REC | MsFlags::MS_PRIVATE,
            data: None,
        }
    }
}

impl fmt::Display for Step {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Step::Mount {
                source,
                target,
                fstype,
                ..
            } => {
                let what = match (source, fstype) {
                    (_, Some(fstype)) => fstype.clone(),
                    (Some(source), None) => format!("bind {}", source.display()),
                    (None, None) => "remount".to_string(),
                };
                write!(f, "mount {what} on {}", target.display())
            }
            Step::Mkdir { path, .. } => write!(f, "mkdir {}", path.display()),
            Step::Touch { path } => write!(f, "create {}", path.display()),
            Step::Symlink { link, .. } => write!(f, "symlink {}", link.display()),
        }
    }
}

/// The directory name of a `state` grant under the instance's state
/// directory: systemd's path escaping, so `/var/lib/my-app` becomes
/// `var-lib-my\x2dapp`, readable and never ambiguous.
pub fn state_dir_name(path: &str) -> String {
    let trimmed = path.trim_matches('/');
    let mut out = String::new();
    for (i, byte) in trimmed.bytes().enumerate() {
        match byte {
            b'/' => out.push('-'),
            b'.' if i == 0 => out.push_str("\\x2e"),
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b':' | b'_' | b'.' => {
                out.push(char::from(byte));
            }
            _ => out.push_str(&format!("\\x{byte:02x}")),
        }
    }
    out
}

/// `root` joined with an absolute path inside the app.
fn inside(root: &Path, path: &Path) -> PathBuf {
    let mut out = root.to_path_buf();
    for component in path.components() {
        if let Component::Normal(part) = component {
            out.push(part);
        }
    }
    out
}

/// The ordered steps that build the root of `app` for `layout` (see the
/// module docs).
pub fn plan(app: &App, layout: &Layout) -> Vec<Step> {
    let root = &layout.root;
    let mut steps = vec![
        Step::make_private(),
        Step::fs("tmpfs", root.clone(), NOSUID_NODEV, "mode=0755,size=1m"),
    ];
    let mut tree_dirs = BTreeSet::new();
    for entry in &layout.entries {
        if PROVIDED.iter().any(|p| entry.name == *p) {
            continue;
        }
        let target = root.join(&entry.name);
        let source = layout.tree.join(&entry.name);
        match &entry.kind {
            EntryKind::Dir => {
                tree_dirs.insert(entry.name.clone());
                steps.push(Step::Mkdir {
                    path: target.clone(),
                    mode: 0o755,
                });
            }
            EntryKind::File => steps.push(Step::Touch {
                path: target.clone(),
            }),
            EntryKind::Symlink(to) => {
                steps.push(Step::Symlink {
                    target: to.clone(),
                    link: target,
                });
                continue;
            }
        }
        steps.push(Step::bind(source, target.clone()));
        steps.push(Step::remount_bind(target, RO_BIND_REMOUNT));
    }
    push_dev(&mut steps, root, &layout.dev);
    let proc = root.join("proc");
    steps.push(Step::Mkdir {
        path: proc.clone(),
        mode: 0o555,
    });
    steps.push(Step::fs("proc", proc.clone(), NOSUID_NODEV_NOEXEC, ""));
    push_proc_masks(&mut steps, &proc, layout);
    push_run(&mut steps, root, layout);
    push_grants(&mut steps, app, layout, &tree_dirs);
    steps.push(Step::Mount {
        source: None,
        target: root.clone(),
        fstype: None,
        flags: MsFlags::MS_REMOUNT | MsFlags::MS_RDONLY | NOSUID_NODEV,
        data: None,
    });
    steps
}

fn push_dev(steps: &mut Vec<Step>, root: &Path, host_dev: &Path) {
    let dev = root.join("dev");
    steps.push(Step::Mkdir {
        path: dev.clone(),
        mode: 0o755,
    });
    // Not nodev: the bound device nodes below must work. The app cannot
    // create nodes of its own (no CAP_MKNOD, and the tmpfs is root's).
    steps.push(Step::fs(
        "tmpfs",
        dev.clone(),
        MsFlags::MS_NOSUID | MsFlags::MS_NOEXEC,
        "mode=0755,size=64k",
    ));
    for name in DEVICES {
        let target = dev.join(name);
        steps.push(Step::Touch {
            path: target.clone(),
        });
        steps.push(Step::bind(host_dev.join(name), target));
    }
    let pts = dev.join("pts");
    steps.push(Step::Mkdir {
        path: pts.clone(),
        mode: 0o755,
    });
    steps.push(Step::fs(
        "devpts",
        pts,
        MsFlags::MS_NOSUID | MsFlags::MS_NOEXEC,
        "newinstance,ptmxmode=0666,mode=0620",
    ));
    let shm = dev.join("shm");
    steps.push(Step::Mkdir {
        path: shm.clone(),
        mode: 0o1777,
    });
    steps.push(Step::fs(
        "tmpfs",
        shm,
        NOSUID_NODEV,
        &format!("mode=1777,size={DEFAULT_TMPFS_BYTES}"),
    ));
    for (link, to) in [
        ("ptmx", "pts/ptmx"),
        ("fd", "/proc/self/fd"),
        ("stdin", "/proc/self/fd/0"),
        ("stdout", "/proc/self/fd/1"),
        ("stderr", "/proc/self/fd/2"),
    ] {
        steps.push(Step::Symlink {
            target: PathBuf::from(to),
            link: dev.join(link),
        });
    }
}

fn push_proc_masks(steps: &mut Vec<Step>, proc: &Path, layout: &Layout) {
    let read_only = RO_BIND_REMOUNT.union(MsFlags::MS_NOEXEC);
    for (name, mask) in &layout.proc_masks {
        let target = proc.join(name);
        match mask {
            ProcMask::EmptyFile => {
                steps.push(Step::bind(layout.empty.clone(), target.clone()));
                steps.push(Step::remount_bind(target, read_only));
            }
            ProcMask::EmptyDir => steps.push(Step::fs(
                "tmpfs",
                target,
                MsFlags::MS_RDONLY | NOSUID_NODEV_NOEXEC,
                "mode=0555,size=4k",
            )),
            ProcMask::ReadOnly => {
                steps.push(Step::bind(target.clone(), target.clone()));
                steps.push(Step::remount_bind(target, read_only));
            }
        }
    }
}

fn push_run(steps: &mut Vec<Step>, root: &Path, layout: &Layout) {
    let run = root.join("run");
    let cairn = run.join("cairn");
    steps.push(Step::Mkdir {
        path: run.clone(),
        mode: 0o755,
    });
    steps.push(Step::fs(
        "tmpfs",
        run,
        NOSUID_NODEV_NOEXEC,
        "mode=0755,size=1m",
    ));
    steps.push(Step::Mkdir {
        path: cairn.clone(),
        mode: 0o755,
    });
    let resources = cairn.join("resources.json");
    steps.push(Step::Touch {
        path: resources.clone(),
    });
    steps.push(Step::bind(layout.resources.clone(), resources.clone()));
    steps.push(Step::remount_bind(resources, RO_BIND_REMOUNT));
    if let Some(socket) = &layout.notify {
        let target = cairn.join("notify");
        steps.push(Step::Touch {
            path: target.clone(),
        });
        steps.push(Step::bind(socket.clone(), target));
    }
}

fn push_grants(steps: &mut Vec<Step>, app: &App, layout: &Layout, tree_dirs: &BTreeSet<OsString>) {
    let root = &layout.root;
    // Directories that exist in the root: the OS-provided ones, and those
    // created for earlier grants.
    let mut made: BTreeSet<PathBuf> = ["/run", cairn_layout::run::DIR]
        .iter()
        .map(PathBuf::from)
        .collect();
    for (name, grant) in &app.paths {
        let path = Path::new(name);
        if let PathGrant::Bundle { readonly, .. } = grant {
            // Shipped in the tree, so the mount point is there already.
            if !readonly {
                let target = inside(root, path);
                steps.push(Step::bind(
                    layout.copies.join(state_dir_name(name)),
                    target.clone(),
                ));
                steps.push(Step::remount_bind(target, NOSUID_NODEV));
            }
            continue;
        }
        if !in_tree(path, tree_dirs) {
            // Outside the tree: the mount point is made in a tmpfs of ours.
            make_dirs(steps, root, path.components().skip(1), &mut made);
        }
        let target = inside(root, path);
        match grant {
            PathGrant::State => {
                let source = layout.state.join(state_dir_name(name));
                steps.push(Step::bind(source, target.clone()));
                steps.push(Step::remount_bind(target, NOSUID_NODEV));
            }
            PathGrant::Tmpfs => {
                let size = app.limits.memory.unwrap_or(DEFAULT_TMPFS_BYTES);
                steps.push(Step::fs(
                    "tmpfs",
                    target,
                    NOSUID_NODEV,
                    &format!("mode=1777,size={size}"),
                ));
            }
            PathGrant::Bundle { .. } => {}
        }
    }
    for (name, secret) in &app.secrets {
        let path = Path::new(name);
        let target = inside(root, path);
        if !in_tree(path, tree_dirs) {
            // Its directories and the file to bind over are made in a
            // tmpfs of ours; inside a shipped directory the app ships the
            // file (a placeholder), as a bind needs something to cover.
            let mut parents = path.components().skip(1).collect::<Vec<_>>();
            parents.pop();
            make_dirs(steps, root, parents.into_iter(), &mut made);
            steps.push(Step::Touch {
                path: target.clone(),
            });
        }
        steps.push(Step::bind(
            layout.copies.join(SECRETS_DIR).join(secret),
            target.clone(),
        ));
        steps.push(Step::remount_bind(
            target,
            RO_BIND_REMOUNT | MsFlags::MS_NOEXEC,
        ));
    }
}

/// Whether `path`'s first component is a directory of the app's tree.
fn in_tree(path: &Path, tree_dirs: &BTreeSet<OsString>) -> bool {
    path.components()
        .find_map(|c| match c {
            Component::Normal(first) => Some(tree_dirs.contains(first)),
            _ => None,
        })
        .unwrap_or(false)
}

/// Makes each directory on the way `components` lead from `/` that is not
/// made yet.
fn make_dirs<'a>(
    steps: &mut Vec<Step>,
    root: &Path,
    components: impl Iterator<Item = Component<'a>>,
    made: &mut BTreeSet<PathBuf>,
) {
    let mut prefix = PathBuf::from("/");
    for component in components {
        prefix.push(component);
        if made.insert(prefix.clone()) {
            steps.push(Step::Mkdir {
                path: inside(root, &prefix),
                mode: 0o755,
            });
        }
    }
}

/// Adds to each read-only or read-write remount of a bind the flags `of`
/// reports for the bind's source. In a user namespace, a bind of a host
/// mount keeps that mount's flags locked (noexec, nosuid, nodev, read-only
/// and its atime mode): a remount that left one out would be refused, so
/// it is carried over. Adding restrictions is always allowed.
pub fn keep_locked_flags(steps: &mut [Step], of: impl Fn(&Path) -> MsFlags) {
    let mut sources: Vec<(PathBuf, PathBuf)> = Vec::new();
    for step in steps {
        let Step::Mount {
            source,
            target,
            fstype: None,
            flags,
            ..
        } = step
        else {
            continue;
        };
        if !flags.contains(MsFlags::MS_BIND) {
            continue;
        }
        if !flags.contains(MsFlags::MS_REMOUNT) {
            if let Some(source) = source {
                sources.push((target.clone(), source.clone()));
            }
            continue;
        }
        if let Some((_, source)) = sources.iter().rev().find(|(t, _)| t == target) {
            *flags |= of(source);
        }
    }
}

/// The first `state` path in sorted order: the app's `STATE_DIR`.
pub fn state_dir(app: &App) -> Option<&str> {
    app.paths
        .iter()
        .find(|(_, grant)| **grant == PathGrant::State)
        .map(|(path, _)| path.as_str())
}

#[cfg(test)]
#[path = "plan_tests.rs"]
mod tests;
