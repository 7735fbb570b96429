//! The kernel refuses `bind()` to any port an app did not declare.
//!
//! Ports are owned by the OS: instance i of an app gets each declared port +
//! offset + i, and nothing else. Since PID 1 lets unprivileged processes bind
//! low ports (`ip_unprivileged_port_start = 0`), this guard is the only thing
//! deciding which ports an app may bind, so it is enforced by the kernel: a
//! tiny eBPF program of type `BPF_PROG_TYPE_CGROUP_SOCK_ADDR`, attached to the
//! instance's cgroup at the `BPF_CGROUP_INET4_BIND` and
//! `BPF_CGROUP_INET6_BIND` hooks, runs on every `bind()` of a TCP, UDP (or
//! other inet) socket made by a process in that cgroup. It allows port 0 (the
//! kernel picks an ephemeral port, which outgoing connections need) and the
//! declared ports; anything else fails with `EPERM`.
//!
//! The program is assembled by hand ([`program`]) and loaded with the raw
//! bpf(2) system call; there is no compiler toolchain in the loop and no map.
//!
//! Lifetime: once attached, the cgroup holds its own reference to the
//! program. Dropping the [`PortGuard`] (closing its descriptors) leaves the
//! guard in force; it goes away with the cgroup (rmdir) or an explicit
//! [`PortGuard::detach`]. Attaching again to the same cgroup replaces the
//! program (no `BPF_F_ALLOW_MULTI`), which is what a restart that reuses a
//! leaf wants, and the flag also forbids programs in descendant cgroups that
//! would override it. Programs attached to ancestors still run as well; a
//! bind must pass all of them.
//!
//! Needs CAP_SYS_ADMIN (or CAP_BPF with CAP_NET_ADMIN) and a kernel with
//! `CONFIG_BPF_SYSCALL` and `CONFIG_CGROUP_BPF`. Processes that are already
//! bound keep their sockets; the guard applies to binds made after it is
//! attached, so attach it before the app starts.

mod armed;
mod program;
mod sys;

use std::ffi::CStr;
use std::fs::OpenOptions;
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

pub use armed::arm_hooks;
pub use program::{normalize, program, Insn, MAX_PORTS};

/// The two hooks the guard attaches to, by name for messages.
const HOOKS: [(u32, &str); 2] = [
    (sys::ATTACH_INET4_BIND, "inet4 bind"),
    (sys::ATTACH_INET6_BIND, "inet6 bind"),
];

/// How much of the verifier's report to ask for when a load fails.
const LOG_SIZE: usize = 64 * 1024;

/// What went wrong while guarding a cgroup's ports.
#[derive(Debug, thiserror::Error)]
pub enum PortGuardError {
    #[error("{count} ports declared, but the port guard allows at most {MAX_PORTS}")]
    TooManyPorts { count: usize },
    #[error("cannot open cgroup {path}: {source}")]
    OpenCgroup {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("the kernel refused the port guard program for {hook}: {source}{log}")]
    Load {
        hook: &'static str,
        #[source]
        source: io::Error,
        /// The verifier's report, prefixed with a newline, or empty.
        log: String,
    },
    #[error("cannot attach the port guard at {hook} to cgroup {cgroup}: {source}")]
    Attach {
        hook: &'static str,
        cgroup: String,
        #[source]
        source: io::Error,
    },
    #[error("cannot detach the port guard at {hook} from cgroup {cgroup}: {source}")]
    Detach {
        hook: &'static str,
        cgroup: String,
        #[source]
        source: io::Error,
    },
}

/// A port guard attached to one cgroup. See the module docs for how long the
/// guard lasts: dropping this does not remove it.
#[derive(Debug)]
pub struct PortGuard {
    cgroup: OwnedFd,
    name: String,
    ports: Vec<u16>,
    progs: Vec<(u32, &'static str, OwnedFd)>,
}

impl PortGuard {
    /// The ports the guard allows besides 0, ascending.
    pub fn ports(&self) -> &[u16] {
        &self.ports
    }

    /// Removes the guard from its cgroup.
    pub fn detach(self) -> Result<(), PortGuardError> {
        for (attach_type, hook, prog) in &self.progs {
            sys::prog_detach(self.cgroup.as_fd(), prog.as_fd(), *attach_type).map_err(
                |source| PortGuardError::Detach {
                    hook,
                    cgroup: self.name.clone(),
                    source,
                },
            )?;
        }
        Ok(())
    }
}

/// Lets processes in the cgroup at `cgroup_dir` bind only port 0 and the
/// ports in `allowed`, over IPv4 and IPv6.
pub fn guard_cgroup(cgroup_dir: &Path, allowed: &[u16]) -> Result<PortGuard, PortGuardError> {
    let dir = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_DIRECTORY | libc::O_CLOEXEC)
        .open(cgroup_dir)
        .map_err(|source| PortGuardError::OpenCgroup {
            path: cgroup_dir.to_path_buf(),
            source,
        })?;
    attach(
        OwnedFd::from(dir),
        cgroup_dir.display().to_string(),
        allowed,
    )
}

/// Like [`guard_cgroup`], for a cgroup directory already open (for example
/// [`crate::cgroup::InstanceCgroup::dir_fd`]).
pub fn guard_cgroup_fd(
    cgroup_dir: BorrowedFd<'_>,
    allowed: &[u16],
) -> Result<PortGuard, PortGuardError> {
    let name = std::fs::read_link(format!("/proc/self/fd/{}", cgroup_dir.as_raw_fd()))
        .map(|path| path.display().to_string())
        .unwrap_or_else(|_| format!("fd {}", cgroup_dir.as_raw_fd()));
    let dir = cgroup_dir
        .try_clone_to_owned()
        .map_err(|source| PortGuardError::OpenCgroup {
            path: PathBuf::from(&name),
            source,
        })?;
    attach(dir, name, allowed)
}

fn attach(cgroup: OwnedFd, name: String, allowed: &[u16]) -> Result<PortGuard, PortGuardError> {
    let ports = normalize(allowed);
    if ports.len() > MAX_PORTS {
        return Err(PortGuardError::TooManyPorts { count: ports.len() });
    }
    let insns = program(&ports);
    let mut progs = Vec::with_capacity(HOOKS.len());
    for (attach_type, hook) in HOOKS {
        let prog = load(&insns, attach_type, hook)?;
        sys::prog_attach(cgroup.as_fd(), prog.as_fd(), attach_type, 0).map_err(|source| {
            PortGuardError::Attach {
                hook,
                cgroup: name.clone(),
                source,
            }
        })?;
        progs.push((attach_type, hook, prog));
    }
    Ok(PortGuard {
        cgroup,
        name,
        ports,
        progs,
    })
}

/// Loads the program for one hook; on failure loads it again with a log
/// buffer so that the error carries the verifier's reason.
fn load(insns: &[Insn], attach_type: u32, hook: &'static str) -> Result<OwnedFd, PortGuardError> {
    const LICENSE: &CStr = c"GPL";
    const NAME: &str = "cairn_portguard";
    let prog_type = sys::PROG_TYPE_CGROUP_SOCK_ADDR;
    let source = match sys::prog_load(prog_type, attach_type, insns, LICENSE, NAME, None) {
        Ok(fd) => return Ok(fd),
        Err(err) => err,
    };
    let mut buf = vec![0u8; LOG_SIZE];
    // The second attempt only serves the report; its own error is the same.
    let _ = sys::prog_load(prog_type, attach_type, insns, LICENSE, NAME, Some(&mut buf));
    let until_nul = buf.split(|&b| b == 0).next().unwrap_or_default();
    let text = String::from_utf8_lossy(until_nul);
    let text = text.trim();
    let log = if text.is_empty() {
        String::new()
    } else {
        format!("\nverifier: {text}")
    };
    Err(PortGuardError::Load { hook, source, log })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_more_ports_than_the_cap_before_touching_the_cgroup() {
        let ports: Vec<u16> = (1..=65).collect();
        let dir = OwnedFd::from(std::fs::File::open("/").unwrap());
        let err = attach(dir, "test".into(), &ports).unwrap_err();
        assert!(matches!(err, PortGuardError::TooManyPorts { count: 65 }));
    }

    #[test]
    fn names_a_missing_cgroup() {
        let err = guard_cgroup(Path::new("/nonexistent/cgroup"), &[80]).unwrap_err();
        assert!(err.to_string().contains("/nonexistent/cgroup"), "{err}");
    }
}
