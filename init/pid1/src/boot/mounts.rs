//! The filesystems PID 1 mounts, and unmounting them again in reverse order.
//!
//! [`MountTable`] remembers every mount PID 1 made so shutdown can take them
//! down last-first: /data and /bank before the API filesystems they sit
//! beside. A mount that is still busy at shutdown is detached lazily, so
//! power-off never hangs on it; the data was synced before.

use std::io;
use std::path::PathBuf;

use cairn_sys::mount::{MountOps, MsFlags};

/// One mount to make.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MountSpec {
    pub source: String,
    pub target: PathBuf,
    pub fstype: String,
    pub flags: MsFlags,
    pub data: String,
}

impl MountSpec {
    pub fn new(source: &str, target: &str, fstype: &str, flags: MsFlags, data: &str) -> Self {
        MountSpec {
            source: source.to_string(),
            target: PathBuf::from(target),
            fstype: fstype.to_string(),
            flags,
            data: data.to_string(),
        }
    }
}

/// The API filesystems of step 1, in mount order.
pub fn early_mounts() -> Vec<MountSpec> {
    let secure = MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC;
    let tmp = MsFlags::MS_NOSUID | MsFlags::MS_NODEV;
    vec![
        MountSpec::new("proc", "/proc", "proc", secure, ""),
        MountSpec::new("sysfs", "/sys", "sysfs", secure, ""),
        MountSpec::new(
            "devtmpfs",
            "/dev",
            "devtmpfs",
            MsFlags::MS_NOSUID,
            "mode=0755",
        ),
        MountSpec::new(
            "devpts",
            "/dev/pts",
            "devpts",
            MsFlags::MS_NOSUID | MsFlags::MS_NOEXEC,
            "mode=0620,ptmxmode=0666",
        ),
        MountSpec::new("tmpfs", "/dev/shm", "tmpfs", tmp, "mode=1777"),
        MountSpec::new("tmpfs", "/run", "tmpfs", tmp, "mode=0755"),
        MountSpec::new("tmpfs", "/tmp", "tmpfs", tmp, "mode=1777"),
        MountSpec::new("cgroup2", "/sys/fs/cgroup", "cgroup2", secure, ""),
    ]
}

/// How one unmount at shutdown went.
#[derive(Debug)]
pub enum Unmounted {
    Clean,
    /// It was busy and has been detached lazily.
    Detached,
    Failed(io::Error),
}

/// Every mount PID 1 made, in order.
#[derive(Debug, Default)]
pub struct MountTable {
    mounted: Vec<PathBuf>,
}

impl MountTable {
    /// Creates the mount point and mounts `spec`. A target that is already a
    /// mount point (EBUSY) counts as mounted.
    pub fn mount(&mut self, ops: &mut impl MountOps, spec: &MountSpec) -> io::Result<()> {
        ops.make_dir(&spec.target)?;
        match ops.mount(
            &spec.source,
            &spec.target,
            &spec.fstype,
            spec.flags,
            &spec.data,
        ) {
            Ok(()) => {}
            Err(err) if err.raw_os_error() == Some(libc::EBUSY) => {}
            Err(err) => return Err(err),
        }
        if !self.mounted.contains(&spec.target) {
            self.mounted.push(spec.target.clone());
        }
        Ok(())
    }

    /// Mounts every spec, returning the ones that failed (boot goes on; what
    /// needs a missing mount fails loudly later).
    pub fn mount_all(
        &mut self,
        ops: &mut impl MountOps,
        specs: &[MountSpec],
    ) -> Vec<(PathBuf, io::Error)> {
        let mut failed = Vec::new();
        for spec in specs {
            if let Err(err) = self.mount(ops, spec) {
                failed.push((spec.target.clone(), err));
            }
        }
        failed
    }

    /// True when `target` is in the table.
    #[cfg(test)]
    pub fn is_mounted(&self, target: &std::path::Path) -> bool {
        self.mounted.iter().any(|t| t == target)
    }

    /// Unmounts everything, newest first; busy mounts are detached lazily.
    pub fn unmount_all(&mut self, ops: &mut impl MountOps) -> Vec<(PathBuf, Unmounted)> {
        let mut report = Vec::new();
        while let Some(target) = self.mounted.pop() {
            let outcome = match ops.unmount(&target, false) {
                Ok(()) => Unmounted::Clean,
                Err(err) if err.raw_os_error() == Some(libc::EBUSY) => {
                    match ops.unmount(&target, true) {
                        Ok(()) => Unmounted::Detached,
                        Err(err) => Unmounted::Failed(err),
                    }
                }
                Err(err) => Unmounted::Failed(err),
            };
            report.push((target, outcome));
        }
        report
    }
}

#[cfg(test)]
pub(crate) mod fake {
    //! A recording stand-in for the kernel's mount calls.
    use super::*;
    use std::path::Path;

    #[derive(Debug, Default)]
    pub struct FakeMounts {
        pub calls: Vec<String>,
        /// Targets whose plain unmount fails with EBUSY.
        pub busy: Vec<PathBuf>,
        /// Targets whose mount fails with this errno.
        pub fail: Vec<(PathBuf, i32)>,
    }

    impl MountOps for FakeMounts {
        fn mount(
            &mut self,
            source: &str,
            target: &Path,
            fstype: &str,
            _flags: MsFlags,
            data: &str,
        ) -> io::Result<()> {
            self.calls.push(format!(
                "mount {source} {} {fstype} {data}",
                target.display()
            ));
            match self.fail.iter().find(|(t, _)| t == target) {
                Some((_, errno)) => Err(io::Error::from_raw_os_error(*errno)),
                None => Ok(()),
            }
        }

        fn unmount(&mut self, target: &Path, detach: bool) -> io::Result<()> {
            let kind = if detach { "detach" } else { "umount" };
            self.calls.push(format!("{kind} {}", target.display()));
            if !detach && self.busy.iter().any(|t| t == target) {
                return Err(io::Error::from_raw_os_error(libc::EBUSY));
            }
            Ok(())
        }

        fn make_dir(&mut self, path: &Path) -> io::Result<()> {
            self.calls.push(format!("mkdir {}", path.display()));
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::fake::FakeMounts;
    use super::*;
    use std::path::Path;

    #[test]
    fn early_mounts_put_dev_before_what_lives_in_it() {
        let specs = early_mounts();
        let pos = |t: &str| specs.iter().position(|s| s.target == Path::new(t)).unwrap();
        assert!(pos("/dev") < pos("/dev/pts"));
        assert!(pos("/dev") < pos("/dev/shm"));
        assert!(pos("/sys") < pos("/sys/fs/cgroup"));
        assert!(specs.iter().all(|s| s.flags.contains(MsFlags::MS_NOSUID)));
        assert_eq!(specs.len(), 8);
    }

    #[test]
    fn creates_mount_points_and_treats_ebusy_as_mounted() {
        let mut ops = FakeMounts {
            fail: vec![
                (PathBuf::from("/dev"), libc::EBUSY),
                (PathBuf::from("/tmp"), libc::ENODEV),
            ],
            ..FakeMounts::default()
        };
        let mut table = MountTable::default();
        let failed = table.mount_all(&mut ops, &early_mounts());
        assert_eq!(failed.len(), 1);
        assert_eq!(failed[0].0, PathBuf::from("/tmp"));
        assert!(table.is_mounted(Path::new("/dev")));
        assert!(!table.is_mounted(Path::new("/tmp")));
        assert_eq!(ops.calls[0], "mkdir /proc");
        assert_eq!(ops.calls[1], "mount proc /proc proc ");
    }

    #[test]
    fn unmounts_in_reverse_and_detaches_busy_mounts() {
        let mut ops = FakeMounts {
            busy: vec![PathBuf::from("/dev")],
            ..FakeMounts::default()
        };
        let mut table = MountTable::default();
        for target in ["/proc", "/dev", "/srv", "/mnt"] {
            table
                .mount(
                    &mut ops,
                    &MountSpec::new("x", target, "t", MsFlags::empty(), ""),
                )
                .unwrap();
        }
        ops.calls.clear();
        let report = table.unmount_all(&mut ops);
        assert_eq!(
            ops.calls,
            vec![
                "umount /mnt",
                "umount /srv",
                "umount /dev",
                "detach /dev",
                "umount /proc"
            ]
        );
        assert!(matches!(report[2].1, Unmounted::Detached));
        assert!(matches!(report[0].1, Unmounted::Clean));
        assert!(!table.is_mounted(Path::new("/proc")));
    }
}
