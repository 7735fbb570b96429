//! One app instance's leaf cgroup: limits, membership, kill, counters, removal.

use std::fs::{self, OpenOptions};
use std::io::{self, Write};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::thread;
use std::time::Duration;

use cairn_manifest::Limits;
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

use super::make_dir;
use super::values::{
    check_component, cpu_max, flat_keyed, limit_value, parse_pids, pids_max, Controller,
};
use super::CgroupError;

/// How often [`InstanceCgroup::remove`] tries, and how long it waits between
/// tries, for killed processes to leave: 20 × 5 ms.
const REMOVE_TRIES: u32 = 20;
const REMOVE_PAUSE: Duration = Duration::from_millis(5);

/// How a new process gets into an instance's cgroup: created in it with
/// `clone3(CLONE_INTO_CGROUP)` on `dir` where the kernel can, else moved in
/// by writing to `procs` before anything else.
#[derive(Debug)]
pub struct JoinFds {
    pub dir: OwnedFd,
    pub procs: OwnedFd,
}

/// Rounds of "read cgroup.procs, SIGKILL each" when `cgroup.kill` is missing
/// (kernels before 5.14); each round catches processes forked meanwhile.
const KILL_ROUNDS: u32 = 64;

/// What the kernel counted for an instance since its leaf was created.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Events {
    /// Processes killed by the OOM killer (`memory.events` `oom_kill`).
    pub oom_kills: u64,
    /// Forks refused at `pids.max` (`pids.events` `max`).
    pub pids_max: u64,
}

impl Events {
    /// Reads the counters from the texts of `memory.events` and `pids.events`
    /// (empty when the controller is off).
    pub fn parse(memory_events: &str, pids_events: &str) -> Events {
        Events {
            oom_kills: flat_keyed(memory_events, "oom_kill").unwrap_or(0),
            pids_max: flat_keyed(pids_events, "max").unwrap_or(0),
        }
    }
}

/// The leaf cgroup of one running app instance.
///
/// Holds two descriptors opened in PID 1: the directory (for attaching BPF
/// programs or `clone3(CLONE_INTO_CGROUP)`) and `cgroup.procs`, write-only,
/// for the child to join with [`super::join_from_child`]. Both are
/// close-on-exec, so an app never inherits them.
#[derive(Debug)]
pub struct InstanceCgroup {
    path: PathBuf,
    dir: OwnedFd,
    procs: OwnedFd,
    unenforced: Vec<Controller>,
}

impl InstanceCgroup {
    pub(super) fn create(
        app: &str,
        path: &Path,
        limits: &Limits,
        enabled: &[Controller],
        unenforced: Vec<Controller>,
    ) -> Result<InstanceCgroup, CgroupError> {
        if let Some(name) = path.file_name().and_then(|n| n.to_str()) {
            check_component(name).map_err(|why| CgroupError::InvalidName {
                app: app.to_string(),
                name: name.to_string(),
                why,
            })?;
        }
        let reused = path.is_dir();
        make_dir(path)?;
        let dir = OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_DIRECTORY | libc::O_CLOEXEC)
            .open(path)
            .map_err(|err| CgroupError::io("open cgroup", path, err))?;
        let procs_path = path.join("cgroup.procs");
        let procs = OpenOptions::new()
            .write(true)
            .custom_flags(libc::O_CLOEXEC)
            .open(&procs_path)
            .map_err(|err| CgroupError::io("open", &procs_path, err))?;
        let cgroup = InstanceCgroup {
            path: path.to_path_buf(),
            dir: OwnedFd::from(dir),
            procs: OwnedFd::from(procs),
            unenforced,
        };
        if reused {
            // Left over from a run PID 1 no longer tracks: nothing in it may
            // outlive the instance it belonged to.
            cgroup.kill_all()?;
        }
        cgroup.write_limits(app, limits, enabled)?;
        Ok(cgroup)
    }

    fn write_limits(
        &self,
        app: &str,
        limits: &Limits,
        enabled: &[Controller],
    ) -> Result<(), CgroupError> {
        if enabled.contains(&Controller::Memory) {
            self.write("memory.max", &limit_value(limits.memory))?;
            // Swap would let a memory hog slow the whole machine instead of
            // meeting its limit; the file exists only with swap accounting.
            self.write_if_present("memory.swap.max", "0")?;
            // An OOM kill takes the whole instance, never half of it.
            self.write_if_present("memory.oom.group", "1")?;
        }
        if enabled.contains(&Controller::Pids) {
            self.write("pids.max", &limit_value(pids_max(limits.processes)))?;
        }
        if enabled.contains(&Controller::Cpu) {
            let value = match limits.cpu {
                Some(cpus) => cpu_max(cpus).map_err(|why| CgroupError::InvalidLimit {
                    app: app.to_string(),
                    why,
                })?,
                None => "max".to_string(),
            };
            self.write("cpu.max", &value)?;
        }
        Ok(())
    }

    /// The leaf's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The leaf's directory, opened `O_RDONLY | O_DIRECTORY | O_CLOEXEC`: the
    /// target for [`crate::portguard::guard_cgroup_fd`] or for
    /// `clone3(CLONE_INTO_CGROUP)`.
    pub fn dir_fd(&self) -> BorrowedFd<'_> {
        self.dir.as_fd()
    }

    /// The leaf's `cgroup.procs`, opened `O_WRONLY | O_CLOEXEC` before any
    /// fork, for the child to pass to [`super::join_from_child`].
    pub fn procs_fd(&self) -> BorrowedFd<'_> {
        self.procs.as_fd()
    }

    /// Both ways into the leaf, as descriptors a start can own: its
    /// directory (to be created in it) and its `cgroup.procs` (to move in).
    pub fn join_fds(&self) -> io::Result<JoinFds> {
        Ok(JoinFds {
            dir: self.dir.try_clone()?,
            procs: self.procs.try_clone()?,
        })
    }

    /// The limits the manifest sets that this machine cannot enforce, because
    /// their controller is unavailable.
    pub fn unenforced(&self) -> &[Controller] {
        &self.unenforced
    }

    /// The processes in the leaf now.
    pub fn pids(&self) -> Result<Vec<i32>, CgroupError> {
        let file = self.path.join("cgroup.procs");
        let text = fs::read_to_string(&file).map_err(|err| CgroupError::io("read", file, err))?;
        Ok(parse_pids(&text))
    }

    /// Whether any process is still in the leaf (`cgroup.events` `populated`).
    pub fn is_populated(&self) -> Result<bool, CgroupError> {
        let file = self.path.join("cgroup.events");
        let text = fs::read_to_string(&file).map_err(|err| CgroupError::io("read", file, err))?;
        Ok(flat_keyed(&text, "populated") != Some(0))
    }

    /// Sends SIGKILL to every process in the leaf, however it was forked.
    /// Uses `cgroup.kill` (one atomic kill that no fork escapes) where the
    /// kernel has it, else kills what `cgroup.procs` lists until it is empty.
    /// Returns before the processes are gone; [`InstanceCgroup::remove`]
    /// waits for that.
    pub fn kill_all(&self) -> Result<(), CgroupError> {
        let kill_file = self.path.join("cgroup.kill");
        match fs::write(&kill_file, "1") {
            Ok(()) => Ok(()),
            Err(err) if err.kind() == io::ErrorKind::NotFound => self.kill_each(),
            Err(err) => Err(CgroupError::io("write", kill_file, err)),
        }
    }

    /// The fallback of [`InstanceCgroup::kill_all`] for kernels without
    /// `cgroup.kill`.
    pub(super) fn kill_each(&self) -> Result<(), CgroupError> {
        for _ in 0..KILL_ROUNDS {
            let pids = self.pids()?;
            if pids.is_empty() {
                return Ok(());
            }
            for pid in pids {
                // ESRCH: it died meanwhile, which is the point.
                let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
            }
            thread::sleep(Duration::from_millis(1));
        }
        Ok(())
    }

    /// The kernel's counters for this instance.
    pub fn events(&self) -> Events {
        let read = |name: &str| fs::read_to_string(self.path.join(name)).unwrap_or_default();
        Events::parse(&read("memory.events"), &read("pids.events"))
    }

    /// Removes the leaf once its processes are gone, trying for about 100 ms
    /// (killed processes take a moment to exit). [`CgroupError::Busy`] means
    /// something is still inside: call [`InstanceCgroup::kill_all`] and try
    /// again later. A leaf that is already gone counts as removed.
    pub fn remove(&self) -> Result<(), CgroupError> {
        for _ in 0..REMOVE_TRIES {
            match fs::remove_dir(&self.path) {
                Ok(()) => return Ok(()),
                Err(err) if err.kind() == io::ErrorKind::NotFound => return Ok(()),
                Err(err) if err.raw_os_error() == Some(libc::EBUSY) => thread::sleep(REMOVE_PAUSE),
                Err(err) => return Err(CgroupError::io("remove cgroup", &self.path, err)),
            }
        }
        Err(CgroupError::Busy {
            path: self.path.clone(),
        })
    }

    fn write(&self, name: &str, value: &str) -> Result<(), CgroupError> {
        let file = self.path.join(name);
        write_value(&file, value).map_err(|err| CgroupError::io("write", file, err))
    }

    /// Writes `name` when the kernel provides it (it depends on the kernel's
    /// configuration), and does nothing when it does not.
    fn write_if_present(&self, name: &str, value: &str) -> Result<(), CgroupError> {
        let file = self.path.join(name);
        match write_value(&file, value) {
            Err(err) if err.kind() == io::ErrorKind::NotFound => Ok(()),
            other => other.map_err(|err| CgroupError::io("write", file, err)),
        }
    }
}

/// One write(2) of `value` to an existing interface file (never creating it).
fn write_value(file: &Path, value: &str) -> io::Result<()> {
    OpenOptions::new()
        .write(true)
        .open(file)?
        .write_all(value.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_count_oom_kills_and_refused_forks() {
        let memory = "low 0\nhigh 0\nmax 40\noom 2\noom_kill 1\noom_group_kill 1\n";
        let pids = "max 17\n";
        assert_eq!(
            Events::parse(memory, pids),
            Events {
                oom_kills: 1,
                pids_max: 17
            }
        );
    }

    #[test]
    fn events_are_zero_without_controllers() {
        assert_eq!(Events::parse("", ""), Events::default());
    }
}
