//! Time to start one app instance in its namespaces with its cgroup, on the
//! host, with the same code PID 1 runs, against `bwrap` doing a comparable
//! setup; both start the same trivial static program, alternately.
//!
//! One Cairn start is what the supervisor does for an instance: create its
//! cgroup leaf, build its environment and `resources.json`, `prepare` the
//! sandbox (state directory, root directory, mount plan) and
//! `spawn_sandboxed` it into new mount, PID, IPC, UTS and cgroup namespaces
//! (tmpfs root, the tree's entries bound read-only, a minimal /dev, its own
//! /proc, /run, a `state` path and a `tmpfs` path), as the app's uid with no
//! capabilities. One bwrap start is `bwrap --unshare-pid --unshare-ipc
//! --unshare-uts --unshare-cgroup --ro-bind TREE / --dev /dev --proc /proc
//! --tmpfs /tmp --bind STATE /var/lib/app ...`.
//!
//! The clock runs from "start requested" to the first byte the program
//! writes on its stdout pipe (so it has exec'd and run), and on to its exit
//! being reaped. The cgroup leaf is removed after each exit, outside the
//! clock. A third start in each round runs Cairn's path without a cgroup
//! leaf, to show what creating and joining it costs.

use std::collections::BTreeMap;
use std::fs;
use std::io::Read;
use std::os::fd::OwnedFd;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::ExitStatusExt;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use cairn_manifest::{App, Limits, PathGrant, Restart, Sockets};
use cairn_supervisor::cgroup::{self, CgroupRoot};
use cairn_supervisor::sandbox::{self, resources::resources_json, SandboxPaths};

use super::stats::Summary;

/// The argument that makes `cairn-bench` the trivial app: write one byte
/// to stdout, exit 0.
pub const TRIVIAL_APP_ARG: &str = "--trivial-app";

const APP: &str = "bench";
const STATE_PATH: &str = "/var/lib/app";

/// Called first thing in `main`: when this process is the trivial app,
/// write one byte and exit, before anything else runs.
pub fn trivial_app_if_asked() {
    if std::env::args().nth(1).as_deref() == Some(TRIVIAL_APP_ARG) {
        // SAFETY: write(2) of one byte from a static buffer to fd 1.
        let written = unsafe { libc::write(1, b"x".as_ptr().cast(), 1) };
        std::process::exit(if written == 1 { 0 } else { 1 });
    }
}

/// The figures of one start.
#[derive(Debug, Clone, Copy)]
struct Start {
    /// Cgroup, environment, resources.json and `prepare` done.
    prepared: Duration,
    /// `spawn` returned: the app has exec'd (the report pipe is at EOF).
    spawned: Duration,
    first_byte: Duration,
    exited: Duration,
}

/// The scratch host: an app tree, the sandbox's directories, a cgroup.
struct Host {
    /// Unmounted before the directory it is in goes.
    _run: RunTmpfs,
    _dir: tempfile::TempDir,
    paths: SandboxPaths,
    tree: PathBuf,
    app: App,
}

fn app() -> App {
    App {
        name: APP.to_string(),
        bundle: PathBuf::from(APP),
        exec: vec!["/bin/app".to_string(), TRIVIAL_APP_ARG.to_string()],
        env: BTreeMap::new(),
        instances: 1,
        after: Vec::new(),
        restart: Restart::Never,
        stop_timeout: Duration::from_secs(5),
        sockets: Sockets::Bound,
        ports: BTreeMap::new(),
        paths: BTreeMap::from([
            (STATE_PATH.to_string(), PathGrant::State),
            ("/tmp".to_string(), PathGrant::Tmpfs),
        ]),
        limits: Limits::default(),
        health: None,
        secrets: Default::default(),
        security: Default::default(),
        uses: Vec::new(),
    }
}

/// A tmpfs over the bench's `run` directory, as `/run` is one under PID 1:
/// each start writes its `resources.json` and makes its root directory
/// there, and on a disk filesystem that costs what a booted system never
/// pays.
struct RunTmpfs(PathBuf);

impl RunTmpfs {
    fn mount(dir: PathBuf) -> anyhow::Result<RunTmpfs> {
        use std::os::unix::ffi::OsStrExt;
        fs::create_dir_all(&dir)?;
        let target = std::ffi::CString::new(dir.as_os_str().as_bytes())?;
        // SAFETY: nul-terminated strings that live across the call.
        let ret = unsafe {
            libc::mount(
                c"tmpfs".as_ptr(),
                target.as_ptr(),
                c"tmpfs".as_ptr(),
                libc::MS_NOSUID | libc::MS_NODEV,
                c"mode=0755".as_ptr().cast(),
            )
        };
        if ret != 0 {
            return Err(std::io::Error::last_os_error())
                .with_context(|| format!("cannot mount a tmpfs on {}", dir.display()));
        }
        Ok(RunTmpfs(dir))
    }
}

impl Drop for RunTmpfs {
    fn drop(&mut self) {
        use std::os::unix::ffi::OsStrExt;
        if let Ok(target) = std::ffi::CString::new(self.0.as_os_str().as_bytes()) {
            // SAFETY: a nul-terminated path that lives across the call.
            unsafe { libc::umount2(target.as_ptr(), libc::MNT_DETACH) };
        }
    }
}

fn host() -> anyhow::Result<Host> {
    let dir = tempfile::Builder::new()
        .prefix("cairn-bench-launch-")
        .tempdir()?;
    let base = dir.path();
    // The app runs as its own uid: everything on the way must be reachable.
    fs::set_permissions(base, fs::Permissions::from_mode(0o755))?;
    let run = RunTmpfs::mount(base.join("run"))?;
    let paths = SandboxPaths {
        apps: base.join("bank/apps"),
        state: base.join("data/apps"),
        roots: base.join("run/roots"),
        run: base.join("run/apps"),
        notify: base.join("run/notify"),
        // PID 1's: the host's /dev, the app's uid in the host's user
        // namespace.
        ..SandboxPaths::booted()
    };
    let tree = paths.apps.join(APP);
    // bwrap mounts /dev and /proc over directories of the read-only tree;
    // Cairn leaves a tree's own dev and proc out.
    for sub in ["bin", "var/lib/app", "tmp", "dev", "proc"] {
        fs::create_dir_all(tree.join(sub))?;
    }
    let exe = std::env::current_exe().context("cannot find this program")?;
    fs::copy(&exe, tree.join("bin/app")).context("cannot copy this program into the tree")?;
    Ok(Host {
        _run: run,
        _dir: dir,
        paths,
        tree,
        app: app(),
    })
}

/// The bench's own cgroup subtree on the host's cgroup v2 hierarchy, set up
/// as PID 1 sets up its own (this process moves into `.../cairn/init`);
/// dropping it moves the process back and removes the subtree.
struct BenchCgroup {
    root: CgroupRoot,
    dir: PathBuf,
    home: PathBuf,
    /// What the host offered, for the report.
    description: String,
}

impl BenchCgroup {
    fn setup() -> anyhow::Result<Option<BenchCgroup>> {
        let mountinfo = fs::read_to_string("/proc/self/mountinfo")?;
        let Some(mount) = cgroup::cgroup2_mount_point(&mountinfo) else {
            return Ok(None);
        };
        let own = fs::read_to_string("/proc/self/cgroup")?;
        let own = cgroup::own_cgroup(&own).unwrap_or("/").trim().to_string();
        let home = mount.join(own.trim_start_matches('/'));
        let controllers = fs::read_to_string(mount.join("cgroup.controllers"))?;
        let dir = home.join(format!("cairn-bench-{}", std::process::id()));
        fs::create_dir(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
        let root = CgroupRoot::setup(&dir)
            .with_context(|| format!("cgroup setup in {}", dir.display()))?;
        let enabled: Vec<String> = root.enabled().iter().map(ToString::to_string).collect();
        let description = format!(
            "cgroup v2 at {} (controllers offered: {}; enabled for instances: {})",
            mount.display(),
            if controllers.trim().is_empty() {
                "none"
            } else {
                controllers.trim()
            },
            if enabled.is_empty() {
                "none".to_string()
            } else {
                enabled.join(" ")
            },
        );
        Ok(Some(BenchCgroup {
            root,
            dir,
            home,
            description,
        }))
    }
}

impl Drop for BenchCgroup {
    fn drop(&mut self) {
        let _ = fs::write(self.home.join("cgroup.procs"), "0");
        let cairn = self.dir.join("cairn");
        for leaf in [
            cairn.join("apps").join(APP),
            cairn.join("apps"),
            cairn.join("init"),
            cairn,
            self.dir.clone(),
        ] {
            let _ = fs::remove_dir(leaf);
        }
    }
}

fn read_one_byte(fd: OwnedFd) -> anyhow::Result<()> {
    let mut byte = [0u8; 1];
    let n = fs::File::from(fd).read(&mut byte)?;
    if n != 1 {
        bail!("the app wrote nothing");
    }
    Ok(())
}

/// Waits for `pid` and returns its raw wait status.
fn wait(pid: i32) -> anyhow::Result<i32> {
    let mut status = 0;
    loop {
        // SAFETY: waitpid writes the status into a local.
        let ret = unsafe { libc::waitpid(pid, &mut status, 0) };
        if ret == pid {
            return Ok(status);
        }
        let err = std::io::Error::last_os_error();
        if err.kind() != std::io::ErrorKind::Interrupted {
            return Err(err).context("waitpid");
        }
    }
}

/// One start with PID 1's code.
fn cairn_start(host: &Host, cgroups: Option<&BenchCgroup>) -> anyhow::Result<Start> {
    let app = &host.app;
    let started = Instant::now();
    let leaf = cgroups
        .map(|c| c.root.create_instance(APP, 0, &Limits::default()))
        .transpose()?;
    let uid = cairn_manifest::app_uid(APP);
    let env = cairn_supervisor::supervisor::app::build_env(app, 0, 0);
    let resources = resources_json(app, 0, 0, uid, None);
    let argv = app.expand_exec(0, 0);
    let mut launch = sandbox::prepare(app, 0, &host.paths, &argv, &env, &resources)?;
    if let Some(leaf) = &leaf {
        launch.set_cgroup(leaf.join_fds()?);
    }
    let prepared = started.elapsed();
    let child = launch.spawn()?;
    let spawned = started.elapsed();
    read_one_byte(child.stdout)?;
    let first_byte = started.elapsed();
    let status = wait(child.pid)?;
    let exited = started.elapsed();
    if status != 0 {
        let mut err = String::new();
        let _ = fs::File::from(child.stderr).read_to_string(&mut err);
        bail!("the sandboxed app ended with wait status {status:#x}: {err}");
    }
    drop(launch);
    if let Some(leaf) = leaf {
        leaf.remove()?;
    }
    Ok(Start {
        prepared,
        spawned,
        first_byte,
        exited,
    })
}

/// One start of the same program with bwrap.
fn bwrap_start(host: &Host) -> anyhow::Result<Start> {
    let state = host.paths.state.join(APP).join("bwrap");
    let started = Instant::now();
    fs::create_dir_all(&state)?;
    let mut child = Command::new("bwrap")
        .args([
            "--unshare-pid",
            "--unshare-ipc",
            "--unshare-uts",
            "--unshare-cgroup",
        ])
        .args(["--hostname", APP, "--new-session", "--die-with-parent"])
        .arg("--ro-bind")
        .arg(&host.tree)
        .arg("/")
        .args(["--dev", "/dev", "--proc", "/proc", "--tmpfs", "/tmp"])
        .arg("--bind")
        .arg(&state)
        .arg(STATE_PATH)
        .args(["/bin/app", TRIVIAL_APP_ARG])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .context("cannot run bwrap")?;
    let spawned = started.elapsed();
    let stdout = child.stdout.take().context("no stdout pipe")?;
    read_one_byte(OwnedFd::from(stdout))?;
    let first_byte = started.elapsed();
    let output = child.wait_with_output()?;
    let exited = started.elapsed();
    if !output.status.success() {
        bail!(
            "bwrap ended with {:?} (signal {:?}): {}",
            output.status.code(),
            output.status.signal(),
            String::from_utf8_lossy(&output.stderr)
        );
    }
    Ok(Start {
        prepared: spawned,
        spawned,
        first_byte,
        exited,
    })
}

fn bwrap_version() -> String {
    Command::new("bwrap")
        .arg("--version")
        .output()
        .ok()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_else(|| "bwrap (version unknown)".into())
}

fn load() -> String {
    fs::read_to_string("/proc/loadavg")
        .map(|t| t.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "unknown".into())
}

/// Runs `starts` starts of each, alternating, after 20 unmeasured ones,
/// and prints the figures as Markdown.
pub fn run(starts: usize) -> anyhow::Result<()> {
    // SAFETY: geteuid cannot fail and touches no memory.
    if unsafe { libc::geteuid() } != 0 {
        bail!("the launch benchmark starts sandboxes as PID 1 does: run it as root");
    }
    let host = host()?;
    let cgroups = BenchCgroup::setup()?;
    let has_bwrap = Command::new("bwrap").arg("--version").output().is_ok();
    if !has_bwrap {
        bail!("bwrap is missing: run scripts/host-deps.sh (it installs bubblewrap)");
    }
    let load_before = load();
    const WARMUP: usize = 20;
    let mut cairn = Vec::with_capacity(starts);
    let mut bare = Vec::with_capacity(starts);
    let mut bwrap = Vec::with_capacity(starts);
    for i in 0..starts + WARMUP {
        let c = cairn_start(&host, cgroups.as_ref()).context("cairn start")?;
        // The same without the cgroup leaf: what joining it costs.
        let n = cairn_start(&host, None).context("cairn start without a cgroup")?;
        let b = bwrap_start(&host).context("bwrap start")?;
        if i >= WARMUP {
            cairn.push(c);
            bare.push(n);
            bwrap.push(b);
        }
    }
    let load_after = load();

    println!("## App instance start: Cairn's sandbox launch vs bwrap\n");
    println!(
        "{starts} starts each, alternating, after {WARMUP} unmeasured; load average before {load_before}, after {load_after}."
    );
    match &cgroups {
        Some(c) => println!("Cgroup: {}.", c.description),
        None => println!("Cgroup: the host has no cgroup v2 hierarchy; Cairn's starts ran without a cgroup leaf."),
    }
    println!("Baseline: {}.\n", bwrap_version());
    let column = |starts: &[Start], pick: fn(&Start) -> Duration| {
        Summary::of(starts.iter().map(pick).collect())
    };
    let cairn_byte = column(&cairn, |s| s.first_byte);
    let bwrap_byte = column(&bwrap, |s| s.first_byte);
    let cairn_exit = column(&cairn, |s| s.exited);
    let bwrap_exit = column(&bwrap, |s| s.exited);
    println!("| measure | median | p90 | max |\n|---|---|---|---|");
    let row = |name: &str, s: &Summary| {
        println!(
            "| {name} | {} | {} | {} |",
            s.median_us(),
            s.p90_us(),
            s.max_us()
        )
    };
    row(
        "Cairn: cgroup leaf + environment + prepare",
        &column(&cairn, |s| s.prepared),
    );
    row(
        "Cairn: ... + spawn returned (app exec'd)",
        &column(&cairn, |s| s.spawned),
    );
    row("Cairn: start to the app's first byte", &cairn_byte);
    row("bwrap: start to the app's first byte", &bwrap_byte);
    row(
        "Cairn without the cgroup leaf: prepare",
        &column(&bare, |s| s.prepared),
    );
    row(
        "Cairn without the cgroup leaf: first byte",
        &column(&bare, |s| s.first_byte),
    );
    row("Cairn: start to exit reaped", &cairn_exit);
    row("bwrap: start to exit reaped", &bwrap_exit);
    println!(
        "\nMedian to first byte: Cairn {} vs bwrap {}: bwrap takes {:.2}x as long. To exit: {:.2}x.",
        cairn_byte.median_us(),
        bwrap_byte.median_us(),
        bwrap_byte.median.as_secs_f64() / cairn_byte.median.as_secs_f64(),
        bwrap_exit.median.as_secs_f64() / cairn_exit.median.as_secs_f64(),
    );
    Ok(())
}
