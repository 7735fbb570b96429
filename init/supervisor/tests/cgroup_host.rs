//! An app instance's cgroup on this machine's kernel: PID 1 moves into
//! `cairn/init`, a child joins its leaf through the descriptor opened before
//! the fork, takes its rlimits, and `kill_all` leaves nothing behind, not even
//! a grandchild in a session of its own; a stale leaf is emptied when it is
//! taken over; the leaf is removed.
//!
//! Needs root and a writable cgroup v2 hierarchy; it does not need
//! controllers (a hybrid host's `/sys/fs/cgroup/unified` has none), and checks
//! that whatever is unavailable is reported as such and the limits are written
//! for every controller that is available. It is `#[ignore = "needs root"]`;
//! the suite runs it as root, and without a usable cgroup v2 hierarchy it
//! fails and says why.

mod support;

use std::fs;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::thread;
use std::time::{Duration, Instant};

use cairn_manifest::Limits;
use cairn_supervisor::cgroup::{
    apply_rlimits_from_child, cgroup2_mount_point, join_from_child, own_cgroup, rlimits_for,
    CgroupRoot, Controller, Events, InstanceCgroup, RlimitSetting,
};

/// Puts this process back where it was and removes the test tree, however
/// the test ends.
struct Restore {
    home: PathBuf,
    root: PathBuf,
}

impl Drop for Restore {
    fn drop(&mut self) {
        let _ = fs::write(self.home.join("cgroup.procs"), "0");
        let cairn = self.root.join("cairn");
        for dir in [
            cairn.join("apps/web/0"),
            cairn.join("apps/web/1"),
            cairn.join("apps/web"),
            cairn.join("apps"),
            cairn.join("init"),
            cairn,
            self.root.clone(),
        ] {
            let _ = fs::remove_dir(dir);
        }
    }
}

/// Forks a child that joins `cgroup`, applies `rlimits`, forks a grandchild
/// that starts its own session, and both wait to be killed. Exit codes 10-12
/// name the step that failed.
fn spawn_into(cgroup: &InstanceCgroup, rlimits: &[RlimitSetting]) -> libc::pid_t {
    let procs = cgroup.procs_fd().as_raw_fd();
    // SAFETY: the child only makes async-signal-safe calls on memory
    // prepared before the fork, and never returns.
    unsafe {
        let pid = libc::fork();
        assert!(pid >= 0, "fork failed");
        if pid == 0 {
            if join_from_child(procs).is_err() {
                libc::_exit(10);
            }
            if apply_rlimits_from_child(rlimits).is_err() {
                libc::_exit(11);
            }
            match libc::fork() {
                0 => {
                    libc::setsid();
                    loop {
                        libc::pause();
                    }
                }
                n if n < 0 => libc::_exit(12),
                _ => loop {
                    libc::pause();
                },
            }
        }
        pid
    }
}

fn wait_for(what: &str, mut done: impl FnMut() -> bool) {
    let start = Instant::now();
    while !done() {
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "timed out: {what}"
        );
        thread::sleep(Duration::from_millis(5));
    }
}

/// Reaps `pid` and returns the signal that killed it, or panics with its
/// exit code.
fn reap(pid: libc::pid_t) -> i32 {
    let mut status = 0;
    // SAFETY: waits for our own child.
    assert_eq!(unsafe { libc::waitpid(pid, &mut status, 0) }, pid);
    assert!(
        libc::WIFSIGNALED(status),
        "child exited with {} instead of being killed",
        libc::WEXITSTATUS(status)
    );
    libc::WTERMSIG(status)
}

fn prlimit(pid: libc::pid_t, resource: libc::__rlimit_resource_t) -> (u64, u64) {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: reads another process's limit into `limit`.
    let ret = unsafe { libc::prlimit(pid, resource, std::ptr::null(), &mut limit) };
    assert_eq!(ret, 0, "prlimit of {pid}");
    (limit.rlim_cur, limit.rlim_max)
}

fn read(path: &Path) -> String {
    fs::read_to_string(path).unwrap().trim().to_string()
}

#[test]
#[ignore = "needs root"]
fn instance_cgroup_lifecycle() {
    support::require_root();
    let Some(mount) = cgroup2_mount_point(&fs::read_to_string("/proc/self/mountinfo").unwrap())
    else {
        panic!("cannot run: no cgroup v2 hierarchy is mounted");
    };
    let self_cgroup = fs::read_to_string("/proc/self/cgroup").unwrap();
    let Some(home) = own_cgroup(&self_cgroup) else {
        panic!("cannot run: this process has no cgroup v2 path");
    };
    let home = mount.join(home.trim_start_matches('/'));
    let root = mount.join(format!("cairn-cgroup-test-{}", std::process::id()));
    if let Err(err) = fs::create_dir(&root) {
        panic!("cannot create cgroup {}: {err}", root.display());
    }
    let _restore = Restore {
        home,
        root: root.clone(),
    };

    let cgroups = CgroupRoot::setup(&root).unwrap();
    println!("enabled: {:?}", cgroups.enabled());
    for missing in cgroups.unavailable() {
        println!("unavailable: {}: {}", missing.controller, missing.reason);
    }
    for controller in Controller::ALL {
        let enabled = cgroups.enabled().contains(&controller);
        let missing = cgroups
            .unavailable()
            .iter()
            .any(|u| u.controller == controller);
        assert!(
            enabled != missing,
            "{controller} is neither enabled nor reported"
        );
    }
    let own = read(Path::new("/proc/self/cgroup"));
    assert!(
        own.lines()
            .any(|l| l.starts_with("0::") && l.ends_with("/cairn/init")),
        "not moved into cairn/init: {own}"
    );

    let limits = Limits {
        memory: Some(64 << 20),
        processes: Some(16),
        cpu: Some(0.5),
        open_files: Some(256),
    };
    let web0 = cgroups.create_instance("web", 0, &limits).unwrap();
    assert_eq!(web0.path(), root.join("cairn/apps/web/0"));
    let unenforced: Vec<Controller> = Controller::ALL
        .into_iter()
        .filter(|c| !cgroups.enabled().contains(c))
        .collect();
    assert_eq!(web0.unenforced(), unenforced.as_slice());
    if cgroups.enabled().contains(&Controller::Memory) {
        assert_eq!(read(&web0.path().join("memory.max")), "67108864");
        assert_eq!(read(&web0.path().join("memory.oom.group")), "1");
    }
    if cgroups.enabled().contains(&Controller::Pids) {
        assert_eq!(read(&web0.path().join("pids.max")), "16");
    }
    if cgroups.enabled().contains(&Controller::Cpu) {
        assert_eq!(read(&web0.path().join("cpu.max")), "50000 100000");
    }

    let rlimits = rlimits_for(&limits);
    let child = spawn_into(&web0, &rlimits);
    wait_for("child and grandchild in the leaf", || {
        web0.pids().unwrap().len() == 2
    });
    assert!(web0.pids().unwrap().contains(&child));
    assert!(web0.is_populated().unwrap());
    assert_eq!(prlimit(child, libc::RLIMIT_NOFILE), (256, 256));
    assert_eq!(prlimit(child, libc::RLIMIT_CORE), (0, 0));
    assert_eq!(web0.events(), Events::default());

    web0.kill_all().unwrap();
    assert_eq!(reap(child), libc::SIGKILL);
    // The grandchild was reparented; remove() waits for it to be gone.
    web0.remove().unwrap();
    assert!(!web0.path().exists());

    // A leaf left over with a process inside is emptied when taken over.
    let stale = cgroups
        .create_instance("web", 1, &Limits::default())
        .unwrap();
    let orphan = spawn_into(&stale, &[]);
    wait_for("stale processes in the leaf", || {
        stale.pids().unwrap().len() == 2
    });
    let fresh = cgroups
        .create_instance("web", 1, &Limits::default())
        .unwrap();
    assert_eq!(reap(orphan), libc::SIGKILL);
    wait_for("stale leaf emptied", || !fresh.is_populated().unwrap());
    fresh.remove().unwrap();
    assert!(!fresh.path().exists());
}
