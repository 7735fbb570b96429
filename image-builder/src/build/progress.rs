//! Progress for the long steps: spinners on a terminal, one plain line per step
//! otherwise (logs and CI stay readable).

use std::io::IsTerminal;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};

/// Decides once how steps are shown.
#[derive(Debug, Clone, Copy)]
pub struct Progress {
    /// Whether anything is shown: callers of the library (tests, the
    /// benchmark) build quietly.
    enabled: bool,
    spinners: bool,
}

impl Progress {
    /// When enabled: spinners if stderr is a terminal, else one line a step.
    pub fn new(enabled: bool) -> Progress {
        Progress {
            enabled,
            spinners: enabled && std::io::stderr().is_terminal(),
        }
    }

    /// Starts a step; finish it with [`Step::done`].
    pub fn step(&self, message: impl Into<String>) -> Step {
        let message = message.into();
        let bar = if self.spinners {
            let bar = ProgressBar::new_spinner();
            if let Ok(style) = ProgressStyle::with_template("{spinner} {msg} {elapsed}") {
                bar.set_style(style);
            }
            bar.set_message(message.clone());
            bar.enable_steady_tick(Duration::from_millis(120));
            Some(bar)
        } else {
            if self.enabled {
                eprintln!("cairn build: {message}");
            }
            None
        };
        Step {
            bar,
            message,
            started: Instant::now(),
        }
    }

    /// Prints a line of the final summary (stdout, so it can be captured).
    pub fn summary(&self, line: &str) {
        if self.enabled {
            println!("{line}");
        }
    }
}

/// One running step.
#[derive(Debug)]
pub struct Step {
    bar: Option<ProgressBar>,
    message: String,
    started: Instant,
}

impl Step {
    /// Marks the step finished; `detail` is shown beside it on a terminal.
    pub fn done(mut self, detail: &str) {
        if let Some(bar) = self.bar.take() {
            let took = self.started.elapsed().as_secs_f64();
            let detail = if detail.is_empty() {
                String::new()
            } else {
                format!(": {detail}")
            };
            if let Ok(style) = ProgressStyle::with_template("  {msg}") {
                bar.set_style(style);
            }
            bar.finish_with_message(format!("{}{detail} ({took:.1}s)", self.message));
        }
    }
}

impl Drop for Step {
    /// A step dropped unfinished failed: stop its spinner and say so.
    fn drop(&mut self) {
        if let Some(bar) = self.bar.take() {
            if let Ok(style) = ProgressStyle::with_template("  {msg}") {
                bar.set_style(style);
            }
            bar.abandon_with_message(format!("{}: failed", self.message));
        }
    }
}
