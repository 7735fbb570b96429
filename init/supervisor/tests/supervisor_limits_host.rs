//! The supervisor applying `[apps.X.limits]` and the port guard on the host:
//!
//! - without cgroups (as on a developer's machine), an app with limits still
//!   starts, each limit that cannot be enforced is named in one warning, and
//!   `open_files` applies all the same (it is an rlimit);
//! - with a writable cgroup v2 hierarchy and root (ignored unless asked for,
//!   as scripts/test does as root; it then fails without them), the
//!   instance runs in its own leaf, binds its declared port but gets EPERM
//!   for another, and when it exits, a process it left behind in a session
//!   of its own is killed and the leaf removed, while this process (PID 1's
//!   stand-in) stays in `cairn/init`.
//!
//! The test binary doubles as the app: run as `supervisor_limits_host probe
//! DECLARED UNDECLARED` it prints its RLIMIT_NOFILE, its cgroup, what binding
//! each port gives, leaves a grandchild behind and exits 3.
//!
//! `harness = false`: the supervisor reaps with `waitpid(-1)`.

use std::collections::BTreeMap;
use std::fs;
use std::io::Write;
use std::net::TcpListener;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use cairn_supervisor::cgroup::{cgroup2_mount_point, own_cgroup, CgroupRoot, Controller};
use cairn_supervisor::supervisor::{Supervisor, SupervisorConfig, Timings};
mod support;
use support::Console;

use cairn_manifest::{App, Limits, Restart, Sockets};

fn prober(declared: u16, undeclared: u16, limits: Limits) -> App {
    let exe = std::env::current_exe().unwrap().display().to_string();
    App {
        name: "prober".to_string(),
        bundle: PathBuf::from("prober"),
        exec: vec![
            exe,
            "probe".to_string(),
            "${ports.http}".to_string(),
            undeclared.to_string(),
        ],
        env: BTreeMap::new(),
        instances: 1,
        after: Vec::new(),
        restart: Restart::Never,
        stop_timeout: Duration::from_secs(2),
        sockets: Sockets::Bound,
        ports: BTreeMap::from([("http".to_string(), declared)]),
        paths: BTreeMap::new(),
        limits,
        health: None,
        secrets: Default::default(),
        security: Default::default(),
        uses: Vec::new(),
    }
}

fn config() -> SupervisorConfig {
    SupervisorConfig {
        timings: Timings {
            ready_after: Duration::from_millis(300),
            ..Timings::default()
        },
        ..SupervisorConfig::host()
    }
}

fn run_until(sv: &mut Supervisor, limit: Duration, mut done: impl FnMut() -> bool) {
    let end = Instant::now() + limit;
    while Instant::now() < end && !done() {
        sv.turn(&mut [], Duration::from_millis(50));
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn limits() -> Limits {
    Limits {
        memory: Some(64 << 20),
        processes: Some(8),
        cpu: None,
        open_files: Some(77),
    }
}

fn without_cgroups_limits_are_named_and_open_files_applies(console: &mut Console) {
    let (declared, undeclared) = (free_port(), free_port());
    let app = prober(declared, undeclared, limits());
    let mut sv = Supervisor::new(config(), [&app], console.sink());
    run_until(&mut sv, Duration::from_secs(5), || {
        exited(&console.unread())
    });
    sv.stop_blocking();
    let text = console.take();
    for warning in [
        "cairn: warning: memory limits of prober not enforced: no cgroup v2 hierarchy\n",
        "cairn: warning: process limits of prober not enforced: no cgroup v2 hierarchy\n",
        "cairn: warning: undeclared ports not refused: no cgroup v2 hierarchy\n",
    ] {
        assert_eq!(text.matches(warning).count(), 1, "{warning}{text}");
    }
    assert!(text.contains("[prober] nofile 77 77\n"), "{text}");
    assert!(
        text.contains(&format!("[prober] bind {declared} ok\n")),
        "{text}"
    );
    // Nothing refuses it here: that is what the warning says.
    assert!(
        text.contains(&format!("[prober] bind {undeclared} ok\n")),
        "{text}"
    );
    assert!(
        text.contains("cairn: app prober exited (status 3), not restarting\n"),
        "{text}"
    );
}

fn exited(text: &str) -> bool {
    text.contains("cairn: app prober exited")
}

/// Puts this process back where it was and removes the test tree.
struct Restore {
    home: PathBuf,
    root: PathBuf,
}

impl Drop for Restore {
    fn drop(&mut self) {
        let _ = fs::write(self.home.join("cgroup.procs"), "0");
        let cairn = self.root.join("cairn");
        for dir in [
            cairn.join("apps/prober/0"),
            cairn.join("apps/prober"),
            cairn.join("apps"),
            cairn.join("init"),
            cairn,
            self.root.clone(),
        ] {
            let _ = fs::remove_dir(dir);
        }
    }
}

fn in_its_cgroup_an_instance_is_guarded_and_leaves_nothing(console: &mut Console) {
    let Some(mount) = cgroup2_mount_point(&fs::read_to_string("/proc/self/mountinfo").unwrap())
    else {
        panic!("cannot run: no cgroup v2 hierarchy is mounted");
    };
    let self_cgroup = fs::read_to_string("/proc/self/cgroup").unwrap();
    let Some(home) = own_cgroup(&self_cgroup) else {
        panic!("cannot run: this process has no cgroup v2 path");
    };
    let home = mount.join(home.trim_start_matches('/'));
    let root = mount.join(format!("cairn-limits-host-{}", std::process::id()));
    if let Err(err) = fs::create_dir(&root) {
        panic!("cannot run: cannot create cgroup {}: {err}", root.display());
    }
    let _restore = Restore {
        home,
        root: root.clone(),
    };
    let cgroups = CgroupRoot::setup(&root).unwrap();
    let memory_missing = !cgroups.enabled().contains(&Controller::Memory);
    let config = SupervisorConfig {
        cgroups: Some(Arc::new(cgroups)),
        ..config()
    };
    let (declared, undeclared) = (free_port(), free_port());
    let app = prober(declared, undeclared, limits());
    let mut sv = Supervisor::new(config, [&app], console.sink());
    run_until(&mut sv, Duration::from_secs(5), || {
        exited(&console.unread())
    });
    let text = console.take();
    assert!(text.contains("[prober] nofile 77 77\n"), "{text}");
    let leaf = root.join("cairn/apps/prober/0");
    let relative = leaf.strip_prefix(&mount).unwrap().display().to_string();
    assert!(
        text.contains(&format!("[prober] cgroup /{relative}\n")),
        "not in its leaf {relative}:\n{text}"
    );
    assert!(
        text.contains(&format!("[prober] bind {declared} ok\n")),
        "{text}"
    );
    assert!(
        text.contains(&format!("[prober] bind {undeclared} errno 1\n")),
        "the guard let an undeclared port through:\n{text}"
    );
    assert!(!text.contains("undeclared ports not refused"), "{text}");
    if memory_missing {
        assert!(
            text.contains("cairn: warning: memory limits of prober not enforced: the memory controller is unavailable: "),
            "{text}"
        );
    }
    let escaped: i32 = text
        .lines()
        .find_map(|l| l.strip_prefix("[prober] escaped pid "))
        .and_then(|p| p.trim().parse().ok())
        .unwrap_or_else(|| panic!("no escaped pid:\n{text}"));
    // The grandchild in a session of its own died with the instance (it
    // would sleep for minutes), reparented to us and was reaped, and the
    // leaf is gone.
    let proc_entry = PathBuf::from(format!("/proc/{escaped}"));
    run_until(&mut sv, Duration::from_secs(3), || !proc_entry.exists());
    assert!(!proc_entry.exists(), "pid {escaped} outlived its instance");
    assert!(!leaf.exists(), "{} not removed", leaf.display());
    let own = fs::read_to_string("/proc/self/cgroup").unwrap();
    assert!(
        own.lines()
            .any(|l| l.starts_with("0::") && l.ends_with("/cairn/init")),
        "the supervisor left cairn/init: {own}"
    );
    sv.stop_blocking();
    console.take();
}

/// The app's side (see the module docs). Single-threaded, so it may fork.
fn probe(declared: &str, undeclared: &str) -> ! {
    let mut out = std::io::stdout().lock();
    let (soft, hard) =
        nix::sys::resource::getrlimit(nix::sys::resource::Resource::RLIMIT_NOFILE).unwrap();
    let _ = writeln!(out, "nofile {soft} {hard}");
    let cgroup = fs::read_to_string("/proc/self/cgroup").unwrap_or_default();
    if let Some(path) = own_cgroup(&cgroup) {
        let _ = writeln!(out, "cgroup {}", path.trim());
    }
    for port in [declared, undeclared] {
        match TcpListener::bind(format!("127.0.0.1:{port}")) {
            Ok(_) => {
                let _ = writeln!(out, "bind {port} ok");
            }
            Err(err) => {
                let _ = writeln!(
                    out,
                    "bind {port} errno {}",
                    err.raw_os_error().unwrap_or(-1)
                );
            }
        }
    }
    let _ = out.flush();
    // SAFETY: single-threaded; the child only calls setsid, sleep and _exit.
    unsafe {
        let pid = libc::fork();
        if pid == 0 {
            libc::setsid();
            libc::sleep(300);
            libc::_exit(0);
        }
        let _ = writeln!(out, "escaped pid {pid}");
        let _ = out.flush();
        libc::_exit(3);
    }
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if let [mode, declared, undeclared] = args.as_slice() {
        if mode == "probe" {
            probe(declared, undeclared);
        }
    }
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("console.log");
    cairn_sys::process::set_child_subreaper().unwrap();
    let mut console = Console::install(path);
    let mut tests = support::harness::Tests::from_args();
    tests.run(
        "without_cgroups_limits_are_named_and_open_files_applies",
        || without_cgroups_limits_are_named_and_open_files_applies(&mut console),
    );
    tests.run_as_root(
        "in_its_cgroup_an_instance_is_guarded_and_leaves_nothing",
        || in_its_cgroup_an_instance_is_guarded_and_leaves_nothing(&mut console),
    );
    tests.finish();
}
