//! The control API's side of PID 1's socket: connect, write one JSON line,
//! read one JSON line, close. PID 1 does the work; this only carries it.

use std::path::Path;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::UnixStream;
use zeroize::Zeroizing;

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
    #[error("PID 1's answer is not one JSON line of {{\"ok\":true}} or {{\"error\":...}}")]
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
    let mut line = Zeroizing::new(serde_json::to_vec(request).map_err(|_| Pid1Error::BadReply)?);
    line.push(b'\n');
    stream
        .write_all(&line)
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
    if line.last() != Some(&b'\n') {
        return Err(Pid1Error::BadReply);
    }
    let reply: Pid1Reply = serde_json::from_slice(line).map_err(|_| Pid1Error::BadReply)?;
    match reply {
        Pid1Reply {
            ok: Some(true),
            error: None,
            at,
        } => Ok(Accepted { at }),
        Pid1Reply {
            ok: None | Some(false),
            error: Some(error),
            ..
        } => Err(Pid1Error::Refused(error)),
        _ => Err(Pid1Error::BadReply),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replies() {
        assert_eq!(
            parse_reply(b"{\"ok\":true}\n").unwrap(),
            Accepted { at: None }
        );
        assert_eq!(
            parse_reply(b"{\"ok\":true,\"at\":7}\n").unwrap(),
            Accepted { at: Some(7) }
        );
        assert!(matches!(
            parse_reply(b"{\"error\":\"no such app\"}\n"),
            Err(Pid1Error::Refused(e)) if e == "no such app"
        ));
        for bad in [
            &b"{\"ok\":true}"[..],
            b"{}\n",
            b"{\"ok\":false}\n",
            b"{\"ok\":true,\"error\":\"x\"}\n",
            b"{\"ok\":\"yes\"}\n",
            b"nonsense\n",
        ] {
            assert!(
                matches!(parse_reply(bad), Err(Pid1Error::BadReply)),
                "{bad:?}"
            );
        }
    }
}
