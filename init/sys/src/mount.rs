//! mount(2) and umount2(2), behind the [`MountOps`] trait.
//!
//! The order and flags of PID 1's mounts matter (devtmpfs before devpts,
//! reverse order at shutdown, lazy detach when busy). The trait lets that logic
//! in `mounts` be unit-tested with a recording fake instead of root and a VM.

use std::io;
use std::path::Path;

pub use nix::mount::MsFlags;

use crate::io_err;

/// The mount operations PID 1 performs.
pub trait MountOps {
    /// Mounts `source` of type `fstype` at `target`; `data` is the option
    /// string (empty for none).
    fn mount(
        &mut self,
        source: &str,
        target: &Path,
        fstype: &str,
        flags: MsFlags,
        data: &str,
    ) -> io::Result<()>;

    /// Unmounts `target`; `detach` makes it lazy (MNT_DETACH).
    fn unmount(&mut self, target: &Path, detach: bool) -> io::Result<()>;

    /// Creates a mount point (and its parents) if missing.
    fn make_dir(&mut self, path: &Path) -> io::Result<()>;
}

/// The real kernel.
#[derive(Debug, Default, Clone, Copy)]
pub struct Linux;

impl MountOps for Linux {
    fn mount(
        &mut self,
        source: &str,
        target: &Path,
        fstype: &str,
        flags: MsFlags,
        data: &str,
    ) -> io::Result<()> {
        let data = if data.is_empty() { None } else { Some(data) };
        nix::mount::mount(Some(source), target, Some(fstype), flags, data).map_err(io_err)
    }

    fn unmount(&mut self, target: &Path, detach: bool) -> io::Result<()> {
        let flags = if detach {
            nix::mount::MntFlags::MNT_DETACH
        } else {
            nix::mount::MntFlags::empty()
        };
        nix::mount::umount2(target, flags).map_err(io_err)
    }

    fn make_dir(&mut self, path: &Path) -> io::Result<()> {
        std::fs::create_dir_all(path)
    }
}
