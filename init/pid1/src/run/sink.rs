//! Where PID 1's supervisor sends app output: the logging hub (files, remote
//! syslog, the ring of recent lines) and the console.

use cairn_logging::Stream;
use cairn_supervisor::Sink;
use cairn_sys::process::ExitStatus;

use crate::log::{console, hub, metrics};

/// PID 1's [`Sink`].
#[derive(Debug)]
pub(crate) struct Pid1Sink;

impl Sink for Pid1Sink {
    /// Into the log, and onto the console unless the app is over its console
    /// rate (its lines are still in its log then).
    fn line(&mut self, label: &str, stream: Stream, line: String) {
        let console_line = format!("[{label}] {line}");
        if hub::app_line(label, stream, line) {
            console::write_line(&console_line);
        }
    }

    fn console(&mut self, line: &str) {
        console::write_line(line);
    }

    fn reaped_unknown(&mut self, pid: i32, status: ExitStatus) {
        if hub::reaped_logger(pid) {
            tracing::debug!("logger pid {pid} ended ({status})");
        } else {
            tracing::info!("reaped orphan pid {pid} ({status})");
        }
    }

    fn all_ready(&mut self) {
        tracing::info!(
            "all apps ready ({} ms after /init, pid 1 rss {} KiB)",
            metrics::since_start_ms(),
            metrics::rss_kib().unwrap_or(0)
        );
    }
}
