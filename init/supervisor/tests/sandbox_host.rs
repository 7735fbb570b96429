//! Runs real sandboxed children on the host (as root) and checks, from
//! inside, what they can see and do.
//!
//! The program inside is this test executable itself (it is static): copied
//! into a temporary app tree as `/bin/probe` and run with `CAIRN_PROBE=1` in
//! its environment, it prints one
//! `fact <name> <value>` line per observation. Other values of `CAIRN_PROBE`
//! make it leave orphans, hang without a signal handler, or end with a given
//! status, to check the namespace's reaper (pid 1, with the app as pid 2),
//! or report on its writable copies of bundled paths or its secrets.
//! `harness = false`: the scenarios run one after another in the main thread.
//! Those that build sandboxes need root; they are ignored unless asked for
//! (`--include-ignored`, as scripts/test does as root) and then fail without
//! root rather than pass.

mod support;

use std::collections::BTreeMap;
use std::fs;
use std::io::{Read, Write};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::time::Duration;

use cairn_manifest::{App, Limits, PathGrant, Restart, Sockets};
use cairn_supervisor::sandbox::{self, resources::resources_json, SandboxPaths};
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::Pid;

/// Where a host file outside every app's tree is, told to the probe.
const SECRET_VAR: &str = "PROBE_SECRET";

fn fact(name: &str, value: impl std::fmt::Display) {
    println!("fact {name} {value}");
}

fn attempt(name: &str, result: std::io::Result<()>) {
    match result {
        Ok(()) => fact(name, "ok"),
        Err(err) => fact(name, format!("error:{}", err.raw_os_error().unwrap_or(0))),
    }
}

/// The processes of this PID namespace that are zombies, from its /proc.
fn zombies() -> Vec<String> {
    fs::read_dir("/proc")
        .map(|d| {
            d.filter_map(|e| e.ok()?.file_name().into_string().ok())
                .filter(|name| name.bytes().all(|b| b.is_ascii_digit()))
                .filter_map(|pid| fs::read_to_string(format!("/proc/{pid}/stat")).ok())
                .filter(|stat| {
                    let rest = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
                    rest.split_whitespace().next() == Some("Z")
                })
                .collect()
        })
        .unwrap_or_default()
}

/// Leaves `count` orphans (grandchildren whose parent exits at once) that
/// live 300 ms, then, once they are gone, reports the namespace's zombies.
fn leave_orphans(count: usize) {
    for _ in 0..count {
        // SAFETY: the children only fork, sleep and _exit (all
        // async-signal-safe); the parent waits for its direct child.
        unsafe {
            match libc::fork() {
                0 => {
                    if libc::fork() == 0 {
                        libc::usleep(300_000);
                    }
                    libc::_exit(0);
                }
                child if child > 0 => {
                    libc::waitpid(child, std::ptr::null_mut(), 0);
                }
                _ => panic!("fork failed"),
            }
        }
    }
    std::thread::sleep(Duration::from_millis(1500));
    fact("zombies", zombies().len());
    fact("zombie_list", format!("{:?}", zombies()));
}

/// What the app sees of its writable copies (`/etc/web`, a directory, and
/// `/etc/motd`, a file) and of a read-only bundled path (`/etc/fixed`), and
/// what it can do there. With `hold`, it then waits to be stopped, so
/// another instance can look at the same time.
fn writable_copies(hold: bool) {
    let read = |path: &str| fs::read_to_string(path).unwrap_or_else(|e| format!("error:{e}"));
    fact("web_conf", read("/etc/web/web.conf").trim());
    fact("via_link", read("/etc/web/link").trim());
    fact("deep", read("/etc/web/sub/deep").trim());
    fact("earlier", Path::new("/etc/web/added").exists());
    attempt("fifo", fs::symlink_metadata("/etc/web/fifo").map(|_| ()));
    let owner = |path: &str| fs::symlink_metadata(path).map_or(0, |m| m.uid());
    fact("web_owner", owner("/etc/web"));
    fact("conf_owner", owner("/etc/web/web.conf"));
    fact("link_owner", owner("/etc/web/link"));
    attempt("write_added", fs::write("/etc/web/added", b"new"));
    attempt("write_conf", fs::write("/etc/web/web.conf", b"changed"));
    attempt("mkdir", fs::create_dir("/etc/web/made"));
    attempt(
        "rename",
        fs::rename("/etc/web/added", "/etc/web/made/added"),
    );
    fact("conf_after", read("/etc/web/web.conf").trim());
    let flags = nix::sys::statvfs::statvfs("/etc/web").map(|s| s.flags());
    fact(
        "web_flags",
        flags.map_or("error".to_string(), |f| {
            use nix::sys::statvfs::FsFlags;
            format!(
                "rdonly={} nosuid={} nodev={}",
                f.contains(FsFlags::ST_RDONLY),
                f.contains(FsFlags::ST_NOSUID),
                f.contains(FsFlags::ST_NODEV)
            )
        }),
    );
    fact("motd", read("/etc/motd").trim());
    attempt("write_motd", fs::write("/etc/motd", b"changed motd\n"));
    fact("motd_after", read("/etc/motd").trim());
    attempt("write_fixed", fs::write("/etc/fixed/x", b"x"));
    attempt("write_etc", fs::write("/etc/evil", b"x"));
    if hold {
        fact("ready", "yes");
        std::io::stdout().flush().unwrap();
        std::thread::sleep(Duration::from_secs(60));
    }
}

/// The program inside the sandbox, which the scenarios start as an app
/// (with `CAIRN_PROBE` set to what it should do).
/// Reports what the app sees at its secret paths: content, owner, mode,
/// and whether it can write or replace them.
fn secrets_seen() {
    for (name, path) in [("db", "/run/secrets/db"), ("motd", "/etc/motd")] {
        match fs::read_to_string(path) {
            Ok(text) => fact(&format!("{name}_text"), text.trim()),
            Err(err) => fact(&format!("{name}_text"), format!("error {:?}", err.kind())),
        }
        if let Ok(meta) = fs::metadata(path) {
            fact(&format!("{name}_uid"), meta.uid());
            fact(
                &format!("{name}_mode"),
                format!("{:o}", meta.mode() & 0o7777),
            );
        }
        attempt(&format!("{name}_write"), fs::write(path, b"x"));
        attempt(
            &format!("{name}_chmod"),
            fs::set_permissions(path, fs::Permissions::from_mode(0o644)),
        );
    }
    std::io::stdout().flush().unwrap();
}

fn probe(mode: std::ffi::OsString) {
    fact("pid", std::process::id());
    match mode.to_str().unwrap_or_default() {
        "orphans" => return leave_orphans(3),
        "hang" => {
            // No handler for anything: TERM's default action ends it.
            fact("ready", "yes");
            std::io::stdout().flush().unwrap();
            std::thread::sleep(Duration::from_secs(60));
            return;
        }
        "exit3" => std::process::exit(3),
        "writable" => return writable_copies(false),
        "writable-hold" => return writable_copies(true),
        "secrets" => return secrets_seen(),
        "kill" => {
            nix::sys::signal::raise(nix::sys::signal::Signal::SIGKILL).unwrap();
        }
        _ => {}
    }
    fact(
        "hostname",
        fs::read_to_string("/proc/sys/kernel/hostname")
            .unwrap_or_default()
            .trim(),
    );
    fact("uid", nix::unistd::getuid());
    fact("gid", nix::unistd::getgid());
    fact(
        "groups",
        nix::unistd::getgroups().map(|g| g.len()).unwrap_or(99),
    );
    let status = fs::read_to_string("/proc/self/status").unwrap_or_default();
    for key in [
        "CapInh",
        "CapPrm",
        "CapEff",
        "CapBnd",
        "CapAmb",
        "NoNewPrivs",
    ] {
        let value = status
            .lines()
            .find_map(|l| l.strip_prefix(&format!("{key}:")))
            .unwrap_or("missing")
            .trim()
            .to_string();
        fact(key, value);
    }
    let mut pids: Vec<u32> = fs::read_dir("/proc")
        .map(|d| {
            d.filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
                .collect()
        })
        .unwrap_or_default();
    pids.sort();
    fact("pids", format!("{pids:?}"));
    let secret = std::env::var(SECRET_VAR).unwrap_or_default();
    attempt("secret", fs::read(&secret).map(|_| ()));
    let mut root: Vec<String> = fs::read_dir("/")
        .map(|d| {
            d.filter_map(|e| Some(e.ok()?.file_name().to_str()?.to_string()))
                .collect()
        })
        .unwrap_or_default();
    root.sort();
    fact("root", root.join(","));
    let mut dev: Vec<String> = fs::read_dir("/dev")
        .map(|d| {
            d.filter_map(|e| Some(e.ok()?.file_name().to_str()?.to_string()))
                .collect()
        })
        .unwrap_or_default();
    dev.sort();
    fact("dev", dev.join(","));
    attempt("write_root", fs::write("/evil", b"x"));
    attempt("write_bin", fs::write("/bin/evil", b"x"));
    attempt("write_tmp", fs::write("/tmp/scratch", b"x"));
    attempt("dev_null", fs::write("/dev/null", b"x"));
    let state = std::env::var("STATE_DIR").unwrap_or_default();
    let count_file = Path::new(&state).join("count");
    let count = fs::read_to_string(&count_file)
        .ok()
        .and_then(|t| t.trim().parse::<u32>().ok())
        .unwrap_or(0)
        + 1;
    attempt("write_state", fs::write(&count_file, count.to_string()));
    fact("count", count);
    fact(
        "resources",
        fs::read_to_string(cairn_layout::run::RESOURCES)
            .unwrap_or_default()
            .trim(),
    );
    attempt(
        "write_resources",
        fs::write(cairn_layout::run::RESOURCES, b"{}"),
    );
    let notify = std::env::var("NOTIFY_SOCKET").unwrap_or_default();
    attempt(
        "notify",
        UnixDatagram::unbound().and_then(|s| s.send_to(b"READY=1", &notify).map(|_| ())),
    );
    attempt(
        "mount_proc",
        nix::mount::mount(
            Some("proc"),
            "/tmp",
            Some("proc"),
            nix::mount::MsFlags::empty(),
            None::<&str>,
        )
        .map_err(std::io::Error::from),
    );
    escapes();
    let listen: Vec<String> = ["LISTEN_FDS", "LISTEN_FDNAMES", "LISTEN_PID"]
        .iter()
        .map(|k| std::env::var(k).unwrap_or_default())
        .collect();
    fact("listen", listen.join(";"));
    let fd3 = nix::sys::socket::getsockname::<nix::sys::socket::SockaddrIn>(3);
    fact("fd3_port", fd3.map_or(0, |a| a.port()));
    let mut env: Vec<String> = std::env::vars().map(|(k, _)| k).collect();
    env.sort();
    fact("env", env.join(","));
    std::io::stdout().flush().unwrap();
}

/// The errno of a raw system call's failure, or "ok".
fn errno_of(ret: libc::c_long) -> String {
    if ret < 0 {
        format!(
            "error:{}",
            std::io::Error::last_os_error().raw_os_error().unwrap_or(0)
        )
    } else {
        "ok".to_string()
    }
}

/// What the filter and the masks of /proc close, seen from inside.
fn escapes() {
    // SAFETY: KEYCTL_GET_KEYRING_ID and unshare take no pointers.
    let (keyctl, unshare) = unsafe {
        (
            libc::syscall(libc::SYS_keyctl, 0, -3, 0),
            libc::syscall(libc::SYS_unshare, libc::CLONE_NEWUSER),
        )
    };
    fact("keyctl", errno_of(keyctl));
    fact("unshare_user", errno_of(unshare));
    for name in ["keys", "timer_list", "kcore"] {
        let path = format!("/proc/{name}");
        let seen = fs::read(&path).map_or_else(
            |e| format!("error:{}", e.raw_os_error().unwrap_or(0)),
            |bytes| bytes.len().to_string(),
        );
        fact(&format!("proc_{name}"), seen);
    }
    let acpi = fs::read_dir("/proc/acpi").map_or(-1, |d| d.count() as i64);
    fact("proc_acpi_entries", acpi);
    let sys = nix::sys::statvfs::statvfs("/proc/sys").map(|s| s.flags());
    let read_only = sys.is_ok_and(|f| f.contains(nix::sys::statvfs::FsFlags::ST_RDONLY));
    fact("proc_sys_read_only", read_only);
}

/// Checks what [`escapes`] saw: each closed, the masked files of /proc
/// empty where this kernel has them.
fn check_escapes(facts: &BTreeMap<String, String>) {
    let get = |k: &str| facts.get(k).map(String::as_str).unwrap_or("missing");
    assert_eq!(get("keyctl"), "error:1", "{facts:#?}");
    assert_eq!(get("unshare_user"), "error:1");
    for name in ["keys", "timer_list", "kcore"] {
        let expected = if Path::new("/proc").join(name).exists() {
            "0"
        } else {
            "error:2"
        };
        assert_eq!(get(&format!("proc_{name}")), expected, "/proc/{name}");
    }
    if Path::new("/proc/acpi").exists() {
        assert_eq!(get("proc_acpi_entries"), "0");
    }
    assert_eq!(get("proc_sys_read_only"), "true");
}

struct Host {
    dir: tempfile::TempDir,
    paths: SandboxPaths,
    secret: PathBuf,
    notify: UnixDatagram,
}

fn app(name: &str) -> App {
    let mut paths = BTreeMap::new();
    paths.insert("/var/lib/probe".to_string(), PathGrant::State);
    paths.insert("/tmp".to_string(), PathGrant::Tmpfs);
    let mut env = BTreeMap::new();
    env.insert("CAIRN_PROBE".to_string(), "1".to_string());
    App {
        name: name.to_string(),
        bundle: PathBuf::from(name),
        exec: vec!["/bin/probe".to_string()],
        env,
        instances: 2,
        after: Vec::new(),
        restart: Restart::Never,
        stop_timeout: Duration::from_secs(5),
        sockets: Sockets::Bound,
        ports: BTreeMap::from([("http".to_string(), 8080)]),
        paths,
        limits: Limits::default(),
        health: None,
        secrets: Default::default(),
        security: Default::default(),
        uses: Vec::new(),
    }
}

fn host() -> Host {
    let dir = tempfile::tempdir().unwrap();
    let base = dir.path();
    let paths = SandboxPaths {
        apps: base.join("bank/apps"),
        state: base.join("data/apps"),
        roots: base.join("run/roots"),
        run: base.join("run/apps"),
        notify: base.join("run/notify"),
        secrets: base.join("data/cairn/secrets"),
        dev: PathBuf::from("/dev"),
        user_namespace: None,
        run_as: None,
    };
    for name in ["probe", "other"] {
        let tree = paths.apps.join(name);
        for sub in ["bin", "var/lib/probe", "tmp", "etc"] {
            fs::create_dir_all(tree.join(sub)).unwrap();
        }
        fs::copy(std::env::current_exe().unwrap(), tree.join("bin/probe")).unwrap();
        fs::write(tree.join("etc/motd"), b"hello\n").unwrap();
        std::os::unix::fs::symlink("etc/motd", tree.join("motd")).unwrap();
    }
    // The whole base must be reachable (the tempdir is 0700 root's).
    fs::set_permissions(base, fs::Permissions::from_mode(0o755)).unwrap();
    let secret = base.join("secret");
    fs::write(&secret, b"host only").unwrap();
    fs::create_dir_all(paths.notify.parent().unwrap()).unwrap();
    let notify = UnixDatagram::bind(&paths.notify).unwrap();
    // Apps run as other users: connecting needs write permission.
    fs::set_permissions(&paths.notify, fs::Permissions::from_mode(0o666)).unwrap();
    notify
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    Host {
        dir,
        paths,
        secret,
        notify,
    }
}

/// Runs instance `instance` of `app` to its end; its facts by name.
fn run(host: &Host, app: &App, instance: u32) -> BTreeMap<String, String> {
    let uid = cairn_manifest::app_uid(&app.name);
    let mut env = cairn_supervisor::supervisor::app::build_env(app, instance, 0);
    env.insert("NOTIFY_SOCKET".into(), sandbox::NOTIFY_SOCKET.into());
    env.insert(SECRET_VAR.into(), host.secret.display().to_string());
    let resources = resources_json(app, instance, 0, uid, Some(sandbox::NOTIFY_SOCKET));
    let argv = app.expand_exec(0, instance);
    let mut launch = sandbox::prepare(app, instance, &host.paths, &argv, &env, &resources).unwrap();
    let started = launch.spawn().unwrap();
    let mut out = String::new();
    fs::File::from(started.stdout)
        .read_to_string(&mut out)
        .unwrap();
    let mut err = String::new();
    fs::File::from(started.stderr)
        .read_to_string(&mut err)
        .unwrap();
    let status = nix::sys::wait::waitpid(nix::unistd::Pid::from_raw(started.pid), None).unwrap();
    assert_eq!(
        status,
        nix::sys::wait::WaitStatus::Exited(nix::unistd::Pid::from_raw(started.pid), 0),
        "{out}\n{err}"
    );
    out.lines()
        .filter_map(|l| l.strip_prefix("fact "))
        .filter_map(|l| l.split_once(' '))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn an_app_sees_only_its_grants_as_its_own_user_without_capabilities() {
    let host = host();
    let probe = app("probe");
    let facts = run(&host, &probe, 0);
    let uid = cairn_manifest::app_uid("probe").to_string();
    let get = |k: &str| facts.get(k).map(String::as_str).unwrap_or("missing");
    assert_eq!(get("pid"), "2", "{facts:#?}");
    assert_eq!(get("pids"), "[1, 2]", "the reaper and the app");
    assert_eq!(get("hostname"), "probe");
    assert_eq!(get("uid"), uid);
    assert_eq!(get("gid"), uid);
    assert_eq!(get("groups"), "0");
    for cap in ["CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"] {
        assert_eq!(get(cap), "0000000000000000", "{cap}");
    }
    assert_eq!(get("NoNewPrivs"), "1");
    assert_eq!(get("secret"), "error:2", "a host file is not there");
    assert_eq!(get("root"), "bin,dev,etc,motd,proc,run,tmp,var");
    assert_eq!(
        get("dev"),
        "fd,full,null,ptmx,pts,random,shm,stderr,stdin,stdout,tty,urandom,zero"
    );
    assert_eq!(get("write_root"), "error:30", "the root is read-only");
    assert_eq!(get("write_bin"), "error:30", "the tree is read-only");
    assert_eq!(get("write_tmp"), "ok");
    assert_eq!(get("dev_null"), "ok");
    assert_eq!(get("write_state"), "ok");
    assert_eq!(get("count"), "1");
    assert_eq!(get("write_resources"), "error:30");
    assert_eq!(get("mount_proc"), "error:1", "no CAP_SYS_ADMIN");
    check_escapes(&facts);
    assert!(get("resources").starts_with(&format!(
        "{{\"app\":\"probe\",\"instance\":0,\"uid\":{uid},\"ports\":{{\"http\":8080}},\"state_dir\":\"/var/lib/probe\""
    )), "{}", get("resources"));
    assert_eq!(
        get("env"),
        "CAIRN_APP,CAIRN_INSTANCE,CAIRN_PROBE,HOME,NOTIFY_SOCKET,PATH,PORT_HTTP,PROBE_SECRET,STATE_DIR"
    );
    assert_eq!(get("notify"), "ok");
    let mut buf = [0u8; 64];
    let n = host.notify.recv(&mut buf).unwrap();
    assert_eq!(&buf[..n], b"READY=1");

    // State persists across runs, on the host in the instance's directory,
    // owned by the app and private to it.
    let facts = run(&host, &probe, 0);
    assert_eq!(facts.get("count").map(String::as_str), Some("2"));
    let dir = host.paths.state.join("probe/0/var-lib-probe");
    let meta = fs::metadata(&dir).unwrap();
    assert_eq!(meta.uid().to_string(), uid);
    assert_eq!(meta.mode() & 0o7777, 0o700);
    assert_eq!(fs::read_to_string(dir.join("count")).unwrap(), "2");
    // Nothing leaked into the host's view of the root or the tree.
    assert_eq!(
        fs::read_dir(host.paths.roots.join("probe"))
            .unwrap()
            .count(),
        0
    );
    assert!(!host.paths.apps.join("probe/tmp/scratch").exists());
    drop(host.dir);
}

fn instances_and_apps_have_their_own_names_and_state() {
    let host = host();
    let first = run(&host, &app("probe"), 1);
    assert_eq!(first.get("hostname").map(String::as_str), Some("probe-1"));
    assert_eq!(first.get("count").map(String::as_str), Some("1"));
    let other = run(&host, &app("other"), 0);
    assert_eq!(other.get("hostname").map(String::as_str), Some("other"));
    assert_eq!(
        other.get("count").map(String::as_str),
        Some("1"),
        "not probe's state"
    );
    assert_eq!(
        other.get("uid").map(String::as_str),
        Some(cairn_manifest::app_uid("other").to_string().as_str())
    );
    assert!(host
        .paths
        .state
        .join("probe/1/var-lib-probe/count")
        .exists());
    assert!(host
        .paths
        .state
        .join("other/0/var-lib-probe/count")
        .exists());
}

fn passed_sockets_arrive_from_fd_3_with_the_listen_variables() {
    let host = host();
    let probe = app("probe");
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let mut env = cairn_supervisor::supervisor::app::build_env(&probe, 0, 0);
    env.insert(SECRET_VAR.into(), host.secret.display().to_string());
    let argv = probe.expand_exec(0, 0);
    let mut launch = sandbox::prepare(&probe, 0, &host.paths, &argv, &env, "{}").unwrap();
    launch.pass_sockets(vec![("http".to_string(), listener.into())]);
    let started = launch.spawn().unwrap();
    let mut out = String::new();
    fs::File::from(started.stdout)
        .read_to_string(&mut out)
        .unwrap();
    nix::sys::wait::waitpid(nix::unistd::Pid::from_raw(started.pid), None).unwrap();
    assert!(out.contains("fact listen 1;http;2\n"), "{out}");
    assert!(out.contains(&format!("fact fd3_port {port}\n")), "{out}");
}

fn a_failing_setup_step_is_reported_by_name() {
    let host = host();
    let mut broken = app("probe");
    // A grant inside the read-only tree without its mount point.
    broken
        .paths
        .insert("/etc/missing".to_string(), PathGrant::Tmpfs);
    let env = BTreeMap::new();
    let argv = broken.expand_exec(0, 0);
    let mut launch = sandbox::prepare(&broken, 0, &host.paths, &argv, &env, "{}").unwrap();
    let err = launch.spawn().unwrap_err().to_string();
    assert!(
        err.contains("sandbox setup failed (mount tmpfs on "),
        "{err}"
    );
    assert!(err.contains("/etc/missing)"), "{err}");
}

/// Starts instance 0 of `probe` with `CAIRN_PROBE=mode`.
fn start(host: &Host, mode: &str) -> sandbox::Started {
    let mut probe = app("probe");
    probe
        .env
        .insert("CAIRN_PROBE".to_string(), mode.to_string());
    start_instance(host, &probe, 0)
}

/// Starts instance `instance` of `app` as it is.
fn start_instance(host: &Host, app: &App, instance: u32) -> sandbox::Started {
    let env = cairn_supervisor::supervisor::app::build_env(app, instance, 0);
    let argv = app.expand_exec(0, instance);
    let mut launch = sandbox::prepare(app, instance, &host.paths, &argv, &env, "{}").unwrap();
    launch.spawn().unwrap()
}

/// How `pid` ended, or None if it is still running after `limit` (then it
/// is killed, so a failing test leaves nothing behind).
fn wait_within(pid: i32, limit: Duration) -> Option<WaitStatus> {
    let pid = Pid::from_raw(pid);
    let start = std::time::Instant::now();
    while start.elapsed() < limit {
        match waitpid(pid, Some(WaitPidFlag::WNOHANG)).unwrap() {
            WaitStatus::StillAlive => std::thread::sleep(Duration::from_millis(20)),
            status => return Some(status),
        }
    }
    let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGKILL);
    let _ = waitpid(pid, None);
    None
}

fn facts_of(out: &str) -> BTreeMap<String, String> {
    out.lines()
        .filter_map(|l| l.strip_prefix("fact "))
        .filter_map(|l| l.split_once(' '))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn the_app_is_pid_2_and_its_orphans_are_reaped_inside_its_namespace() {
    let host = host();
    let started = start(&host, "orphans");
    let mut out = String::new();
    fs::File::from(started.stdout)
        .read_to_string(&mut out)
        .unwrap();
    let status = wait_within(started.pid, Duration::from_secs(20));
    assert_eq!(
        status,
        Some(WaitStatus::Exited(Pid::from_raw(started.pid), 0)),
        "{out}"
    );
    let facts = facts_of(&out);
    assert_eq!(facts.get("pid").map(String::as_str), Some("2"), "{out}");
    assert_eq!(facts.get("zombies").map(String::as_str), Some("0"), "{out}");
}

fn term_stops_an_app_that_has_no_handler_for_it() {
    let host = host();
    let started = start(&host, "hang");
    let mut lines =
        std::io::BufRead::lines(std::io::BufReader::new(fs::File::from(started.stdout)));
    assert!(
        lines.any(|l| l.unwrap() == "fact ready yes"),
        "the probe did not start"
    );
    // As PID 1 stops an app: TERM to the instance's pid, the reaper's.
    nix::sys::signal::kill(
        Pid::from_raw(started.pid),
        nix::sys::signal::Signal::SIGTERM,
    )
    .unwrap();
    let status = wait_within(started.pid, Duration::from_secs(5));
    assert_eq!(
        status,
        Some(WaitStatus::Exited(Pid::from_raw(started.pid), 128 + 15)),
        "TERM must reach the app (pid 2) and take its default action"
    );
}

fn the_apps_exit_code_and_death_by_signal_are_the_instances() {
    let host = host();
    for (mode, code) in [("exit3", 3), ("kill", 128 + 9)] {
        let started = start(&host, mode);
        let mut out = String::new();
        fs::File::from(started.stdout)
            .read_to_string(&mut out)
            .unwrap();
        let status = wait_within(started.pid, Duration::from_secs(10));
        assert_eq!(
            status,
            Some(WaitStatus::Exited(Pid::from_raw(started.pid), code)),
            "{mode}: {out}"
        );
    }
}

fn a_failed_exec_of_the_app_is_reported_from_under_the_reaper() {
    let host = host();
    let mut missing = app("probe");
    missing.exec = vec!["/bin/missing".to_string()];
    let argv = missing.expand_exec(0, 0);
    let mut launch =
        sandbox::prepare(&missing, 0, &host.paths, &argv, &BTreeMap::new(), "{}").unwrap();
    let err = launch.spawn().unwrap_err().to_string();
    assert_eq!(
        err,
        "sandbox setup failed (exec): No such file or directory (os error 2)"
    );
}

/// Set in the environment of this executable re-run as an unprivileged
/// user, to run [`user_namespace_host`]'s body.
const USERNS_HOST_VAR: &str = "CAIRN_USERNS_HOST";

/// The uid and gid an unprivileged run drops to when the tests run as root.
const NOBODY: u32 = 65534;

/// Why user namespaces cannot be used here, if they cannot.
fn user_namespaces_unavailable() -> Option<String> {
    let err = cairn_supervisor::sys::spawn::probe_user_namespace().err()?;
    let sysctls: Vec<String> = [
        "/proc/sys/kernel/unprivileged_userns_clone",
        "/proc/sys/user/max_user_namespaces",
    ]
    .iter()
    .filter_map(|path| {
        Some(format!(
            "{path} = {}",
            fs::read_to_string(path).ok()?.trim()
        ))
    })
    .collect();
    Some(format!("{err} ({})", sysctls.join(", ")))
}

/// The body of the unprivileged test: what an app sees and may do when
/// its sandbox is built in a user namespace by an ordinary user. It is run
/// by [`an_unprivileged_host_runs_apps_in_user_namespaces`], as an ordinary
/// user, with `USERNS_HOST_VAR` set.
fn user_namespace_host() {
    assert!(!nix::unistd::geteuid().is_root(), "must run unprivileged");
    if let Some(why) = user_namespaces_unavailable() {
        panic!(
            "unprivileged user namespaces are not available here ({why}); `cairn dev` needs them"
        );
    }
    let mut host = host();
    host.paths.user_namespace = Some(sandbox::UserNamespace::current());
    let probe = app("probe");
    let facts = run(&host, &probe, 1);
    let uid = cairn_manifest::app_uid("probe").to_string();
    let get = |k: &str| facts.get(k).map(String::as_str).unwrap_or("missing");
    assert_eq!(get("pid"), "2", "{facts:#?}");
    assert_eq!(get("pids"), "[1, 2]");
    assert_eq!(get("hostname"), "probe-1");
    assert_eq!(get("uid"), uid, "the app's own uid inside");
    assert_eq!(get("gid"), uid);
    for cap in ["CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"] {
        assert_eq!(get(cap), "0000000000000000", "{cap}");
    }
    assert_eq!(get("NoNewPrivs"), "1");
    assert_eq!(get("secret"), "error:2", "a host file is not there");
    assert_eq!(get("root"), "bin,dev,etc,motd,proc,run,tmp,var");
    assert_eq!(
        get("dev"),
        "fd,full,null,ptmx,pts,random,shm,stderr,stdin,stdout,tty,urandom,zero"
    );
    assert_eq!(get("write_root"), "error:30");
    assert_eq!(get("write_bin"), "error:30");
    assert_eq!(get("write_tmp"), "ok");
    assert_eq!(get("dev_null"), "ok");
    assert_eq!(get("write_state"), "ok");
    assert_eq!(get("write_resources"), "error:30");
    assert_eq!(get("mount_proc"), "error:1", "no capabilities left");
    check_escapes(&facts);
    assert_eq!(get("notify"), "ok");
    assert_eq!(
        get("env"),
        "CAIRN_APP,CAIRN_INSTANCE,CAIRN_PROBE,HOME,NOTIFY_SOCKET,PATH,PORT_HTTP,PROBE_SECRET,STATE_DIR"
    );
    let mut buf = [0u8; 64];
    let n = host.notify.recv(&mut buf).unwrap();
    assert_eq!(&buf[..n], b"READY=1");
    // The state belongs to the host user, who is the app inside.
    let dir = host.paths.state.join("probe/1/var-lib-probe");
    let meta = fs::metadata(&dir).unwrap();
    assert_eq!(meta.uid(), nix::unistd::geteuid().as_raw());
    assert_eq!(meta.mode() & 0o7777, 0o700);
    assert_eq!(fs::read_to_string(dir.join("count")).unwrap(), "1");
    // Writable copies are a plain directory here, the host user's, who is
    // the app inside; removed when the instance ends.
    ship_config(&host);
    let facts = run(&host, &writable_app("writable", false), 1);
    let get = |k: &str| facts.get(k).map(String::as_str).unwrap_or("missing");
    assert_eq!(get("web_conf"), "shipped", "{facts:#?}");
    assert_eq!(get("web_owner"), uid);
    assert_eq!(get("write_conf"), "ok");
    assert_eq!(get("write_motd"), "ok");
    assert_eq!(get("write_fixed"), "error:30");
    assert_eq!(copies_left(&host), (Vec::new(), Vec::new()));
    // TERM reaches an app without a handler here too.
    let started = start(&host, "hang");
    let mut lines =
        std::io::BufRead::lines(std::io::BufReader::new(fs::File::from(started.stdout)));
    assert!(lines.any(|l| l.unwrap() == "fact ready yes"));
    nix::sys::signal::kill(
        Pid::from_raw(started.pid),
        nix::sys::signal::Signal::SIGTERM,
    )
    .unwrap();
    assert_eq!(
        wait_within(started.pid, Duration::from_secs(5)),
        Some(WaitStatus::Exited(Pid::from_raw(started.pid), 128 + 15))
    );
    println!("user namespace host: ok");
}

fn an_unprivileged_host_runs_apps_in_user_namespaces() {
    // As root, run the body as an ordinary user; otherwise as we are.
    let mut command = std::process::Command::new(std::env::current_exe().unwrap());
    command.env(USERNS_HOST_VAR, "1");
    if nix::unistd::geteuid().is_root() {
        // std drops the supplementary groups when root changes the uid.
        std::os::unix::process::CommandExt::uid(&mut command, NOBODY);
        std::os::unix::process::CommandExt::gid(&mut command, NOBODY);
    }
    let out = command.output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert!(
        stdout.contains("user namespace host: ok"),
        "{stdout}\n{stderr}"
    );
}

/// Ships what the writable copies are made of in `probe`'s tree: a
/// directory `/etc/web` (a file, a nested file, a symlink and a fifo), the
/// file `/etc/motd` (already there) and a directory `/etc/fixed`.
fn ship_config(host: &Host) -> PathBuf {
    let tree = host.paths.apps.join("probe");
    let web = tree.join("etc/web");
    fs::create_dir_all(web.join("sub")).unwrap();
    fs::write(web.join("web.conf"), b"shipped\n").unwrap();
    fs::write(web.join("sub/deep"), b"deep\n").unwrap();
    std::os::unix::fs::symlink("web.conf", web.join("link")).unwrap();
    nix::unistd::mkfifo(
        &web.join("fifo"),
        nix::sys::stat::Mode::from_bits_truncate(0o644),
    )
    .unwrap();
    fs::create_dir_all(tree.join("etc/fixed")).unwrap();
    fs::write(tree.join("etc/fixed/x"), b"fixed\n").unwrap();
    tree
}

/// `probe` with writable copies of `/etc/web` and `/etc/motd` (or read-only
/// ones, with `readonly`), a read-only `/etc/fixed`, in `mode`.
fn writable_app(mode: &str, readonly: bool) -> App {
    let mut probe = app("probe");
    probe
        .env
        .insert("CAIRN_PROBE".to_string(), mode.to_string());
    for (path, source) in [("/etc/web", "web"), ("/etc/motd", "motd")] {
        let grant = PathGrant::Bundle {
            source: source.into(),
            readonly,
        };
        probe.paths.insert(path.to_string(), grant);
    }
    probe.paths.insert(
        "/etc/fixed".to_string(),
        PathGrant::Bundle {
            source: "fixed".into(),
            readonly: true,
        },
    );
    probe
}

/// The writable copies under the instance run directories of `host`, and
/// the mounts PID 1 (here, this process) has there.
fn copies_left(host: &Host) -> (Vec<PathBuf>, Vec<String>) {
    let dirs = fs::read_dir(&host.paths.run)
        .unwrap()
        .flat_map(|label| fs::read_dir(label.unwrap().path()).unwrap())
        .map(|entry| entry.unwrap().path())
        .filter(|p| {
            p.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with("writable")
        })
        .collect();
    let run = host.paths.run.display().to_string();
    let mounts = fs::read_to_string("/proc/self/mountinfo")
        .unwrap()
        .lines()
        .filter(|l| l.contains(&run))
        .map(str::to_string)
        .collect();
    (dirs, mounts)
}

fn a_writable_bundled_path_is_a_fresh_private_copy_at_every_start() {
    let host = host();
    let tree = ship_config(&host);
    let uid = cairn_manifest::app_uid("probe").to_string();

    // Instance 0 writes its copies and stays up.
    let first = start_instance(&host, &writable_app("writable-hold", false), 0);
    let mut out = String::new();
    let mut lines = std::io::BufRead::lines(std::io::BufReader::new(fs::File::from(first.stdout)));
    for line in lines.by_ref() {
        let line = line.unwrap();
        out.push_str(&line);
        out.push('\n');
        if line == "fact ready yes" {
            break;
        }
    }
    let facts = facts_of(&out);
    let get = |k: &str| facts.get(k).map(String::as_str).unwrap_or("missing");
    assert_eq!(get("web_conf"), "shipped", "{out}");
    assert_eq!(get("via_link"), "shipped", "the symlink is copied as one");
    assert_eq!(get("deep"), "deep");
    assert_eq!(get("earlier"), "false");
    assert_eq!(get("fifo"), "error:2", "special files are not copied");
    assert_eq!(get("web_owner"), uid, "the copy is the app's");
    assert_eq!(get("conf_owner"), uid);
    assert_eq!(get("link_owner"), uid);
    assert_eq!(get("write_added"), "ok");
    assert_eq!(get("write_conf"), "ok");
    assert_eq!(get("mkdir"), "ok");
    assert_eq!(get("rename"), "ok");
    assert_eq!(get("conf_after"), "changed");
    assert_eq!(get("web_flags"), "rdonly=false nosuid=true nodev=true");
    assert_eq!(get("motd"), "hello");
    assert_eq!(
        get("write_motd"),
        "ok",
        "a single file is writable in place"
    );
    assert_eq!(get("motd_after"), "changed motd");
    assert_eq!(
        get("write_fixed"),
        "error:30",
        "readonly = true stays read-only"
    );
    assert_eq!(
        get("write_etc"),
        "error:30",
        "only the path itself is writable"
    );

    // While it runs: its copies are on a tmpfs of their own, the bank is
    // untouched, and another instance gets copies of its own.
    let (dirs, mounts) = copies_left(&host);
    assert_eq!(dirs.len(), 1, "{dirs:?}");
    assert!(
        dirs[0].starts_with(host.paths.run.join("probe")),
        "{dirs:?}"
    );
    assert_eq!(mounts.len(), 1, "{mounts:#?}");
    assert!(mounts[0].contains(" - tmpfs "), "{}", mounts[0]);
    assert_eq!(
        fs::metadata(&dirs[0]).unwrap().permissions().mode() & 0o7777,
        0o700
    );
    assert_eq!(
        fs::read_to_string(dirs[0].join("etc-web/web.conf")).unwrap(),
        "changed"
    );
    let other = run(&host, &writable_app("writable", false), 1);
    assert_eq!(other.get("web_conf").map(String::as_str), Some("shipped"));
    assert_eq!(other.get("earlier").map(String::as_str), Some("false"));
    assert_eq!(other.get("motd").map(String::as_str), Some("hello"));
    nix::sys::signal::kill(Pid::from_raw(first.pid), nix::sys::signal::Signal::SIGTERM).unwrap();
    assert_eq!(
        wait_within(first.pid, Duration::from_secs(5)),
        Some(WaitStatus::Exited(Pid::from_raw(first.pid), 128 + 15))
    );
    // As the supervisor does when an instance ends.
    drop(first.copies);
    assert_eq!(copies_left(&host), (Vec::new(), Vec::new()));
    assert_eq!(
        fs::read_to_string(tree.join("etc/web/web.conf")).unwrap(),
        "shipped\n"
    );
    assert!(!tree.join("etc/web/added").exists());
    assert!(!tree.join("etc/web/made").exists());
    assert_eq!(
        fs::read_to_string(tree.join("etc/motd")).unwrap(),
        "hello\n"
    );

    // The next start begins again from what is shipped.
    let again = run(&host, &writable_app("writable", false), 0);
    let get = |k: &str| again.get(k).map(String::as_str).unwrap_or("missing");
    assert_eq!(get("web_conf"), "shipped", "{again:#?}");
    assert_eq!(get("earlier"), "false");
    assert_eq!(get("motd"), "hello");
    assert_eq!(get("write_conf"), "ok");
    assert_eq!(copies_left(&host), (Vec::new(), Vec::new()));

    // With readonly = true the same paths are the tree's, read-only.
    let fixed = run(&host, &writable_app("writable", true), 0);
    let get = |k: &str| fixed.get(k).map(String::as_str).unwrap_or("missing");
    assert_eq!(get("web_conf"), "shipped", "{fixed:#?}");
    assert_eq!(get("write_conf"), "error:30");
    assert_eq!(get("write_added"), "error:30");
    assert_eq!(get("write_motd"), "error:30");
    assert_eq!(get("web_flags"), "rdonly=true nosuid=true nodev=true");
}

fn a_writable_copy_that_cannot_be_made_is_an_error_and_leaves_nothing() {
    let host = host();
    ship_config(&host);
    let mut probe = writable_app("writable", false);
    // Not shipped: the tree has no such path.
    probe.paths.insert(
        "/etc/missing".to_string(),
        PathGrant::Bundle {
            source: "missing".into(),
            readonly: false,
        },
    );
    let argv = probe.expand_exec(0, 0);
    let err = sandbox::prepare(&probe, 0, &host.paths, &argv, &BTreeMap::new(), "{}")
        .unwrap_err()
        .to_string();
    assert!(err.starts_with("writable copy of /etc/missing: "), "{err}");
    assert!(
        err.ends_with("/etc/missing is not in the app's tree"),
        "{err}"
    );
    assert_eq!(copies_left(&host), (Vec::new(), Vec::new()));

    // More than the app's tmpfs holds (its memory limit).
    let mut small = writable_app("writable", false);
    small.limits.memory = Some(4);
    let err = sandbox::prepare(&small, 0, &host.paths, &argv, &BTreeMap::new(), "{}")
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("the shipped content is larger than 4 bytes"),
        "{err}"
    );
    assert_eq!(copies_left(&host), (Vec::new(), Vec::new()));
}

fn secret_app(name: &str) -> App {
    let mut app = app(name);
    app.env
        .insert("CAIRN_PROBE".to_string(), "secrets".to_string());
    app
}

fn a_secret_reaches_only_the_app_granted_it_read_only_as_its_own() {
    let host = host();
    let store = &host.paths.secrets;
    fs::create_dir_all(store).unwrap();
    fs::write(store.join("db-password"), b"hunter2\n").unwrap();
    fs::write(store.join("banner"), b"secret banner\n").unwrap();
    for file in ["db-password", "banner"] {
        fs::set_permissions(store.join(file), fs::Permissions::from_mode(0o600)).unwrap();
    }
    let mut granted = secret_app("probe");
    granted.secrets = BTreeMap::from([
        ("/run/secrets/db".to_string(), "db-password".to_string()),
        // Over a file the app ships, inside one of its directories.
        ("/etc/motd".to_string(), "banner".to_string()),
    ]);
    let facts = run(&host, &granted, 0);
    let get = |k: &str| facts.get(k).map(String::as_str).unwrap_or("missing");
    let uid = cairn_manifest::app_uid("probe").to_string();
    assert_eq!(get("db_text"), "hunter2", "{facts:#?}");
    assert_eq!(get("db_uid"), uid);
    assert_eq!(get("db_mode"), "400");
    assert_eq!(get("motd_text"), "secret banner");
    assert_eq!(get("motd_mode"), "400");
    for attempt in ["db_write", "db_chmod", "motd_write", "motd_chmod"] {
        assert!(get(attempt).starts_with("error"), "{attempt}: {facts:#?}");
    }
    // The copies lived only as long as the instance.
    assert_eq!(copies_left(&host), (Vec::new(), Vec::new()));

    let other = run(&host, &secret_app("other"), 0);
    let get = |k: &str| other.get(k).map(String::as_str).unwrap_or("missing");
    assert_eq!(get("db_text"), "error NotFound", "{other:#?}");
    assert_eq!(
        get("motd_text"),
        "hello",
        "the shipped file, not the secret"
    );

    // A secret that was never stored stops the start, saying how to store it.
    let mut missing = secret_app("probe");
    missing.secrets = BTreeMap::from([("/run/secrets/api".to_string(), "api-token".to_string())]);
    let env = cairn_supervisor::supervisor::app::build_env(&missing, 0, 0);
    let err = sandbox::prepare(
        &missing,
        0,
        &host.paths,
        &missing.expand_exec(0, 0),
        &env,
        "{}",
    )
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("secret `api-token` is not stored on this device")
            && err.contains("cairn secret set --to HOST api-token FILE"),
        "{err}"
    );
    assert_eq!(copies_left(&host), (Vec::new(), Vec::new()));
}

fn main() {
    if let Some(mode) = std::env::var_os("CAIRN_PROBE") {
        return probe(mode);
    }
    if std::env::var_os(USERNS_HOST_VAR).is_some() {
        return user_namespace_host();
    }
    let mut tests = support::harness::Tests::from_args();
    tests.run_as_root(
        "an_app_sees_only_its_grants_as_its_own_user_without_capabilities",
        an_app_sees_only_its_grants_as_its_own_user_without_capabilities,
    );
    tests.run_as_root(
        "instances_and_apps_have_their_own_names_and_state",
        instances_and_apps_have_their_own_names_and_state,
    );
    tests.run_as_root(
        "passed_sockets_arrive_from_fd_3_with_the_listen_variables",
        passed_sockets_arrive_from_fd_3_with_the_listen_variables,
    );
    tests.run_as_root(
        "a_failing_setup_step_is_reported_by_name",
        a_failing_setup_step_is_reported_by_name,
    );
    tests.run_as_root(
        "the_app_is_pid_2_and_its_orphans_are_reaped_inside_its_namespace",
        the_app_is_pid_2_and_its_orphans_are_reaped_inside_its_namespace,
    );
    tests.run_as_root(
        "term_stops_an_app_that_has_no_handler_for_it",
        term_stops_an_app_that_has_no_handler_for_it,
    );
    tests.run_as_root(
        "the_apps_exit_code_and_death_by_signal_are_the_instances",
        the_apps_exit_code_and_death_by_signal_are_the_instances,
    );
    tests.run_as_root(
        "a_failed_exec_of_the_app_is_reported_from_under_the_reaper",
        a_failed_exec_of_the_app_is_reported_from_under_the_reaper,
    );
    tests.run_as_root(
        "a_writable_bundled_path_is_a_fresh_private_copy_at_every_start",
        a_writable_bundled_path_is_a_fresh_private_copy_at_every_start,
    );
    tests.run_as_root(
        "a_writable_copy_that_cannot_be_made_is_an_error_and_leaves_nothing",
        a_writable_copy_that_cannot_be_made_is_an_error_and_leaves_nothing,
    );
    tests.run_as_root(
        "a_secret_reaches_only_the_app_granted_it_read_only_as_its_own",
        a_secret_reaches_only_the_app_granted_it_read_only_as_its_own,
    );
    tests.run(
        "an_unprivileged_host_runs_apps_in_user_namespaces",
        an_unprivileged_host_runs_apps_in_user_namespaces,
    );
    tests.finish();
}
