//! NOTIFY_SOCKET: how an app tells PID 1 it is ready (the sd_notify protocol).
//!
//! PID 1 binds one `AF_UNIX` datagram socket at [`SOCKET_PATH`] (a path, not an
//! abstract name: abstract names belong to a network namespace, while a path
//! can be bind-mounted into every app's tree at the same place). `SO_PASSCRED`
//! makes the kernel attach the sender's pid to every datagram, so a message is
//! attributed to the instance whose process sent it, or whose descendant did
//! (the parent chain in `/proc/<pid>/status` is followed up to the instance's
//! pid). A message that belongs to no instance is dropped.
//!
//! A datagram holds newline-separated `KEY=VALUE` assignments. Cairn acts on
//! `READY=1`, `STATUS=...` and `STOPPING=1`; `MAINPID=`, `WATCHDOG=` and
//! anything else are accepted and ignored.

use std::io::{self, IoSliceMut};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use nix::sys::socket::{
    self, sockopt, AddressFamily, ControlMessageOwned, MsgFlags, SockFlag, SockType, UnixAddr,
};

use cairn_sys::io_err;

/// Where PID 1 binds the socket, and where an app finds it.
pub const SOCKET_PATH: &str = cairn_layout::run::NOTIFY;

/// The largest datagram read; longer ones are truncated.
const MAX_DATAGRAM: usize = 4096;
/// How many datagrams one poll round reads at most, so a chatty app cannot
/// hold up the loop.
const ROUND_BUDGET: usize = 64;
/// How far up the parent chain a sender is looked for.
const MAX_ANCESTRY: usize = 32;

/// One assignment of a notify message that Cairn acts on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Notice {
    /// `READY=1`
    Ready,
    /// `STATUS=...`: a free-form line for humans.
    Status(String),
    /// `STOPPING=1`
    Stopping,
    /// `UPDATE_LOCK=1` (held) or `UPDATE_LOCK=0` (released): the app is in
    /// the middle of something an update's reboot should wait for, for at
    /// most `[update] lock_timeout`.
    UpdateLock(bool),
}

/// Parses one datagram: every line is an assignment; unknown ones are ignored.
pub fn parse(datagram: &[u8]) -> Vec<Notice> {
    let text = String::from_utf8_lossy(datagram);
    text.split('\n')
        .filter_map(|line| {
            let (key, value) = line.split_once('=')?;
            match (key, value) {
                ("READY", "1") => Some(Notice::Ready),
                ("STOPPING", "1") => Some(Notice::Stopping),
                ("UPDATE_LOCK", "1") => Some(Notice::UpdateLock(true)),
                ("UPDATE_LOCK", "0") => Some(Notice::UpdateLock(false)),
                ("STATUS", status) => Some(Notice::Status(status.to_string())),
                _ => None,
            }
        })
        .collect()
}

/// One datagram with the pid the kernel says sent it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Datagram {
    pub pid: i32,
    pub notices: Vec<Notice>,
}

/// PID 1's end of NOTIFY_SOCKET.
#[derive(Debug)]
pub struct NotifySocket {
    fd: OwnedFd,
    path: PathBuf,
}

impl NotifySocket {
    /// Binds a non-blocking datagram socket at `path` (replacing a stale
    /// one), writable by every uid so unprivileged apps can send to it.
    pub fn bind(path: &Path) -> io::Result<NotifySocket> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        match std::fs::remove_file(path) {
            Err(err) if err.kind() != io::ErrorKind::NotFound => return Err(err),
            _ => {}
        }
        let fd = socket::socket(
            AddressFamily::Unix,
            SockType::Datagram,
            SockFlag::SOCK_CLOEXEC | SockFlag::SOCK_NONBLOCK,
            None,
        )
        .map_err(io_err)?;
        socket::setsockopt(&fd, sockopt::PassCred, &true).map_err(io_err)?;
        let addr = UnixAddr::new(path).map_err(io_err)?;
        socket::bind(fd.as_raw_fd(), &addr).map_err(io_err)?;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o666))?;
        Ok(NotifySocket {
            fd,
            path: path.to_path_buf(),
        })
    }

    /// The path it is bound at.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The descriptor to poll for input.
    pub fn fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }

    /// Reads the datagrams waiting now (up to a budget). Datagrams without
    /// credentials cannot be attributed and are dropped.
    pub fn receive(&self) -> Vec<Datagram> {
        let mut out = Vec::new();
        let mut buf = [0u8; MAX_DATAGRAM];
        for _ in 0..ROUND_BUDGET {
            let mut space = nix::cmsg_space!(socket::UnixCredentials);
            let mut iov = [IoSliceMut::new(&mut buf)];
            let (bytes, pid) = match socket::recvmsg::<()>(
                self.fd.as_raw_fd(),
                &mut iov,
                Some(&mut space),
                MsgFlags::MSG_DONTWAIT | MsgFlags::MSG_CMSG_CLOEXEC,
            ) {
                Ok(msg) => {
                    let pid = msg.cmsgs().ok().and_then(|mut cmsgs| {
                        cmsgs.find_map(|c| match c {
                            ControlMessageOwned::ScmCredentials(cred) => Some(cred.pid()),
                            _ => None,
                        })
                    });
                    (msg.bytes, pid)
                }
                Err(nix::errno::Errno::EINTR) => continue,
                Err(nix::errno::Errno::EAGAIN) => break,
                Err(err) => {
                    tracing::debug!("notify socket: {err}");
                    break;
                }
            };
            if let Some(pid) = pid.filter(|p| *p > 0) {
                out.push(Datagram {
                    pid,
                    notices: parse(buf.get(..bytes).unwrap_or(&buf)),
                });
            }
        }
        out
    }
}

impl Drop for NotifySocket {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// The parent pid from the text of `/proc/<pid>/status`.
pub fn parent_from_status(status: &str) -> Option<i32> {
    status
        .lines()
        .find_map(|line| line.strip_prefix("PPid:"))
        .and_then(|v| v.trim().parse().ok())
}

/// The first of `candidates` that is `pid` or one of its ancestors, found by
/// following the parent chain through `proc_root` (normally `/proc`).
pub fn attribute(pid: i32, candidates: &[i32], proc_root: &Path) -> Option<i32> {
    let mut current = pid;
    for _ in 0..MAX_ANCESTRY {
        if candidates.contains(&current) {
            return Some(current);
        }
        if current <= 1 {
            return None;
        }
        let status =
            std::fs::read_to_string(proc_root.join(current.to_string()).join("status")).ok()?;
        current = parent_from_status(&status)?;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::net::UnixDatagram;

    #[test]
    fn parses_the_assignments_cairn_acts_on() {
        assert_eq!(parse(b"READY=1"), vec![Notice::Ready]);
        assert_eq!(
            parse(b"UPDATE_LOCK=1\nUPDATE_LOCK=2\nUPDATE_LOCK=0"),
            vec![Notice::UpdateLock(true), Notice::UpdateLock(false)]
        );
        assert_eq!(
            parse(b"STATUS=loading cache: 40%\nREADY=1\nMAINPID=42\nWATCHDOG=1\n"),
            vec![Notice::Status("loading cache: 40%".into()), Notice::Ready]
        );
        assert_eq!(parse(b"STOPPING=1"), vec![Notice::Stopping]);
        // Not a "1", no "=", empty, or garbage: nothing to act on.
        assert!(parse(b"READY=0\nREADY\n\n=1\nX_CUSTOM=2").is_empty());
        assert_eq!(parse(b"STATUS="), vec![Notice::Status(String::new())]);
        assert_eq!(
            parse(b"STATUS=caf\xc3\xa9 \xff"),
            vec![Notice::Status("caf\u{e9} \u{fffd}".into())]
        );
    }

    #[test]
    fn reads_the_parent_pid() {
        let status = "Name:\tsh\nState:\tS (sleeping)\nTgid:\t77\nPid:\t77\nPPid:\t12\n";
        assert_eq!(parent_from_status(status), Some(12));
        assert_eq!(parent_from_status("Name:\tx\n"), None);
    }

    #[test]
    fn attributes_a_sender_to_itself_or_an_ancestor() {
        let proc_root = tempfile::tempdir().unwrap();
        for (pid, ppid) in [(300, 200), (200, 100), (100, 1), (400, 1)] {
            let dir = proc_root.path().join(pid.to_string());
            std::fs::create_dir_all(&dir).unwrap();
            std::fs::write(dir.join("status"), format!("Pid:\t{pid}\nPPid:\t{ppid}\n")).unwrap();
        }
        assert_eq!(attribute(100, &[100, 500], proc_root.path()), Some(100));
        assert_eq!(attribute(300, &[100, 500], proc_root.path()), Some(100));
        assert_eq!(attribute(300, &[200, 100], proc_root.path()), Some(200));
        assert_eq!(attribute(400, &[100], proc_root.path()), None);
        // A sender that is already gone cannot be attributed.
        assert_eq!(attribute(999, &[100], proc_root.path()), None);
    }

    #[test]
    fn receives_datagrams_with_the_senders_pid() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("run").join("notify");
        let sock = NotifySocket::bind(&path).unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o666);
        assert!(sock.receive().is_empty());

        let client = UnixDatagram::unbound().unwrap();
        client.send_to(b"STATUS=warming up", &path).unwrap();
        client.send_to(b"READY=1\n", &path).unwrap();
        let got = sock.receive();
        let me = i32::try_from(std::process::id()).unwrap();
        assert_eq!(
            got,
            vec![
                Datagram {
                    pid: me,
                    notices: vec![Notice::Status("warming up".into())]
                },
                Datagram {
                    pid: me,
                    notices: vec![Notice::Ready]
                }
            ]
        );
        // The real /proc: this process is attributed to itself, and a child
        // of it is attributed to it through its parent chain.
        assert_eq!(attribute(me, &[me], Path::new("/proc")), Some(me));
        let mut child = std::process::Command::new("sleep")
            .arg("5")
            .spawn()
            .unwrap();
        let child_pid = i32::try_from(child.id()).unwrap();
        assert_eq!(attribute(child_pid, &[me], Path::new("/proc")), Some(me));
        child.kill().unwrap();
        child.wait().unwrap();

        // Binding again replaces the old socket file; dropping removes it.
        drop(sock);
        assert!(!path.exists());
        let again = NotifySocket::bind(&path).unwrap();
        let _ = NotifySocket::bind(&path).unwrap();
        drop(again);
    }
}
