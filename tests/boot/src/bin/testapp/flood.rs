//! Log volume for the logging tests.
//!
//! `cairn-testapp flood N` writes N numbered lines of about 100 bytes to
//! stdout as fast as the pipe takes them (`flood 000042 xxxx…`), then prints
//! `testapp: flood done N` and waits for SIGTERM.
//!
//! `cairn-testapp tick MS` prints `tick N` every MS milliseconds until
//! SIGTERM: the neighbour whose lines must not be held up by a flood.

use std::io::Write;
use std::process::ExitCode;
use std::thread;
use std::time::Duration;

use super::{say, wait_for_sigterm};

pub fn flood(count: &str) -> Result<ExitCode, String> {
    let count: u64 = count.parse().map_err(|_| format!("bad count {count:?}"))?;
    let filler = "x".repeat(86);
    let mut out = std::io::BufWriter::with_capacity(64 * 1024, std::io::stdout().lock());
    for i in 0..count {
        writeln!(out, "flood {i:06} {filler}").map_err(|e| format!("write: {e}"))?;
    }
    out.flush().map_err(|e| format!("flush: {e}"))?;
    drop(out);
    say(&format!("testapp: flood done {count}"));
    wait_for_sigterm()
}

pub fn tick(ms: &str) -> Result<ExitCode, String> {
    let ms: u64 = ms.parse().map_err(|_| format!("bad milliseconds {ms:?}"))?;
    let period = Duration::from_millis(ms);
    let mut n = 0u64;
    std::thread::spawn(move || loop {
        say(&format!("tick {n}"));
        n += 1;
        thread::sleep(period);
    });
    wait_for_sigterm()
}
