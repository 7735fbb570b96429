//! One connection on the writer's socket: who is calling, one update at a
//! time, the request line, and the events back.

use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::net::UnixStream;
use std::sync::{Mutex, TryLockError};
use std::time::Duration;

use nix::sys::socket::{getsockopt, sockopt::PeerCredentials};

use crate::protocol::{Problem, UpdateRequest, WriterEvent};

use super::install::{install, Target};

/// A bundle arrives as fast as the API relays it; a stall this long means
/// the API or its client is gone.
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(120);
const MAX_REQUEST_LINE: u64 = 4096;
/// Reads from the socket in pieces this large: the bundle is copied in 1 MiB
/// chunks downstream.
const READ_BUFFER: usize = 256 * 1024;

/// Where `verified` and `progress` go while an update runs.
pub trait Events {
    fn send(&mut self, event: &WriterEvent);
}

/// Events written as lines to the connection. A client that went away
/// stops hearing them; the update notices at its next read.
struct LineEvents {
    stream: Option<UnixStream>,
}

impl Events for LineEvents {
    fn send(&mut self, event: &WriterEvent) {
        if let Some(stream) = &mut self.stream {
            if stream.write_all(&event.to_line()).is_err() {
                self.stream = None;
            }
        }
    }
}

/// The uids allowed to write updates.
#[derive(Debug, Clone)]
pub struct Callers {
    pub uids: Vec<u32>,
}

impl Callers {
    /// The control API, root, and the writer's own uid (a process of that
    /// uid could as well take the writer over).
    pub fn standard() -> Callers {
        let mut uids = vec![cairn_layout::users::CONTROL_UID, 0];
        let own = nix::unistd::geteuid().as_raw();
        if !uids.contains(&own) {
            uids.push(own);
        }
        Callers { uids }
    }
}

/// What one connection came to, for the writer's log.
#[derive(Debug)]
pub enum Outcome {
    NotAllowed { uid: Option<u32> },
    Busy,
    Finished(WriterEvent),
}

/// Serves one connection to its end.
pub fn handle(
    stream: UnixStream,
    callers: &Callers,
    busy: &Mutex<()>,
    target: Target<'_>,
) -> Outcome {
    let uid = getsockopt(&stream, PeerCredentials).ok().map(|c| c.uid());
    if !uid.is_some_and(|uid| callers.uids.contains(&uid)) {
        return Outcome::NotAllowed { uid };
    }
    let events_stream = stream.try_clone().ok();
    let mut events = LineEvents {
        stream: events_stream,
    };
    let guard = match busy.try_lock() {
        Ok(guard) => guard,
        Err(TryLockError::Poisoned(poisoned)) => poisoned.into_inner(),
        Err(TryLockError::WouldBlock) => {
            let event = WriterEvent::Refused {
                error: "an update is already running".into(),
                problem: Problem::Busy,
            };
            events.send(&event);
            return Outcome::Busy;
        }
    };
    let _ = stream.set_read_timeout(Some(IDLE_TIMEOUT));
    let _ = stream.set_write_timeout(Some(IDLE_TIMEOUT));
    let mut input = BufReader::with_capacity(READ_BUFFER, stream);
    let event = match read_request(&mut input) {
        Ok(request) => install(target, request, &mut input, &mut events),
        Err(error) => WriterEvent::Refused {
            error,
            problem: Problem::Request,
        },
    };
    // The next update may start as soon as this one's caller hears the
    // outcome.
    drop(guard);
    events.send(&event);
    Outcome::Finished(event)
}

fn read_request<R: BufRead>(input: &mut R) -> Result<UpdateRequest, String> {
    let mut line = Vec::new();
    input
        .take(MAX_REQUEST_LINE)
        .read_until(b'\n', &mut line)
        .map_err(|e| format!("reading the request line: {e}"))?;
    if line.last() != Some(&b'\n') {
        return Err(format!(
            "the request must start with one JSON line of at most {MAX_REQUEST_LINE} bytes"
        ));
    }
    serde_json::from_slice(&line).map_err(|e| format!("the request line: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_request_line_is_strict_and_bounded() {
        let mut ok = &b"{\"allow_downgrade\":false,\"length\":null}\nBUNDLE"[..];
        assert_eq!(
            read_request(&mut ok).unwrap(),
            UpdateRequest {
                allow_downgrade: false,
                length: None
            }
        );
        assert_eq!(ok, b"BUNDLE");
        for bad in [
            &b"{\"allow_downgrade\":false}"[..],
            b"{\"allow_downgrade\":false,\"length\":1,\"x\":1}\n",
            b"{\"allow_downgrade\":\"no\",\"length\":1}\n",
        ] {
            let mut input = bad;
            assert!(read_request(&mut input).is_err());
        }
        let long = format!(
            "{{\"allow_downgrade\":false,\"length\":{}}}\n",
            "1".repeat(5000)
        );
        assert!(read_request(&mut long.as_bytes()).is_err());
    }
}
