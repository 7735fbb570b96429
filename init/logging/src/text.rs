//! The text of the system's own log lines, and a plain `tracing` subscriber
//! that writes them for programs that are not PID 1 (`cairn dev`, tests).
//!
//! Every line the OS writes of its own reads `cairn: <message>`, with
//! `warning: ` or `error: ` before the message when it is one; PID 1 and
//! `cairn dev` format them here so both consoles read the same.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use tracing::field::{Field, Visit};
use tracing::{span, Event, Level, Metadata, Subscriber};

use crate::console::Console;

/// Orders levels from 1 (error) to 5 (trace).
pub fn rank(level: &Level) -> u8 {
    match *level {
        Level::ERROR => 1,
        Level::WARN => 2,
        Level::INFO => 3,
        Level::DEBUG => 4,
        Level::TRACE => 5,
    }
}

/// The rank of a manifest's `[logging] console` level.
pub fn rank_of(level: cairn_manifest::LogLevel) -> u8 {
    match level {
        cairn_manifest::LogLevel::Error => 1,
        cairn_manifest::LogLevel::Warn => 2,
        cairn_manifest::LogLevel::Info => 3,
        cairn_manifest::LogLevel::Debug => 4,
        cairn_manifest::LogLevel::Trace => 5,
    }
}

/// The text of one log line, without newline: `cairn: `, a marker for
/// warnings and errors, the message.
pub fn format_line(level: &Level, message: &str) -> String {
    let marker = match *level {
        Level::ERROR => "error: ",
        Level::WARN => "warning: ",
        _ => "",
    };
    format!("cairn: {marker}{message}")
}

/// An event's message followed by its other fields as ` key=value`.
pub fn event_message(event: &Event<'_>) -> String {
    let mut visitor = LineVisitor::default();
    event.record(&mut visitor);
    visitor.message.push_str(&visitor.fields);
    visitor.message
}

#[derive(Default)]
struct LineVisitor {
    message: String,
    fields: String,
}

impl Visit for LineVisitor {
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.message.push_str(value);
        } else {
            let _ = write!(self.fields, " {}={}", field.name(), value);
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            let _ = write!(self.message, "{value:?}");
        } else {
            let _ = write!(self.fields, " {}={:?}", field.name(), value);
        }
    }
}

/// A console shared by a subscriber and the code that drains it.
pub type SharedConsole = Arc<Mutex<Console>>;

/// Queues `line` on `console`, whoever else holds it.
pub fn write_shared(console: &SharedConsole, line: &str) {
    console
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .write_line(line);
}

/// Writes every event up to a level as a `cairn: ` line to a console. No
/// spans: the system logs flat events only.
#[derive(Debug)]
pub struct TextSubscriber {
    console: SharedConsole,
    max_rank: Arc<AtomicU8>,
}

impl TextSubscriber {
    /// Writes to `console` what is at least as important as `level`; the
    /// returned handle changes that level later.
    pub fn new(
        console: SharedConsole,
        level: cairn_manifest::LogLevel,
    ) -> (TextSubscriber, Arc<AtomicU8>) {
        let max_rank = Arc::new(AtomicU8::new(rank_of(level)));
        let subscriber = TextSubscriber {
            console,
            max_rank: Arc::clone(&max_rank),
        };
        (subscriber, max_rank)
    }
}

impl Subscriber for TextSubscriber {
    fn register_callsite(&self, _: &'static Metadata<'static>) -> tracing::subscriber::Interest {
        // The level can change at run time: decide per event.
        tracing::subscriber::Interest::sometimes()
    }

    fn enabled(&self, metadata: &Metadata<'_>) -> bool {
        rank(metadata.level()) <= self.max_rank.load(Ordering::Relaxed)
    }

    fn new_span(&self, _span: &span::Attributes<'_>) -> span::Id {
        span::Id::from_u64(1)
    }

    fn record(&self, _span: &span::Id, _values: &span::Record<'_>) {}

    fn record_follows_from(&self, _span: &span::Id, _follows: &span::Id) {}

    fn event(&self, event: &Event<'_>) {
        let line = format_line(event.metadata().level(), &event_message(event));
        write_shared(&self.console, &line);
    }

    fn enter(&self, _span: &span::Id) {}

    fn exit(&self, _span: &span::Id) {}
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_carry_the_prefix_and_a_marker_for_problems() {
        assert_eq!(
            format_line(&Level::INFO, "init started"),
            "cairn: init started"
        );
        assert_eq!(
            format_line(&Level::WARN, "no data"),
            "cairn: warning: no data"
        );
        assert_eq!(format_line(&Level::ERROR, "boom"), "cairn: error: boom");
    }

    #[test]
    fn the_subscriber_filters_by_level_and_formats_lines() {
        let (read, write) = nix::unistd::pipe().unwrap();
        cairn_sys::fd::set_nonblocking(&read).unwrap();
        let mut console = Console::closed(4096);
        console.attach(write);
        let console = Arc::new(Mutex::new(console));
        let (subscriber, level) =
            TextSubscriber::new(Arc::clone(&console), cairn_manifest::LogLevel::Info);
        tracing::subscriber::with_default(subscriber, || {
            tracing::info!("app web started (pid {})", 7);
            tracing::debug!("hidden");
            level.store(rank(&Level::DEBUG), Ordering::Relaxed);
            tracing::debug!("shown");
            tracing::warn!(code = 3, "odd");
        });
        let mut out = vec![0u8; 4096];
        let n = nix::unistd::read(std::os::fd::AsRawFd::as_raw_fd(&read), &mut out).unwrap();
        assert_eq!(
            String::from_utf8_lossy(&out[..n]),
            "cairn: app web started (pid 7)\ncairn: shown\ncairn: warning: odd code=3\n"
        );
    }
}
