//! PID 1's socket for the control API (`/run/cairn/pid1.sock`): the few
//! things only PID 1 can do for an operator: restart an app, reboot, roll
//! back, store a secret, reboot into a written update.
//!
//! Only the control service's uid (and root) may connect: the socket file is
//! theirs alone, and each connection's peer is checked again. A connection
//! carries one request line and gets one reply line:
//!
//!     restart <app> <by>
//!     reboot <now|unix-seconds> <by>
//!     rollback <by>
//!     secret <name> <hex of the value> <by>
//!     update-reboot <now|unix-seconds> <by>
//!
//! answered `ok`, `ok <unix-seconds>` or `error <what is wrong>`. `<by>` is
//! the operator's name, for the log. PID 1 never waits on a connection: it
//! is read and written without blocking, a line longer than [`MAX_LINE`] or
//! slower than [`DEADLINE`] is dropped, and at most [`MAX_OPEN`] are open.

use std::io::{self, Read, Write};
use std::os::fd::{AsFd, BorrowedFd};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::Path;
use std::time::{Duration, Instant};

use nix::sys::socket::{getsockopt, sockopt::PeerCredentials};
use zeroize::Zeroizing;

/// The longest request line: a secret of 64 KiB in hex, and some.
pub const MAX_LINE: usize = 136 * 1024;
/// How long a connection may take to send its line.
pub const DEADLINE: Duration = Duration::from_secs(5);
/// Connections open at once.
pub const MAX_OPEN: usize = 4;
/// Bytes read from a connection at a time.
const CHUNK: usize = 16 * 1024;

/// One connection being read.
#[derive(Debug)]
struct Connection {
    stream: UnixStream,
    /// Wiped when dropped: it may hold a secret.
    buf: Zeroizing<Vec<u8>>,
    deadline: Instant,
}

/// The listening socket and its connections.
#[derive(Debug)]
pub struct ControlSocket {
    listener: UnixListener,
    open: Vec<Connection>,
    /// Who may connect besides root.
    allowed_uid: u32,
}

/// A complete request line, and where to send the reply.
#[derive(Debug)]
pub struct Pending {
    /// Wiped when dropped: it may hold a secret.
    pub line: Zeroizing<String>,
    stream: UnixStream,
}

impl Pending {
    /// Sends `reply` (one line) and closes the connection. The control
    /// service reads it at once; a reply that does not fit the socket's
    /// buffer is cut rather than waited for.
    pub fn answer(mut self, reply: &str) {
        let mut bytes = reply.replace('\n', " ").into_bytes();
        bytes.push(b'\n');
        let _ = self.stream.write_all(&bytes);
    }
}

impl ControlSocket {
    /// Binds `path` for `allowed_uid` (replacing a stale socket).
    pub fn bind(path: &Path, allowed_uid: u32) -> io::Result<ControlSocket> {
        let _ = std::fs::remove_file(path);
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let listener = UnixListener::bind(path)?;
        listener.set_nonblocking(true)?;
        std::os::unix::fs::chown(path, Some(allowed_uid), Some(allowed_uid))?;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
        Ok(ControlSocket {
            listener,
            open: Vec::new(),
            allowed_uid,
        })
    }

    /// The descriptors to poll for input: the listener, then each connection.
    pub fn fds(&self) -> Vec<BorrowedFd<'_>> {
        std::iter::once(self.listener.as_fd())
            .chain(self.open.iter().map(|c| c.stream.as_fd()))
            .collect()
    }

    /// Accepts what waits, reads what arrived, drops what is too slow or too
    /// long; returns the complete requests.
    pub fn service(&mut self, now: Instant) -> Vec<Pending> {
        self.accept(now);
        let mut complete = Vec::new();
        let mut kept = Vec::new();
        for mut conn in std::mem::take(&mut self.open) {
            match read_line(&mut conn) {
                Ok(Some(line)) => complete.push(Pending {
                    line,
                    stream: conn.stream,
                }),
                Ok(None) if conn.deadline > now && conn.buf.len() <= MAX_LINE => kept.push(conn),
                Ok(None) => tracing::warn!("control request dropped: too slow or too long"),
                Err(err) => tracing::debug!("control connection ended: {err}"),
            }
        }
        self.open = kept;
        complete
    }

    fn accept(&mut self, now: Instant) {
        while self.open.len() < MAX_OPEN {
            let stream = match self.listener.accept() {
                Ok((stream, _)) => stream,
                Err(err) if err.kind() == io::ErrorKind::WouldBlock => return,
                Err(err) => {
                    tracing::warn!("control socket: {err}");
                    return;
                }
            };
            let uid = getsockopt(&stream, PeerCredentials).map(|c| c.uid());
            match uid {
                Ok(uid) if uid == 0 || uid == self.allowed_uid => {}
                Ok(uid) => {
                    tracing::warn!("control socket: uid {uid} may not send requests");
                    continue;
                }
                Err(err) => {
                    tracing::warn!("control socket: peer unknown: {err}");
                    continue;
                }
            }
            if stream.set_nonblocking(true).is_err() {
                continue;
            }
            self.open.push(Connection {
                stream,
                // Room for the longest line from the start, so growing
                // never leaves an unwiped copy of a secret behind.
                buf: Zeroizing::new(Vec::with_capacity(MAX_LINE + CHUNK)),
                deadline: now + DEADLINE,
            });
        }
    }
}

/// Reads what the connection holds; the line once it is complete.
fn read_line(conn: &mut Connection) -> io::Result<Option<Zeroizing<String>>> {
    let mut chunk = Zeroizing::new([0u8; CHUNK]);
    loop {
        if let Some(end) = conn.buf.iter().position(|&b| b == b'\n') {
            conn.buf.truncate(end);
            let bytes = std::mem::take(&mut *conn.buf);
            let line = String::from_utf8(bytes).map_err(|err| {
                // Wipe what was read even when it is refused.
                drop(Zeroizing::new(err.into_bytes()));
                io::Error::new(io::ErrorKind::InvalidData, "not UTF-8")
            })?;
            return Ok(Some(Zeroizing::new(line)));
        }
        if conn.buf.len() > MAX_LINE {
            return Ok(None);
        }
        match conn.stream.read(&mut *chunk) {
            Ok(0) => return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "closed early")),
            Ok(n) => conn
                .buf
                .extend_from_slice(chunk.get(..n).unwrap_or_default()),
            Err(err) if err.kind() == io::ErrorKind::WouldBlock => return Ok(None),
            Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
            Err(err) => return Err(err),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::BufRead;

    #[test]
    fn a_request_line_is_read_and_answered() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("pid1.sock");
        let uid = nix::unistd::geteuid().as_raw();
        let mut socket = match ControlSocket::bind(&path, uid) {
            Ok(socket) => socket,
            // chown to oneself works for everyone; anything else is a bug.
            Err(err) => panic!("bind: {err}"),
        };
        let mut client = UnixStream::connect(&path).unwrap();
        client.write_all(b"restart web ali").unwrap();
        let t0 = Instant::now();
        assert!(
            socket.service(t0).is_empty(),
            "half a line is not a request"
        );
        client.write_all(b"ce\n").unwrap();
        let mut pending = socket.service(t0);
        assert_eq!(pending.len(), 1);
        let request = pending.remove(0);
        assert_eq!(request.line.as_str(), "restart web alice");
        request.answer("ok");
        let mut reply = String::new();
        io::BufReader::new(client).read_line(&mut reply).unwrap();
        assert_eq!(reply, "ok\n");
    }

    #[test]
    fn slow_and_endless_senders_are_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("pid1.sock");
        let uid = nix::unistd::geteuid().as_raw();
        let mut socket = ControlSocket::bind(&path, uid).unwrap();
        let mut slow = UnixStream::connect(&path).unwrap();
        slow.write_all(b"reboot now").unwrap();
        let t0 = Instant::now();
        assert!(socket.service(t0).is_empty());
        assert_eq!(socket.open.len(), 1);
        assert!(socket
            .service(t0 + DEADLINE + Duration::from_millis(1))
            .is_empty());
        assert_eq!(socket.open.len(), 0);

        let mut endless = UnixStream::connect(&path).unwrap();
        endless.set_nonblocking(true).unwrap();
        let junk = vec![b'x'; 64 * 1024];
        let t1 = Instant::now();
        for _ in 0..4 {
            let _ = endless.write_all(&junk);
            socket.service(t1);
        }
        assert_eq!(socket.open.len(), 0, "a line over the limit is dropped");
    }

    #[test]
    fn the_socket_file_is_for_its_owner_only() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("pid1.sock");
        let uid = nix::unistd::geteuid().as_raw();
        let _socket = ControlSocket::bind(&path, uid).unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
    }
}
