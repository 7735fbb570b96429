//! `cairn-testapp ready-after SECS`: an app that takes a while to be ready
//! and says so the sd_notify way.
//!
//! It sends `STATUS=warming up` at once (speaking the protocol in its first
//! second, so PID 1 waits for its `READY=1` instead of calling it ready
//! after a second of running), prints `testapp: warming up`, sleeps SECS,
//! sends `READY=1`, prints `testapp: sent READY=1` and waits for SIGTERM.

use std::os::unix::net::UnixDatagram;
use std::process::ExitCode;
use std::thread;
use std::time::Duration;

use super::{say, wait_for_sigterm};

pub fn ready_after(secs: &str) -> Result<ExitCode, String> {
    let secs: f64 = secs.parse().map_err(|_| format!("bad seconds {secs:?}"))?;
    let path = std::env::var("NOTIFY_SOCKET").map_err(|_| "no NOTIFY_SOCKET".to_string())?;
    let socket = UnixDatagram::unbound().map_err(|e| format!("cannot make a socket: {e}"))?;
    let send = |message: &str| {
        socket
            .send_to(message.as_bytes(), &path)
            .map(drop)
            .map_err(|e| format!("cannot notify {path}: {e}"))
    };
    send("STATUS=warming up\n")?;
    say("testapp: warming up");
    thread::sleep(Duration::from_secs_f64(secs));
    send("READY=1\n")?;
    say("testapp: sent READY=1");
    wait_for_sigterm()
}
