//! PID 1's own log: `tracing` events to /dev/kmsg and to the console.
//!
//! Each event becomes one `cairn: <message>` line. It is written to /dev/kmsg
//! with a syslog priority prefix (`<6>cairn: ...`), so `dmesg` keeps the
//! boot's story, and to the console sink. The kernel itself echoes kmsg
//! records whose priority is below its console loglevel (with `loglevel=4`:
//! errors); those are not written to the console a second time.
//!
//! Every event that passes either filter also joins the record stream of
//! the logging [`hub`] (log files, remote syslog).
//!
//! What reaches the console is filtered by `[logging] console` from the
//! manifest (info until the manifest is read); kmsg receives everything up to
//! info, or debug with `cairn.debug` on the kernel command line.

pub(crate) mod console;
pub(crate) mod hub;
pub(crate) mod metrics;

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Mutex, PoisonError};

use cairn_logging::text::{event_message, format_line, rank, rank_of};
use tracing::{span, Event, Level, Metadata, Subscriber};

/// Where the log goes.
#[derive(Debug, Clone, Default)]
pub struct LogSetup {
    /// The console device (or, in tests, a file).
    pub console: Option<PathBuf>,
    /// /dev/kmsg, when there is a kernel log to write to.
    pub kmsg: Option<PathBuf>,
}

static KMSG: Mutex<Option<File>> = Mutex::new(None);
/// Most verbose level written to the console (see [`rank`]).
static CONSOLE_MAX: AtomicU8 = AtomicU8::new(3);
/// Most verbose level written to kmsg.
static KMSG_MAX: AtomicU8 = AtomicU8::new(3);
/// The kernel prints kmsg records with a priority below this on the console.
static KERNEL_CONSOLE_LOGLEVEL: AtomicU8 = AtomicU8::new(0);

/// The syslog priority a level is written to kmsg with.
pub fn kmsg_priority(level: &Level) -> u8 {
    match *level {
        Level::ERROR => 3,
        Level::WARN => 4,
        Level::INFO => 6,
        Level::DEBUG | Level::TRACE => 7,
    }
}

/// Opens the sinks and installs the global subscriber. The subscriber is
/// installed even when a sink fails to open; the error is returned so the
/// caller can say so through whichever sink works.
pub fn init(setup: &LogSetup) -> io::Result<()> {
    let mut result = Ok(());
    if let Some(path) = &setup.console {
        if let Err(err) = console::open(path) {
            result = Err(err);
        }
    }
    if let Some(path) = &setup.kmsg {
        match OpenOptions::new()
            .write(true)
            .custom_flags(libc::O_CLOEXEC)
            .open(path)
        {
            Ok(file) => {
                *KMSG.lock().unwrap_or_else(PoisonError::into_inner) = Some(file);
                KERNEL_CONSOLE_LOGLEVEL.store(read_console_loglevel(), Ordering::Relaxed);
            }
            Err(err) => result = Err(err),
        }
    }
    // A second init (tests) keeps the first subscriber; the sinks are global.
    let _ = tracing::subscriber::set_global_default(CairnSubscriber);
    result
}

/// The first field of /proc/sys/kernel/printk; 4 when unreadable.
fn read_console_loglevel() -> u8 {
    std::fs::read_to_string("/proc/sys/kernel/printk")
        .ok()
        .and_then(|text| text.split_whitespace().next()?.parse().ok())
        .unwrap_or(4)
}

/// Sets what of the system's own log reaches the console.
pub fn set_console_level(level: cairn_manifest::LogLevel) {
    CONSOLE_MAX.store(rank_of(level), Ordering::Relaxed);
}

/// Lets debug events through to kmsg (and the console, if it asks for them).
pub fn enable_debug() {
    KMSG_MAX.store(4, Ordering::Relaxed);
}

/// The syslog severity of a level in the record stream.
fn severity(level: &Level) -> u8 {
    match *level {
        Level::ERROR => 3,
        Level::WARN => 4,
        Level::INFO => 6,
        Level::DEBUG | Level::TRACE => 7,
    }
}

/// Shows a line of the logging layer itself (at a syslog severity) on the
/// console, when the console level lets it through. It is already in the
/// record stream; it does not go to kmsg.
pub fn console_notice(severity: u8, message: &str) {
    let level = match severity {
        0..=3 => Level::ERROR,
        4 => Level::WARN,
        5 | 6 => Level::INFO,
        _ => Level::DEBUG,
    };
    if rank(&level) <= CONSOLE_MAX.load(Ordering::Relaxed) {
        console::write_line(&format_line(&level, message));
    }
}

/// Writes one line at `level` to both sinks and into the record stream.
fn emit(level: &Level, message: &str) {
    hub::system_line(severity(level), message);
    let line = format_line(level, message);
    let priority = kmsg_priority(level);
    let mut kernel_echoes = false;
    if rank(level) <= KMSG_MAX.load(Ordering::Relaxed) {
        let mut kmsg = KMSG.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(file) = kmsg.as_mut() {
            if file
                .write_all(format!("<{priority}>{line}\n").as_bytes())
                .is_ok()
            {
                kernel_echoes = priority < KERNEL_CONSOLE_LOGLEVEL.load(Ordering::Relaxed);
            }
        }
    }
    if rank(level) <= CONSOLE_MAX.load(Ordering::Relaxed) && !kernel_echoes {
        console::write_line(&line);
    }
}

/// The crash path's last words: straight to kmsg and the console, without
/// going through `tracing` and without waiting on locks that may be held.
pub fn emergency(message: &str, console_path: &Path, kmsg_path: &Path) {
    let line = format!("cairn: FATAL: {message}");
    let mut kernel_echoes = false;
    let record = format!("<2>{line}\n");
    let written = match KMSG.try_lock() {
        Ok(mut kmsg) => match kmsg.as_mut() {
            Some(file) => file.write_all(record.as_bytes()).is_ok(),
            None => false,
        },
        Err(_) => false,
    };
    let written = written
        || OpenOptions::new()
            .write(true)
            .open(kmsg_path)
            .and_then(|mut f| f.write_all(record.as_bytes()))
            .is_ok();
    if written {
        kernel_echoes = 2 < KERNEL_CONSOLE_LOGLEVEL.load(Ordering::Relaxed);
    }
    if !kernel_echoes {
        console::write_line_emergency(&line, console_path);
    }
}

/// A subscriber without spans: PID 1 logs flat events only.
struct CairnSubscriber;

impl Subscriber for CairnSubscriber {
    fn register_callsite(
        &self,
        _metadata: &'static Metadata<'static>,
    ) -> tracing::subscriber::Interest {
        // Levels change at run time (manifest, cairn.debug): decide per event.
        tracing::subscriber::Interest::sometimes()
    }

    fn enabled(&self, metadata: &Metadata<'_>) -> bool {
        let wanted = CONSOLE_MAX
            .load(Ordering::Relaxed)
            .max(KMSG_MAX.load(Ordering::Relaxed));
        rank(metadata.level()) <= wanted
    }

    fn new_span(&self, _span: &span::Attributes<'_>) -> span::Id {
        span::Id::from_u64(1)
    }

    fn record(&self, _span: &span::Id, _values: &span::Record<'_>) {}

    fn record_follows_from(&self, _span: &span::Id, _follows: &span::Id) {}

    fn event(&self, event: &Event<'_>) {
        emit(event.metadata().level(), &event_message(event));
    }

    fn enter(&self, _span: &span::Id) {}

    fn exit(&self, _span: &span::Id) {}
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn info_is_below_the_kernel_console_threshold() {
        // With loglevel=4 the kernel echoes only priorities 0..=3 itself.
        assert!(kmsg_priority(&Level::INFO) >= 4);
        assert!(kmsg_priority(&Level::WARN) >= 4);
        assert!(kmsg_priority(&Level::ERROR) < 4);
    }
}
