//! The control API's side of PID 1's socket: connect, write one line, read
//! one line, close. PID 1 does the work; this only carries it.

use std::path::Path;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::UnixStream;

use crate::protocol::{Pid1Reply, Pid1Request};

/// PID 1 answers at once (a reboot is scheduled, not waited for); a slower
/// answer means it is stuck, and the caller hears so.
const TIMEOUT: Duration = Duration::from_secs(10);
const MAX_REPLY: u64 = 64 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum Pid1Error {
    #[error("PID 1 cannot be reached: {0}")]
    Unreachable(#[source] std::io::Error),
    #[error("PID 1 did not answer within {}s", TIMEOUT.as_secs())]
    Timeout,
    #[error("PID 1's answer is not one line of `ok` or `error ...`")]
    BadReply,
    /// PID 1 refused, with its reason.
    #[error("{0}")]
    Refused(String),
}

/// What PID 1 said yes with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Accepted {
    /// When a reboot will happen, if PID 1 said.
    pub at: Option<i64>,
}

/// Sends one request. The line may hold a secret: it is wiped after use
/// and never logged.
pub async fn request(socket: &Path, request: &Pid1Request<'_>) -> Result<Accepted, Pid1Error> {
    match tokio::time::timeout(TIMEOUT, exchange(socket, request)).await {
        Ok(result) => result,
        Err(_) => Err(Pid1Error::Timeout),
    }
}

async fn exchange(socket: &Path, request: &Pid1Request<'_>) -> Result<Accepted, Pid1Error> {
    let mut stream = UnixStream::connect(socket)
        .await
        .map_err(Pid1Error::Unreachable)?;
    let line = request.line();
    stream
        .write_all(line.as_bytes())
        .await
        .map_err(Pid1Error::Unreachable)?;
    drop(line);
    let mut reply = Vec::new();
    BufReader::new(stream)
        .take(MAX_REPLY)
        .read_until(b'\n', &mut reply)
        .await
        .map_err(Pid1Error::Unreachable)?;
    parse_reply(&reply)
}

fn parse_reply(line: &[u8]) -> Result<Accepted, Pid1Error> {
    let Some(text) = line.strip_suffix(b"\n") else {
        return Err(Pid1Error::BadReply);
    };
    let text = std::str::from_utf8(text).map_err(|_| Pid1Error::BadReply)?;
    match Pid1Reply::parse(text) {
        Some(Pid1Reply::Ok { at }) => Ok(Accepted { at }),
        Some(Pid1Reply::Error(why)) => Err(Pid1Error::Refused(why)),
        None => Err(Pid1Error::BadReply),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replies() {
        assert_eq!(parse_reply(b"ok\n").unwrap(), Accepted { at: None });
        assert_eq!(parse_reply(b"ok 7\n").unwrap(), Accepted { at: Some(7) });
        assert!(matches!(
            parse_reply(b"error no such app\n"),
            Err(Pid1Error::Refused(e)) if e == "no such app"
        ));
        for bad in [
            &b"ok"[..],
            b"\n",
            b"ok soon\n",
            b"error\n",
            b"error \n",
            b"okay\n",
            b"{\"ok\":true}\n",
            b"\xff\n",
        ] {
            assert!(
                matches!(parse_reply(bad), Err(Pid1Error::BadReply)),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn request_lines() {
        let line = |r: Pid1Request<'_>| r.line().to_string();
        assert_eq!(
            line(Pid1Request::Restart {
                app: "web",
                by: "alice"
            }),
            "restart web alice\n"
        );
        assert_eq!(
            line(Pid1Request::Reboot {
                at: None,
                by: "Alice Smith"
            }),
            "reboot now Alice_Smith\n"
        );
        assert_eq!(
            line(Pid1Request::UpdateReboot {
                at: Some(1_796_421_600),
                by: "ci"
            }),
            "update-reboot 1796421600 ci\n"
        );
        assert_eq!(line(Pid1Request::Rollback { by: "" }), "rollback unnamed\n");
        assert_eq!(
            line(Pid1Request::Secret {
                name: "db",
                value: b"s3\n\xff",
                by: "bob"
            }),
            "secret db 73330aff bob\n"
        );
    }
}
