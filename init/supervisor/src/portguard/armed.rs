//! The guard's hooks held enabled for the life of the system.
//!
//! The kernel skips its cgroup BPF hooks behind static keys: the first
//! program attached at a hook anywhere makes the kernel rewrite its own
//! code at every call site of that hook, and the last one detached makes
//! it rewrite them back. A CPU that executes a call site while another
//! rewrites it is the one moment this is delicate; under QEMU's TCG it
//! hung the guest in about one boot in thirty (a soft lockup of the DHCP
//! thread, which was binding its socket while the first app's guard was
//! attached). [`arm_hooks`] attaches a program that allows every bind to
//! the root of the cgroup tree once, before PID 1 starts any other thread
//! that binds, so the keys are set while nothing else runs that code, and
//! stay set when the last app stops.

use std::fs::OpenOptions;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use super::program::Insn;
use super::{load, sys, PortGuardError, HOOKS};

/// `BPF_F_ALLOW_MULTI`: programs in descendant cgroups run as well, so each
/// app's own guard still decides for it.
const ALLOW_MULTI: u32 = 1 << 1;

/// Attaches an allow-every-bind program at both of the guard's hooks to the
/// cgroup at `cgroup_dir` (the root of the tree), with `BPF_F_ALLOW_MULTI`.
/// A bind must pass every program on its cgroup's path, and this one passes
/// all, so it changes nothing but the hooks' keys. The cgroup keeps the
/// programs after the descriptors are closed.
pub fn arm_hooks(cgroup_dir: &Path) -> Result<(), PortGuardError> {
    let dir: OwnedFd = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_DIRECTORY | libc::O_CLOEXEC)
        .open(cgroup_dir)
        .map_err(|source| PortGuardError::OpenCgroup {
            path: cgroup_dir.to_path_buf(),
            source,
        })?
        .into();
    let allow_all = [Insn::mov_imm(0, 1), Insn::exit()];
    for (attach_type, hook) in HOOKS {
        let prog = load(&allow_all, attach_type, hook)?;
        sys::prog_attach(dir.as_fd(), prog.as_fd(), attach_type, ALLOW_MULTI).map_err(
            |source| PortGuardError::Attach {
                hook,
                cgroup: cgroup_dir.display().to_string(),
                source,
            },
        )?;
    }
    Ok(())
}
