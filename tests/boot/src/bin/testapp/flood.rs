//! Log volume for the logging tests.
//!
//! `cairn-testapp flood N [RATE]` writes N numbered lines of about 100
//! bytes to stdout as fast as the pipe takes them (`flood 000042 xxxx…`), or
//! at most RATE lines a second, then prints `testapp: flood done N` and
//! waits for SIGTERM.
//!
//! `cairn-testapp tick MS` prints `tick N` every MS milliseconds until
//! SIGTERM: the neighbour whose lines must not be held up by a flood.

use std::io::Write;
use std::process::ExitCode;
use std::thread;
use std::time::Duration;

use super::{say, wait_for_sigterm};

pub fn flood(count: &str, rate: Option<&str>) -> Result<ExitCode, String> {
    let count: u64 = count.parse().map_err(|_| format!("bad count {count:?}"))?;
    let rate: Option<u64> = match rate {
        Some(text) => Some(
            text.parse()
                .ok()
                .filter(|r| *r >= 10)
                .ok_or_else(|| format!("bad rate {text:?}"))?,
        ),
        None => None,
    };
    let filler = "x".repeat(86);
    let mut out = std::io::BufWriter::with_capacity(64 * 1024, std::io::stdout().lock());
    let started = std::time::Instant::now();
    for i in 0..count {
        writeln!(out, "flood {i:06} {filler}").map_err(|e| format!("write: {e}"))?;
        // Paced in tenths of a second: line i is due at i / rate seconds.
        if let Some(rate) = rate.filter(|r| (i + 1) % (r / 10) == 0) {
            out.flush().map_err(|e| format!("flush: {e}"))?;
            let due = Duration::from_secs_f64((i + 1) as f64 / rate as f64);
            if let Some(wait) = due.checked_sub(started.elapsed()) {
                thread::sleep(wait);
            }
        }
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
