//! The writer's two targets behind one small trait, so tests use a plain
//! file as the bank partition and a directory as the ESP.

use std::fs::{self, File, OpenOptions};
use std::io;
use std::path::{Path, PathBuf};
use std::thread;
use std::time::Duration;

use cairn_update::entries::Bank;
use nix::mount::{mount, umount2, MntFlags, MsFlags};

use crate::config::{Banks, EspAccess};

/// Free room on the ESP and its allocation unit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Space {
    pub free: u64,
    pub block: u64,
}

/// The devices an update touches.
pub trait Disk: Send + Sync {
    /// The bank's partition, open for writing from its first byte.
    fn open_bank(&self, bank: Bank) -> io::Result<File>;
    /// Makes the ESP's files reachable; returns their root.
    fn mount_esp(&self) -> io::Result<PathBuf>;
    /// Undoes [`Disk::mount_esp`].
    fn unmount_esp(&self) -> io::Result<()>;
    /// Free bytes on the ESP, as an unprivileged writer could use them.
    fn esp_space(&self, root: &Path) -> io::Result<Space>;
}

/// The real devices: the configured partitions, and the ESP mounted at the
/// writer's own mount point (or a directory, for tests).
#[derive(Debug, Clone)]
pub struct SystemDisk {
    banks: Banks,
    esp: EspAccess,
}

impl SystemDisk {
    pub fn new(banks: Banks, esp: EspAccess) -> SystemDisk {
        SystemDisk { banks, esp }
    }
}

impl Disk for SystemDisk {
    fn open_bank(&self, bank: Bank) -> io::Result<File> {
        // Never created or truncated: the path must be the partition.
        OpenOptions::new().write(true).open(self.banks.device(bank))
    }

    fn mount_esp(&self) -> io::Result<PathBuf> {
        match &self.esp {
            EspAccess::Dir(dir) => Ok(dir.clone()),
            EspAccess::Device {
                device,
                mount_point,
            } => {
                fs::create_dir_all(mount_point)?;
                // A writer that died mid-update may have left it mounted.
                let _ = umount2(mount_point.as_path(), MntFlags::MNT_DETACH);
                mount(
                    Some(device.as_path()),
                    mount_point.as_path(),
                    Some("vfat"),
                    MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC,
                    Some("umask=0077"),
                )
                .map_err(|e| {
                    io::Error::new(
                        io::Error::from(e).kind(),
                        format!(
                            "mounting {} at {}: {e}",
                            device.display(),
                            mount_point.display()
                        ),
                    )
                })?;
                Ok(mount_point.clone())
            }
        }
    }

    fn unmount_esp(&self) -> io::Result<()> {
        let EspAccess::Device { mount_point, .. } = &self.esp else {
            return Ok(());
        };
        // PID 1 may be blessing an entry through its own mount of the same
        // filesystem; a busy mount point clears within moments.
        for _ in 0..20 {
            match umount2(mount_point.as_path(), MntFlags::empty()) {
                Ok(()) => return Ok(()),
                Err(nix::errno::Errno::EBUSY) => thread::sleep(Duration::from_millis(100)),
                Err(e) => return Err(e.into()),
            }
        }
        umount2(mount_point.as_path(), MntFlags::MNT_DETACH).map_err(io::Error::from)
    }

    fn esp_space(&self, root: &Path) -> io::Result<Space> {
        let stat = nix::sys::statvfs::statvfs(root)?;
        let block = stat.fragment_size().max(1);
        Ok(Space {
            free: stat.blocks_available().saturating_mul(block),
            block,
        })
    }
}
