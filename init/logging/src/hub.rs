//! PID 1's side of logging: every line becomes a record, kept in a ring
//! per source and queued for the logger process, which it starts, watches
//! and restarts.
//!
//! PID 1 never waits here. The socket to the logger is non-blocking; what
//! it cannot take waits in the [`Outbox`] (bounded, acknowledged, counted
//! when full). Two token buckets per app keep a flood honest: one for what
//! reaches the logger at all, a much smaller one for the serial console, so
//! one chatty app neither fills the disk nor buries its neighbours' lines on
//! the console. Every drop is counted and logged.
//!
//! Nothing in here logs through `tracing` (which would come back here, to a
//! held lock): its own notices go straight into the stream and the console.

use std::collections::BTreeMap;
use std::fs::File;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::os::unix::fs::OpenOptionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::poll::PollFlags;
use nix::sys::socket::{self, MsgFlags};

use crate::daemon::{self, Config};
use crate::kmsg;
use crate::line::Tail;
use crate::outbox::{parse_ack, Outbox, RECORDS};
use crate::ratelimit::RateLimit;
use crate::record::{Record, Stream, KERNEL_SOURCE};

/// Bytes of records PID 1 holds for the logger at most.
pub const OUTBOX_CAP: usize = 8 << 20;
const BATCH_MAX: usize = 64 << 10;
/// Recent lines kept per source in memory.
pub const RING_LINES: usize = 200;
/// Lines per second (sustained, burst) an app may log, unless the manifest
/// says otherwise.
pub const APP_RATE: (u32, u32) = (
    cairn_manifest::DEFAULT_RATE_LIMIT,
    2 * cairn_manifest::DEFAULT_RATE_LIMIT,
);
/// Lines per second (sustained, burst) of an app shown on the console.
pub const CONSOLE_RATE: (u32, u32) = (50, 500);
const RESTART_FLOOR: Duration = Duration::from_secs(1);
const RESTART_CAP: Duration = Duration::from_secs(30);
/// A logger up this long has its restart delay reset.
const STABLE: Duration = Duration::from_secs(60);
/// Kernel records read per round at most.
const KMSG_BUDGET: usize = 256;
/// This binary, which PID 1 starts again as the logger.
const SELF_EXE: &str = "/proc/self/exe";

#[derive(Debug)]
enum Logger {
    /// Not started (yet), or shut down.
    Off,
    Down {
        retry_at: Instant,
    },
    Up {
        socket: OwnedFd,
        pid: u32,
        since: Instant,
    },
}

#[derive(Debug)]
struct Limits {
    logger: RateLimit,
    console: RateLimit,
}

/// Everything PID 1 keeps for logging.
#[derive(Debug)]
pub struct Hub {
    config: Option<Config>,
    outbox: Outbox,
    logger: Logger,
    restart_delay: Duration,
    limits: BTreeMap<String, Limits>,
    /// Lines per second and burst each app may log (`[logging] rate_limit`).
    app_rate: (u32, u32),
    rings: BTreeMap<String, Tail<Record>>,
    kmsg: Option<File>,
    /// Records are queued for a logger (PID 1 always; elsewhere once started).
    accepting: bool,
    finishing: bool,
    /// Loggers started and not yet reaped: their exits are ours to expect.
    spawned: Vec<u32>,
    /// The binary started as the logger: this one, except in benchmarks.
    logger_exe: PathBuf,
    /// Where the hub's own notices go besides the record stream.
    console: fn(u8, &str),
    /// Lines lost to the logs since the hub started, by source (console
    /// lines left out for the console's rate are not lost: they are in the
    /// logs).
    dropped: BTreeMap<String, u64>,
}

impl Hub {
    pub fn new(accepting: bool) -> Hub {
        Hub {
            config: None,
            outbox: Outbox::new(OUTBOX_CAP, BATCH_MAX),
            logger: Logger::Off,
            restart_delay: RESTART_FLOOR,
            limits: BTreeMap::new(),
            app_rate: APP_RATE,
            rings: BTreeMap::new(),
            kmsg: None,
            accepting,
            finishing: false,
            spawned: Vec::new(),
            logger_exe: PathBuf::from(SELF_EXE),
            console: |_, _| {},
            dropped: BTreeMap::new(),
        }
    }

    /// Also shows the hub's own notices (the logger's state, drop counts) with
    /// `console`, at their syslog severity; without it they are only records.
    pub fn with_console(mut self, console: fn(u8, &str)) -> Hub {
        self.console = console;
        self
    }

    /// Starts `exe` as the logger instead of this binary (benchmarks on the
    /// host, where this binary is not cairn-init).
    pub fn with_logger_exe(mut self, exe: PathBuf) -> Hub {
        self.logger_exe = exe;
        self
    }

    /// The running logger's process id.
    pub fn logger_pid(&self) -> Option<u32> {
        match self.logger {
            Logger::Up { pid, .. } => Some(pid),
            _ => None,
        }
    }

    /// Bytes of records held for the logger (sent or not, not acknowledged).
    pub fn held(&self) -> usize {
        self.outbox.held()
    }

    /// Keeps `record` in its ring and queues it for the logger.
    pub fn record(&mut self, record: Record) {
        if self.accepting {
            self.outbox.push(&record);
        }
        // Kept as records and formatted only when read: most lines are
        // never looked at again.
        match self.rings.get_mut(&record.source) {
            Some(ring) => ring.push(record),
            None => {
                let mut ring = Tail::new(RING_LINES);
                let source = record.source.clone();
                ring.push(record);
                self.rings.insert(source, ring);
            }
        }
    }

    /// A notice of the logging layer itself: into the stream and, at warning
    /// and above (or as the console level says), onto the console.
    fn note(&mut self, severity: u8, message: String) {
        (self.console)(severity, &message);
        self.record(Record::system(severity, &message));
    }

    /// One line of an app's output; true when it should also be shown on
    /// the console.
    pub fn app_line(&mut self, label: &str, stream: Stream, line: String, now: Instant) -> bool {
        let (source, instance) = cairn_manifest::split_instance_label(label);
        let app_rate = self.app_rate;
        let limits = self
            .limits
            .entry(source.to_string())
            .or_insert_with(|| Limits {
                logger: RateLimit::new(app_rate.0, app_rate.1, now),
                console: RateLimit::new(CONSOLE_RATE.0, CONSOLE_RATE.1, now),
            });
        if !limits.logger.admit(now) {
            return false;
        }
        let console = limits.console.admit(now);
        self.record(Record::new(source, instance, stream, line));
        console
    }

    /// How many lines per second each app may log (`[logging] rate_limit`),
    /// with bursts of twice as many; applies to apps seen from now on.
    pub fn set_app_rate(&mut self, per_second: u32) {
        let rate = per_second.max(1);
        self.app_rate = (rate, rate.saturating_mul(2));
    }

    /// True when `pid` was a logger this hub started (which is then
    /// forgotten): its exit is expected, not an orphan's.
    pub fn forget_logger(&mut self, pid: u32) -> bool {
        let before = self.spawned.len();
        self.spawned.retain(|&p| p != pid);
        self.spawned.len() != before
    }

    /// Remembers the logger's configuration; it starts at the next tick.
    pub fn configure(&mut self, config: Config, now: Instant) {
        self.config = Some(config);
        self.accepting = true;
        if matches!(self.logger, Logger::Off) {
            self.logger = Logger::Down { retry_at: now };
        }
    }

    /// Starts reading the kernel's log.
    pub fn open_kmsg(&mut self, path: &std::path::Path) -> std::io::Result<()> {
        let file = std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NONBLOCK | libc::O_CLOEXEC)
            .open(path)?;
        self.kmsg = Some(file);
        Ok(())
    }

    /// Descriptors to poll: the logger's socket and /dev/kmsg (duplicates,
    /// so the caller can hold them across a poll).
    pub fn poll_handles(&self) -> Vec<(OwnedFd, PollFlags)> {
        let mut handles = Vec::new();
        if let Logger::Up { socket, .. } = &self.logger {
            let mut flags = PollFlags::POLLIN;
            if self.outbox.has_unsent() {
                flags |= PollFlags::POLLOUT;
            }
            if let Ok(fd) = socket.try_clone() {
                handles.push((fd, flags));
            }
        }
        if let Some(Ok(fd)) = self.kmsg.as_ref().map(|f| f.as_fd().try_clone_to_owned()) {
            handles.push((fd, PollFlags::POLLIN));
        }
        handles
    }

    /// Reads whatever the logger and the kernel have for us.
    pub fn service(&mut self, now: Instant) {
        self.read_logger(now);
        self.read_kmsg();
    }

    fn read_logger(&mut self, now: Instant) {
        let Logger::Up { socket, .. } = &self.logger else {
            return;
        };
        let raw = socket.as_raw_fd();
        let peek = MsgFlags::MSG_DONTWAIT | MsgFlags::MSG_PEEK | MsgFlags::MSG_TRUNC;
        loop {
            // Each message's size first (MSG_TRUNC gives it whole), so a
            // read takes only the memory it needs: most messages are
            // acknowledgements of a few bytes, and this runs every round.
            let size = match socket::recv(raw, &mut [], peek) {
                Ok(0) => return self.logger_down("exited", now),
                Ok(size) => size.min(daemon::MESSAGE_MAX),
                Err(Errno::EAGAIN | Errno::EINTR) => return,
                Err(err) => return self.logger_down(&format!("connection lost: {err}"), now),
            };
            let mut buf = vec![0u8; size];
            match socket::recv(raw, &mut buf, MsgFlags::MSG_DONTWAIT) {
                Ok(0) => return self.logger_down("exited", now),
                Ok(n) => {
                    buf.truncate(n);
                    let message = buf.as_slice();
                    if let Some(seq) = parse_ack(message) {
                        self.outbox.ack(seq);
                    } else if let Some((&RECORDS, records)) = message.split_first() {
                        for record in Record::decode_all(records).0 {
                            (self.console)(record.stream.severity(), &record.line);
                            self.record(record);
                        }
                    }
                }
                Err(Errno::EAGAIN | Errno::EINTR) => return,
                Err(err) => return self.logger_down(&format!("connection lost: {err}"), now),
            }
        }
    }

    fn read_kmsg(&mut self) {
        let Some(file) = self.kmsg.as_ref() else {
            return;
        };
        let fd = file.as_raw_fd();
        let mut buf = [0u8; 8192];
        let mut lines = Vec::new();
        for _ in 0..KMSG_BUDGET {
            match nix::unistd::read(fd, &mut buf) {
                Ok(0) => break,
                Ok(n) => lines.extend(buf.get(..n).and_then(kmsg::parse)),
                // Overwritten before we read them: go on with the next.
                Err(Errno::EPIPE | Errno::EINTR) => continue,
                Err(Errno::EAGAIN) => break,
                Err(_) => {
                    self.kmsg = None;
                    break;
                }
            }
        }
        if lines.is_empty() {
            return;
        }
        let wall = crate::record::now();
        let mono = nix::time::clock_gettime(nix::time::ClockId::CLOCK_MONOTONIC)
            .map(Duration::from)
            .unwrap_or_default();
        for line in lines {
            let mut record =
                Record::new(KERNEL_SOURCE, 0, Stream::Kernel(line.severity), line.text);
            record.time = kmsg::wall_time(line.since_boot, mono, wall);
            self.record(record);
        }
    }

    fn logger_down(&mut self, why: &str, now: Instant) {
        if let Logger::Up { since, pid, .. } = self.logger {
            if now.duration_since(since) >= STABLE {
                self.restart_delay = RESTART_FLOOR;
            }
            let delay = self.restart_delay;
            self.restart_delay = (delay * 2).min(RESTART_CAP);
            self.logger = Logger::Down {
                retry_at: now + delay,
            };
            self.outbox.rewind();
            if !self.finishing {
                self.note(
                    4,
                    format!(
                        "logger (pid {pid}) {why}; restarting in {}s, nothing written is lost",
                        delay.as_secs()
                    ),
                );
            }
        }
    }

    /// Once per round: starts the logger when due, sends what it can take,
    /// reports drops.
    pub fn tick(&mut self, now: Instant) {
        if let Logger::Down { retry_at } = self.logger {
            if now >= retry_at && !self.finishing {
                self.start_logger(now);
            }
        }
        self.report_drops(now);
        self.send();
    }

    fn start_logger(&mut self, now: Instant) {
        let Some(config) = self.config.clone() else {
            return;
        };
        match spawn_with(&self.logger_exe, &config) {
            Ok((socket, pid)) => {
                self.spawned.push(pid);
                let resent = self.outbox.held();
                self.logger = Logger::Up {
                    socket,
                    pid,
                    since: now,
                };
                let what = if resent > 0 {
                    format!("; {} KiB of records waiting", resent.div_ceil(1024))
                } else {
                    String::new()
                };
                self.note(6, format!("logger started (pid {pid}){what}"));
            }
            Err(err) => {
                let delay = self.restart_delay;
                self.restart_delay = (delay * 2).min(RESTART_CAP);
                self.logger = Logger::Down {
                    retry_at: now + delay,
                };
                self.note(
                    3,
                    format!(
                        "cannot start the logger: {err}; retrying in {}s",
                        delay.as_secs()
                    ),
                );
            }
        }
    }

    fn report_drops(&mut self, now: Instant) {
        let reason = match self.logger {
            Logger::Up { .. } => "logger busy",
            _ => "logger not running",
        };
        for (source, count) in self.outbox.take_drops() {
            *self.dropped.entry(source.clone()).or_default() += count;
            self.note(4, format!("dropped {count} lines from {source}: {reason}"));
        }
        let mut reports = Vec::new();
        for (source, limits) in &mut self.limits {
            if let Some(n) = limits.logger.take_report(now) {
                *self.dropped.entry(source.clone()).or_default() += n;
                reports.push((
                    4,
                    format!(
                        "dropped {n} lines from {source}: over {} lines/s",
                        self.app_rate.0
                    ),
                ));
            }
            if let Some(n) = limits.console.take_report(now) {
                reports.push((
                    5,
                    format!(
                        "{n} lines from {source} not shown on the console (over {} lines/s); they are in its log",
                        CONSOLE_RATE.0
                    ),
                ));
            }
        }
        for (severity, message) in reports {
            self.note(severity, message);
        }
    }

    /// Lines lost to the logs since the hub started, by source.
    pub fn dropped(&self) -> &BTreeMap<String, u64> {
        &self.dropped
    }

    /// Sends sealed batches until the socket would block.
    fn send(&mut self) {
        let Logger::Up { socket, .. } = &self.logger else {
            return;
        };
        let raw = socket.as_raw_fd();
        self.outbox.seal();
        while let Some(batch) = self.outbox.next_unsent() {
            match socket::send(raw, batch, MsgFlags::MSG_DONTWAIT | MsgFlags::MSG_NOSIGNAL) {
                Ok(_) => self.outbox.mark_sent(),
                Err(Errno::EINTR) => continue,
                Err(Errno::EAGAIN | Errno::ENOBUFS) => return,
                Err(err) => {
                    return self.logger_down(&format!("connection lost: {err}"), Instant::now());
                }
            }
        }
    }

    /// At shutdown: true while records wait for the logger's acknowledgement.
    pub fn pending(&self) -> bool {
        matches!(self.logger, Logger::Up { .. }) && !self.outbox.is_empty()
    }

    /// Stops restarting the logger, and closes its input so it syncs and
    /// exits; returns the socket to wait on.
    pub fn close_logger(&mut self) -> Option<OwnedFd> {
        self.finishing = true;
        match std::mem::replace(&mut self.logger, Logger::Off) {
            Logger::Up { socket, .. } => {
                let _ = socket::shutdown(socket.as_raw_fd(), socket::Shutdown::Write);
                Some(socket)
            }
            _ => None,
        }
    }

    /// The recent lines of `source`, oldest first, as log file lines.
    pub fn recent(&self, source: &str) -> Vec<String> {
        let Some(ring) = self.rings.get(source) else {
            return Vec::new();
        };
        ring.iter()
            .map(|record| {
                let mut text = String::new();
                record.file_line(&mut text);
                text
            })
            .collect()
    }
}

/// Starts `cairn-logd`: `exe` (in PID 1, this same binary) under the
/// logger's name, with one end of a socket pair as its standard input;
/// returns our end and the logger's process id.
pub fn spawn_with(exe: &Path, config: &Config) -> std::io::Result<(OwnedFd, u32)> {
    let (ours, theirs) = socket::socketpair(
        socket::AddressFamily::Unix,
        socket::SockType::SeqPacket,
        None,
        socket::SockFlag::SOCK_CLOEXEC,
    )
    .map_err(std::io::Error::from)?;
    cairn_sys::fd::set_nonblocking(&ours)?;
    // Room for a few batches in flight; best effort.
    let _ = socket::setsockopt(&ours, socket::sockopt::SndBuf, &(1 << 20));
    let child = Command::new(exe)
        .arg0(daemon::ARGV0)
        .args(config.to_args())
        .stdin(Stdio::from(theirs))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()?;
    Ok((ours, child.id()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_manifest_rate_limit_replaces_the_default() {
        let mut hub = Hub::new(true);
        hub.set_app_rate(100);
        let now = Instant::now();
        for i in 0..250 {
            hub.app_line("chatty", Stream::Stdout, format!("{i}"), now);
        }
        hub.report_drops(now + Duration::from_secs(1));
        let ring = hub.recent("cairn");
        assert!(
            ring.iter()
                .any(|l| l.ends_with("cairn warn dropped 50 lines from chatty: over 100 lines/s")),
            "{ring:?}"
        );
        // And counted for the metrics, which never go back.
        assert_eq!(hub.dropped().get("chatty"), Some(&50));
        for i in 0..1000 {
            hub.app_line(
                "chatty",
                Stream::Stdout,
                format!("{i}"),
                now + Duration::from_secs(2),
            );
        }
        hub.report_drops(now + Duration::from_secs(3));
        let total = hub.dropped().get("chatty").copied().unwrap_or(0);
        assert!(total > 50 + 500, "{total}");
    }

    #[test]
    fn a_flooding_app_is_limited_and_counted_while_its_neighbour_is_not() {
        let mut hub = Hub::new(true);
        let now = Instant::now();
        let mut shown = 0;
        for i in 0..APP_RATE.1 + 100 {
            if hub.app_line("flood", Stream::Stdout, format!("{i}"), now) {
                shown += 1;
            }
        }
        assert_eq!(shown, CONSOLE_RATE.1);
        assert!(hub.app_line("calm", Stream::Stdout, "hi".into(), now));
        hub.report_drops(now + Duration::from_secs(1));
        let ring = hub.recent("cairn");
        assert!(
            ring.iter().any(|l| l.ends_with("cairn warn dropped 100 lines from flood: over 20000 lines/s")),
            "{ring:?}"
        );
        assert!(ring.iter().any(|l| l.contains(&format!(
            "{} lines from flood not shown on the console",
            APP_RATE.1 - CONSOLE_RATE.1
        ))));
        assert_eq!(hub.recent("calm").len(), 1);
        assert!(hub.recent("calm")[0].ends_with(" calm stdout hi"));
        assert_eq!(hub.recent("flood").len(), RING_LINES);
    }
}
