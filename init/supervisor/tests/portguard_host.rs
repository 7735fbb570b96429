//! The port guard on this machine's kernel: a process in a guarded cgroup can
//! bind its declared ports and port 0, and gets EPERM for any other port, over
//! TCP and UDP, IPv4 and (where the host has it) IPv6.
//!
//! Needs root and a writable cgroup v2 hierarchy (a hybrid host's
//! `/sys/fs/cgroup/unified` will do: cgroup BPF needs no controllers).
//! It is `#[ignore = "needs root"]`; the suite runs it as root, and without
//! a usable cgroup v2 hierarchy it fails and says why.

mod support;

use std::fs;
use std::net::{TcpListener, UdpSocket};
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};

use cairn_supervisor::cgroup::{cgroup2_mount_point, join_from_child};
use cairn_supervisor::portguard::{arm_hooks, guard_cgroup};

/// One bind the child tries, and the errno it must get (0 = success).
#[derive(Debug, Clone, Copy)]
struct Probe {
    name: &'static str,
    v6: bool,
    kind: libc::c_int,
    port: u16,
    expect: i32,
}

/// Removes the test cgroup however the test ends.
struct TestCgroup(PathBuf);

impl Drop for TestCgroup {
    fn drop(&mut self) {
        let _ = fs::remove_dir(&self.0);
    }
}

/// A port free for both TCP and UDP on the loopback addresses, from the
/// kernel's ephemeral range.
fn free_port(v6: bool) -> u16 {
    let addr = if v6 { "[::1]:0" } else { "127.0.0.1:0" };
    loop {
        let port = TcpListener::bind(addr)
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let udp = if v6 {
            format!("[::1]:{port}")
        } else {
            format!("127.0.0.1:{port}")
        };
        if UdpSocket::bind(udp).is_ok() {
            return port;
        }
    }
}

/// The child's side: bind(2) on a fresh socket, errno or 0. Only raw,
/// async-signal-safe calls: this runs in a fork of a threaded process.
fn try_bind(probe: &Probe) -> i32 {
    // SAFETY: plain system calls on stack memory owned by this frame.
    unsafe {
        let family = if probe.v6 {
            libc::AF_INET6
        } else {
            libc::AF_INET
        };
        let fd = libc::socket(family, probe.kind | libc::SOCK_CLOEXEC, 0);
        if fd < 0 {
            return -*libc::__errno_location();
        }
        let ret = if probe.v6 {
            let mut addr: libc::sockaddr_in6 = std::mem::zeroed();
            addr.sin6_family = libc::AF_INET6 as libc::sa_family_t;
            addr.sin6_port = probe.port.to_be();
            addr.sin6_addr.s6_addr[15] = 1;
            libc::bind(
                fd,
                std::ptr::addr_of!(addr).cast(),
                std::mem::size_of::<libc::sockaddr_in6>() as libc::socklen_t,
            )
        } else {
            let mut addr: libc::sockaddr_in = std::mem::zeroed();
            addr.sin_family = libc::AF_INET as libc::sa_family_t;
            addr.sin_port = probe.port.to_be();
            addr.sin_addr.s_addr = u32::from_be_bytes([127, 0, 0, 1]).to_be();
            libc::bind(
                fd,
                std::ptr::addr_of!(addr).cast(),
                std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t,
            )
        };
        let result = if ret == 0 {
            0
        } else {
            *libc::__errno_location()
        };
        libc::close(fd);
        result
    }
}

/// Forks a child into `cgroup`, which tries each probe; its errnos.
fn bind_in(cgroup: &Path, probes: &[Probe]) -> Vec<i32> {
    let procs = fs::OpenOptions::new()
        .write(true)
        .open(cgroup.join("cgroup.procs"))
        .unwrap();
    let mut pipe = [0; 2];
    // SAFETY: pipe2 fills the two-element array it is given.
    let ret = unsafe { libc::pipe2(pipe.as_mut_ptr(), libc::O_CLOEXEC) };
    assert_eq!(ret, 0, "pipe2");
    let mut results = vec![0i32; probes.len()];
    // SAFETY: the child only makes async-signal-safe calls (write, socket,
    // bind, close, _exit) on memory prepared before the fork.
    let pid = unsafe { libc::fork() };
    assert!(pid >= 0, "fork failed");
    if pid == 0 {
        let joined = join_from_child(procs.as_raw_fd()).is_ok();
        for (slot, probe) in results.iter_mut().zip(probes) {
            *slot = if joined { try_bind(probe) } else { -1000 };
        }
        let bytes = results.len() * std::mem::size_of::<i32>();
        // SAFETY: writes the results array; _exit never returns.
        unsafe {
            libc::write(pipe[1], results.as_ptr().cast(), bytes);
            libc::_exit(0);
        }
    }
    // SAFETY: closes our copy of the write end, reads into `results`,
    // which is large enough, and reaps the child.
    let (read, status) = unsafe {
        libc::close(pipe[1]);
        let bytes = results.len() * std::mem::size_of::<i32>();
        let read = libc::read(pipe[0], results.as_mut_ptr().cast(), bytes);
        libc::close(pipe[0]);
        let mut status = 0;
        libc::waitpid(pid, &mut status, 0);
        (read, status)
    };
    assert_eq!(status, 0, "child status");
    assert_eq!(read as usize, results.len() * 4, "child sent no results");

    results
}

#[test]
#[ignore = "needs root"]
fn kernel_refuses_undeclared_ports() {
    support::require_root();
    let mountinfo = fs::read_to_string("/proc/self/mountinfo").unwrap();
    let Some(mount) = cgroup2_mount_point(&mountinfo) else {
        panic!("cannot run: no cgroup v2 hierarchy is mounted");
    };
    let dir = mount.join(format!("cairn-portguard-test-{}", std::process::id()));
    if let Err(err) = fs::create_dir(&dir) {
        panic!("cannot create cgroup {}: {err}", dir.display());
    }
    let cgroup = TestCgroup(dir);
    let ipv6 = TcpListener::bind("[::1]:0").is_ok();

    let allowed = free_port(false);
    let mut denied = free_port(false);
    while denied == allowed {
        denied = free_port(false);
    }
    let (allowed6, denied6) = if ipv6 {
        let allowed6 = free_port(true);
        let mut denied6 = free_port(true);
        while [allowed, allowed6].contains(&denied6) {
            denied6 = free_port(true);
        }
        (allowed6, denied6)
    } else {
        (0, 0)
    };
    // The guard outlives its descriptors: drop it before the child binds.
    let guard = guard_cgroup(&cgroup.0, &[allowed, allowed6]).unwrap();
    drop(guard);

    let (tcp, udp, eperm) = (libc::SOCK_STREAM, libc::SOCK_DGRAM, libc::EPERM);
    let v4 = |name, kind, port, expect| Probe {
        name,
        v6: false,
        kind,
        port,
        expect,
    };
    let v6 = |name, kind, port, expect| Probe {
        name,
        v6: true,
        kind,
        port,
        expect,
    };
    let mut probes = vec![
        v4("tcp4 declared", tcp, allowed, 0),
        v4("tcp4 undeclared", tcp, denied, eperm),
        v4("udp4 declared", udp, allowed, 0),
        v4("udp4 undeclared", udp, denied, eperm),
        v4("tcp4 port 0", tcp, 0, 0),
        v4("udp4 port 0", udp, 0, 0),
        // Root may bind port 80 anywhere else: only the guard refuses it.
        v4("tcp4 port 80", tcp, 80, eperm),
    ];
    if ipv6 {
        probes.extend([
            v6("tcp6 declared", tcp, allowed6, 0),
            v6("tcp6 undeclared", tcp, denied6, eperm),
            v6("udp6 declared", udp, allowed6, 0),
            v6("udp6 undeclared", udp, denied6, eperm),
            v6("tcp6 port 0", tcp, 0, 0),
        ]);
    } else {
        println!("note: no IPv6 loopback here; checking IPv4 only");
    }

    let results = bind_in(&cgroup.0, &probes);

    let mut failures = Vec::new();
    for (probe, got) in probes.iter().zip(&results) {
        println!(
            "{:<16} port {:>5}: errno {got} (want {})",
            probe.name, probe.port, probe.expect
        );
        if *got != probe.expect {
            failures.push(format!(
                "{}: errno {got}, want {}",
                probe.name, probe.expect
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "inside the guarded cgroup: {failures:?}"
    );

    // Outside the cgroup the same port binds: the refusal came from the guard.
    TcpListener::bind(("127.0.0.1", denied)).expect("undeclared port is free outside the cgroup");
}

#[test]
#[ignore = "needs root"]
fn armed_hooks_on_a_parent_allow_every_bind_and_leave_each_guard_in_force() {
    support::require_root();
    let mountinfo = fs::read_to_string("/proc/self/mountinfo").unwrap();
    let Some(mount) = cgroup2_mount_point(&mountinfo) else {
        panic!("cannot run: no cgroup v2 hierarchy is mounted");
    };
    let parent = TestCgroup(mount.join(format!("cairn-armed-test-{}", std::process::id())));
    fs::create_dir(&parent.0).unwrap();
    arm_hooks(&parent.0).unwrap();
    let child = TestCgroup(parent.0.join("app"));
    fs::create_dir(&child.0).unwrap();
    let allowed = free_port(false);
    let mut denied = free_port(false);
    while denied == allowed {
        denied = free_port(false);
    }
    // A guard below the armed programs still attaches, and still refuses.
    drop(guard_cgroup(&child.0, &[allowed]).unwrap());
    let tcp = libc::SOCK_STREAM;
    let probe = |name, port, expect| Probe {
        name,
        v6: false,
        kind: tcp,
        port,
        expect,
    };
    let in_child = bind_in(
        &child.0,
        &[
            probe("declared", allowed, 0),
            probe("undeclared", denied, libc::EPERM),
        ],
    );
    assert_eq!(in_child, vec![0, libc::EPERM], "in the guarded child");
    // In the armed parent itself, every bind passes.
    let in_parent = bind_in(
        &parent.0,
        &[probe("any", denied, 0), probe("port 80", 80, 0)],
    );
    assert_eq!(in_parent, vec![0, 0], "in the armed parent");
    drop(child);
}
