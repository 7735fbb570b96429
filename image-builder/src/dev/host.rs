//! What this machine lets `cairn dev` do: user namespaces for an ordinary
//! user (required), and a cgroup v2 subtree of its own for limits (used
//! when there is one; otherwise the supervisor warns about each limit it
//! cannot enforce).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::bail;
use cairn_supervisor::cgroup::{self, CgroupRoot};
use cairn_supervisor::sandbox::UserNamespace;

/// How apps are started here.
#[derive(Debug)]
pub struct Host {
    /// None: root, the apps switch to their own uids as under PID 1.
    pub user_namespace: Option<UserNamespace>,
    /// The cgroup subtree app instances get their leaves in.
    pub cgroups: Option<Arc<CgroupRoot>>,
    /// Why there is no cgroup subtree, when there is none.
    pub no_cgroups: Option<String>,
}

/// The sysctls that switch unprivileged user namespaces off, with their
/// values, for the error message.
fn userns_sysctls() -> String {
    let values: Vec<String> = [
        "/proc/sys/kernel/unprivileged_userns_clone",
        "/proc/sys/user/max_user_namespaces",
        "/proc/sys/kernel/apparmor_restrict_unprivileged_userns",
    ]
    .iter()
    .filter_map(|path| {
        let value = std::fs::read_to_string(path).ok()?;
        let name = path.trim_start_matches("/proc/sys/").replace('/', ".");
        Some(format!("{name} = {}", value.trim()))
    })
    .collect();
    values.join(", ")
}

/// Finds out how apps can run here; fails when an ordinary user cannot
/// create user namespaces.
pub fn detect() -> anyhow::Result<Host> {
    let root = nix::unistd::geteuid().is_root();
    let user_namespace = if root {
        None
    } else {
        if let Err(err) = cairn_supervisor::sys::spawn::probe_user_namespace() {
            bail!(
                "cairn dev runs apps in user namespaces, and this machine does not let an \
                 ordinary user create one: {err} ({}); allow them (sysctl \
                 kernel.unprivileged_userns_clone=1 or user.max_user_namespaces=10000), or run \
                 cairn dev as root",
                userns_sysctls()
            );
        }
        Some(UserNamespace::current())
    };
    let (cgroups, no_cgroups) = match own_subtree(root) {
        Ok(dir) => match CgroupRoot::setup(&dir) {
            Ok(found) => (Some(Arc::new(found)), None),
            Err(err) => (None, Some(format!("cannot use {}: {err}", dir.display()))),
        },
        Err(why) => (None, Some(why)),
    };
    Ok(Host {
        user_namespace,
        cgroups,
        no_cgroups,
    })
}

/// This process's cgroup v2 directory, if it may make cgroups in it: as
/// root always, otherwise when it was delegated to this user (it is
/// theirs, as `systemd-run --user -p Delegate=yes` arranges).
fn own_subtree(root: bool) -> Result<PathBuf, String> {
    let mountinfo = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    let Some(mount) = cgroup::cgroup2_mount_point(&mountinfo) else {
        return Err("no cgroup v2 hierarchy is mounted".to_string());
    };
    let own = std::fs::read_to_string("/proc/self/cgroup").unwrap_or_default();
    let Some(own) = cgroup::own_cgroup(&own) else {
        return Err("this process is in no cgroup v2".to_string());
    };
    let dir = mount.join(own.trim_start_matches('/'));
    if root || owned_by_me(&dir) {
        Ok(dir)
    } else {
        Err(format!(
            "{} is not delegated to this user (run cairn dev under \
             `systemd-run --user --scope -p Delegate=yes` to enforce limits)",
            dir.display()
        ))
    }
}

fn owned_by_me(dir: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata(dir).is_ok_and(|m| m.uid() == nix::unistd::geteuid().as_raw())
}
