//! The pure parts of cgroup management: names, limit values, file parsing.

use std::fmt;
use std::path::PathBuf;

/// The `cpu.max` period, in microseconds: 100 ms, the kernel's default.
pub const CPU_PERIOD_US: u64 = 100_000;

/// The smallest quota the kernel accepts (1 ms).
const CPU_MIN_QUOTA_US: u64 = 1_000;

/// The cgroup v2 controllers Cairn uses for app limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Controller {
    Cpu,
    Memory,
    Pids,
}

impl Controller {
    pub const ALL: [Controller; 3] = [Controller::Cpu, Controller::Memory, Controller::Pids];

    /// The name in `cgroup.controllers` and `cgroup.subtree_control`.
    pub fn name(self) -> &'static str {
        match self {
            Controller::Cpu => "cpu",
            Controller::Memory => "memory",
            Controller::Pids => "pids",
        }
    }
}

impl fmt::Display for Controller {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// `cpu.max` for a share of `cpus` CPUs: `"<quota> <period>"` in
/// microseconds. Quotas below the kernel's 1 ms floor are raised to it.
pub fn cpu_max(cpus: f64) -> Result<String, String> {
    if !cpus.is_finite() || cpus <= 0.0 {
        return Err(format!("cpu limit {cpus} is not a positive number of CPUs"));
    }
    let quota = (cpus * CPU_PERIOD_US as f64).round();
    if quota >= u64::MAX as f64 {
        return Err(format!("cpu limit {cpus} is too large"));
    }
    // In range and non-negative (checked above), so the cast is exact.
    let quota = (quota as u64).max(CPU_MIN_QUOTA_US);
    Ok(format!("{quota} {CPU_PERIOD_US}"))
}

/// A count or byte limit, or `max` for none (so a reused cgroup loses an old
/// limit that the manifest no longer sets).
pub fn limit_value(limit: Option<u64>) -> String {
    match limit {
        Some(value) => value.to_string(),
        None => "max".to_string(),
    }
}

/// The `pids.max` for an app allowed `processes` processes: one more, for the
/// reaper that is pid 1 of every app namespace (see `crate::sys::ns_reaper`),
/// so `processes = N` leaves the app N processes of its own.
pub fn pids_max(processes: Option<u32>) -> Option<u64> {
    processes.map(|n| u64::from(n) + 1)
}

/// Checks that `name` is usable as one path component of a cgroup.
pub fn check_component(name: &str) -> Result<(), &'static str> {
    if name.is_empty() {
        return Err("it is empty");
    }
    if name == "." || name == ".." {
        return Err("it is a relative path component");
    }
    if name.contains('/') || name.contains('\0') {
        return Err("it contains '/' or NUL");
    }
    // Names like `cgroup.procs` or `memory.max` would collide with the
    // interface files of the parent directory.
    if name.starts_with("cgroup.")
        || Controller::ALL.iter().any(|c| {
            name.strip_prefix(c.name())
                .is_some_and(|rest| rest.starts_with('.'))
        })
    {
        return Err("it looks like a cgroup interface file");
    }
    Ok(())
}

/// The value of `key` in a flat-keyed file such as `memory.events`
/// (`"<key> <value>\n"` per line).
pub fn flat_keyed(text: &str, key: &str) -> Option<u64> {
    text.lines().find_map(|line| {
        let (name, value) = line.split_once(' ')?;
        if name == key {
            value.trim().parse().ok()
        } else {
            None
        }
    })
}

/// Whether `controller` appears in a space-separated `cgroup.controllers`.
pub fn lists_controller(text: &str, controller: Controller) -> bool {
    text.split_whitespace()
        .any(|name| name == controller.name())
}

/// The process ids in a `cgroup.procs` file.
pub fn parse_pids(text: &str) -> Vec<i32> {
    text.lines()
        .filter_map(|line| line.trim().parse().ok())
        .collect()
}

/// This process's cgroup v2 path (relative to the hierarchy's mount point)
/// from the text of `/proc/self/cgroup`: the `0::<path>` line.
pub fn own_cgroup(proc_self_cgroup: &str) -> Option<&str> {
    proc_self_cgroup
        .lines()
        .find_map(|line| line.strip_prefix("0::"))
}

/// The mount point of the first cgroup v2 hierarchy in the text of
/// `/proc/self/mountinfo`: `/sys/fs/cgroup` on a unified host,
/// `/sys/fs/cgroup/unified` on a hybrid one.
pub fn cgroup2_mount_point(mountinfo: &str) -> Option<PathBuf> {
    mountinfo.lines().find_map(|line| {
        let (mount, fs) = line.split_once(" - ")?;
        if fs.split(' ').next()? != "cgroup2" {
            return None;
        }
        mount.split(' ').nth(4).map(crate::mountinfo::unescape_path)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pids_max_counts_the_namespace_reaper() {
        assert_eq!(pids_max(Some(1)), Some(2));
        assert_eq!(pids_max(Some(64)), Some(65));
        assert_eq!(pids_max(None), None);
        assert_eq!(limit_value(pids_max(None)), "max");
    }

    #[test]
    fn cpu_max_is_quota_over_a_100ms_period() {
        assert_eq!(cpu_max(0.5).unwrap(), "50000 100000");
        assert_eq!(cpu_max(1.0).unwrap(), "100000 100000");
        assert_eq!(cpu_max(2.25).unwrap(), "225000 100000");
        assert_eq!(cpu_max(0.333).unwrap(), "33300 100000");
    }

    #[test]
    fn cpu_max_raises_tiny_quotas_to_the_kernel_floor() {
        assert_eq!(cpu_max(0.001).unwrap(), "1000 100000");
        assert_eq!(cpu_max(0.000_01).unwrap(), "1000 100000");
    }

    #[test]
    fn cpu_max_refuses_nonsense() {
        for bad in [0.0, -1.0, f64::NAN, f64::INFINITY, 1e300] {
            assert!(cpu_max(bad).is_err(), "{bad} accepted");
        }
    }

    #[test]
    fn limits_default_to_max() {
        assert_eq!(limit_value(Some(268_435_456)), "268435456");
        assert_eq!(limit_value(Some(64)), "64");
        assert_eq!(limit_value(None), "max");
    }

    #[test]
    fn components_must_be_plain_names() {
        assert!(check_component("web").is_ok());
        assert!(check_component("0").is_ok());
        assert!(check_component("memory-hog").is_ok());
        assert!(check_component("pidstat").is_ok());
        for bad in [
            "",
            ".",
            "..",
            "a/b",
            "a\0b",
            "cgroup.procs",
            "memory.max",
            "pids.max",
            "cpu.max",
        ] {
            assert!(check_component(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn reads_flat_keyed_counters() {
        let memory_events = "low 0\nhigh 0\nmax 12\noom 3\noom_kill 2\noom_group_kill 1\n";
        assert_eq!(flat_keyed(memory_events, "oom_kill"), Some(2));
        assert_eq!(flat_keyed(memory_events, "oom"), Some(3));
        assert_eq!(flat_keyed(memory_events, "max"), Some(12));
        assert_eq!(flat_keyed(memory_events, "missing"), None);
        assert_eq!(flat_keyed("max 7\n", "max"), Some(7));
        assert_eq!(flat_keyed("", "max"), None);
    }

    #[test]
    fn finds_controllers_by_whole_name() {
        let text = "cpuset cpu io memory hugetlb pids rdma misc\n";
        assert!(lists_controller(text, Controller::Cpu));
        assert!(lists_controller(text, Controller::Memory));
        assert!(lists_controller(text, Controller::Pids));
        // "cpuset" and "hugetlb" must not count as cpu or memory.
        assert!(!lists_controller("cpuset hugetlb\n", Controller::Cpu));
        assert!(!lists_controller("", Controller::Pids));
    }

    #[test]
    fn parses_pid_lists() {
        assert_eq!(parse_pids("12\n345\n"), vec![12, 345]);
        assert!(parse_pids("").is_empty());
    }

    #[test]
    fn finds_the_cgroup2_mount() {
        let hybrid = "25 24 0:22 / /sys/fs/cgroup ro,nosuid shared:9 - tmpfs tmpfs ro,mode=755\n\
            26 25 0:23 / /sys/fs/cgroup/unified rw,nosuid shared:10 - cgroup2 cgroup2 rw\n\
            27 25 0:24 / /sys/fs/cgroup/memory rw shared:11 - cgroup cgroup rw,memory\n";
        assert_eq!(
            cgroup2_mount_point(hybrid),
            Some(PathBuf::from("/sys/fs/cgroup/unified"))
        );
        let unified = "30 1 0:26 / /sys/fs/cgroup rw,nosuid - cgroup2 cgroup2 rw,nsdelegate\n";
        assert_eq!(
            cgroup2_mount_point(unified),
            Some(PathBuf::from("/sys/fs/cgroup"))
        );
        let escaped = "30 1 0:26 / /mnt/my\\040cgroups rw - cgroup2 none rw\n";
        assert_eq!(
            cgroup2_mount_point(escaped),
            Some(PathBuf::from("/mnt/my cgroups"))
        );
        assert_eq!(
            cgroup2_mount_point("1 0 8:1 / / rw - ext4 /dev/sda1 rw\n"),
            None
        );
    }

    #[test]
    fn finds_the_v2_line_of_proc_self_cgroup() {
        let hybrid = "9:name=systemd:/\n4:memory:/x\n0::/user.slice/a.scope\n";
        assert_eq!(own_cgroup(hybrid), Some("/user.slice/a.scope"));
        assert_eq!(own_cgroup("0::/\n"), Some("/"));
        assert_eq!(own_cgroup("4:memory:/x\n"), None);
    }
}
