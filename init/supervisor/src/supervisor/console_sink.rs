//! A [`Sink`] that writes everything as a booted system's console shows it,
//! for programs that are not PID 1: `cairn dev` and the host tests.
//!
//! App lines read `[web] ...`, continuation lines go as they are, and the
//! facts only the embedding program can tell are said the way PID 1 says
//! them (`reaped orphan pid N`, `all apps ready (...)`).

use std::time::Instant;

use cairn_logging::text::{write_shared, SharedConsole};
use cairn_logging::Stream;
use cairn_sys::process::ExitStatus;

use super::Sink;

/// Writes to a shared console.
#[derive(Debug)]
pub struct ConsoleSink {
    console: SharedConsole,
    started: Instant,
}

impl ConsoleSink {
    /// Writes to `console`; "all apps ready" counts from now.
    pub fn new(console: SharedConsole) -> ConsoleSink {
        ConsoleSink {
            console,
            started: Instant::now(),
        }
    }
}

impl Sink for ConsoleSink {
    fn line(&mut self, label: &str, _stream: Stream, line: String) {
        write_shared(&self.console, &format!("[{label}] {line}"));
    }

    fn console(&mut self, line: &str) {
        write_shared(&self.console, line);
    }

    fn reaped_unknown(&mut self, pid: i32, status: ExitStatus) {
        tracing::info!("reaped orphan pid {pid} ({status})");
    }

    fn all_ready(&mut self) {
        tracing::info!(
            "all apps ready ({} ms after start, rss {} KiB)",
            self.started.elapsed().as_millis(),
            cairn_sys::process::rss_kib().unwrap_or(0)
        );
    }
}
