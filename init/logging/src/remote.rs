//! Remote syslog sinks: RFC 5424 over UDP, TCP or TLS, each on a thread of
//! the logger's own.
//!
//! A sink holds a bounded queue. While its collector is away (refusing,
//! restarting, unreachable) it reconnects with backoff and keeps the newest
//! [`QUEUE_MAX`] messages; what falls off is counted and reported, at once
//! and then summed over growing spans ("dropped 1234 lines for
//! syslog+tcp://10.0.2.2:514: collector unreachable"). A write that does
//! not finish within 10 s (a collector that stopped reading) counts as
//! failed. Before each write the connection is checked for a close
//! from the collector, so a collector that restarted costs no lines; a
//! message whose write fails is sent again on the next connection. UDP sends
//! one datagram per message and never waits.

use std::collections::VecDeque;
use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs, UdpSocket};
use std::path::PathBuf;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use cairn_manifest::SyslogTransport;

use crate::record::Record;
use crate::syslog;

/// How many messages wait for a collector at most.
pub const QUEUE_MAX: usize = 10_000;
/// Messages written in one go.
const CHUNK: usize = 256;
const BACKOFF_FLOOR: Duration = Duration::from_millis(500);
const BACKOFF_CAP: Duration = Duration::from_secs(30);
const IO_TIMEOUT: Duration = Duration::from_secs(10);
/// Drops are reported at once, then summed over at least this long,
/// doubling up to [`REPORT_CAP`] while the collector stays stuck: a report
/// per batch would flood the console, and each report, sent on to this very
/// sink, is one more line it drops.
const REPORT_FLOOR: Duration = Duration::from_secs(1);
const REPORT_CAP: Duration = Duration::from_secs(60);

/// Where one sink sends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub transport: SyslogTransport,
    pub host: String,
    pub port: u16,
    /// CA bundle (PEM) that signs the collector's certificate, for TLS.
    pub ca: PathBuf,
}

impl Target {
    /// `syslog+tcp://host:port`, as in the manifest.
    pub fn url(&self) -> String {
        let scheme = match self.transport {
            SyslogTransport::Udp => "udp",
            SyslogTransport::Tcp => "tcp",
            SyslogTransport::Tls => "tls",
        };
        format!("syslog+{scheme}://{}:{}", self.host, self.port)
    }
}

#[derive(Debug, Default)]
struct Queue {
    messages: VecDeque<String>,
    dropped: u64,
    /// When drops may be reported again, and the wait after that.
    next_report: Option<Instant>,
    report_every: Duration,
    notices: Vec<(u8, String)>,
    closing: bool,
}

#[derive(Debug, Default)]
struct Shared {
    queue: Mutex<Queue>,
    wake: Condvar,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Queue> {
        self.queue.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// One running remote sink.
#[derive(Debug)]
pub struct Remote {
    target: Target,
    hostname: String,
    shared: Arc<Shared>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Remote {
    /// Starts the sink's thread.
    pub fn start(target: Target, hostname: String) -> io::Result<Remote> {
        let shared = Arc::new(Shared::default());
        let thread = {
            let shared = Arc::clone(&shared);
            let target = target.clone();
            std::thread::Builder::new()
                .name("syslog".into())
                .spawn(move || run(&target, &shared))?
        };
        Ok(Remote {
            target,
            hostname,
            shared,
            thread: Some(thread),
        })
    }

    /// Queues `record`; the oldest message goes (counted) when the queue is full.
    pub fn push(&self, record: &Record) {
        let message = syslog::format(record, &self.hostname);
        let mut queue = self.shared.lock();
        if queue.messages.len() >= QUEUE_MAX {
            queue.messages.pop_front();
            queue.dropped += 1;
        }
        queue.messages.push_back(message);
        drop(queue);
        self.shared.wake.notify_one();
    }

    /// What the sink has to say at `now`: connection changes, and drops
    /// (see [`REPORT_FLOOR`]).
    pub fn take_notices(&self, now: Instant) -> Vec<(u8, String)> {
        let mut queue = self.shared.lock();
        let mut notices = std::mem::take(&mut queue.notices);
        if queue.dropped > 0 && queue.next_report.is_none_or(|at| now >= at) {
            let dropped = std::mem::take(&mut queue.dropped);
            let every = queue.report_every.max(REPORT_FLOOR);
            queue.next_report = Some(now + every);
            queue.report_every = (every * 2).min(REPORT_CAP);
            notices.push((
                4,
                format!(
                    "dropped {dropped} lines for {}: collector unreachable",
                    self.target.url()
                ),
            ));
        }
        notices
    }

    /// Sends what is queued (bounded by `limit`) and stops the thread.
    pub fn close(mut self, limit: Duration) {
        self.shared.lock().closing = true;
        self.shared.wake.notify_one();
        let deadline = std::time::Instant::now() + limit;
        if let Some(thread) = self.thread.take() {
            while !thread.is_finished() && std::time::Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(20));
            }
            if thread.is_finished() {
                let _ = thread.join();
            }
        }
    }
}

enum Conn {
    Udp(UdpSocket),
    Tcp(TcpStream),
    Tls(Box<rustls::StreamOwned<rustls::ClientConnection, TcpStream>>),
}

impl Conn {
    /// False when the collector closed (or sent anything: a syslog
    /// collector has nothing to say, so that is a close notification).
    fn still_open(&mut self) -> bool {
        match self {
            Conn::Udp(_) => true,
            Conn::Tcp(tcp) => {
                let mut byte = [0u8; 1];
                if tcp.set_nonblocking(true).is_err() {
                    return false;
                }
                let open =
                    matches!(tcp.peek(&mut byte), Err(e) if e.kind() == io::ErrorKind::WouldBlock);
                open && tcp.set_nonblocking(false).is_ok()
            }
            Conn::Tls(tls) => tls_still_open(tls),
        }
    }

    fn send(&mut self, messages: &[String]) -> io::Result<()> {
        match self {
            Conn::Udp(socket) => {
                for message in messages {
                    // A lost datagram is UDP's nature; a refused one (no
                    // collector) is not worth a reconnect either.
                    let _ = socket.send(message.as_bytes());
                }
                Ok(())
            }
            Conn::Tcp(tcp) => tcp.write_all(&frames(messages)),
            Conn::Tls(tls) => {
                tls.write_all(&frames(messages))?;
                tls.flush()
            }
        }
    }
}

/// A TLS collector does send records after the handshake: TLS 1.3
/// session tickets, key updates. Those are read and processed here without
/// waiting, so only a close (TCP or `close_notify`), a broken record or
/// application data counts as the collector going away.
fn tls_still_open(tls: &mut rustls::StreamOwned<rustls::ClientConnection, TcpStream>) -> bool {
    if tls.sock.set_nonblocking(true).is_err() {
        return false;
    }
    let open = loop {
        match tls.conn.read_tls(&mut tls.sock) {
            Ok(0) => break false,
            Ok(_) => match tls.conn.process_new_packets() {
                Ok(state) if !state.peer_has_closed() && state.plaintext_bytes_to_read() == 0 => {}
                _ => break false,
            },
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => break true,
            Err(_) => break false,
        }
    };
    open && tls.sock.set_nonblocking(false).is_ok()
}

fn frames(messages: &[String]) -> Vec<u8> {
    let mut out = Vec::new();
    for message in messages {
        out.extend(syslog::frame(message));
    }
    out
}

fn resolve(target: &Target) -> io::Result<SocketAddr> {
    (target.host.as_str(), target.port)
        .to_socket_addrs()?
        .next()
        .ok_or_else(|| io::Error::other("no address"))
}

fn connect(target: &Target) -> io::Result<Conn> {
    let addr = resolve(target)?;
    if target.transport == SyslogTransport::Udp {
        let local: SocketAddr = if addr.is_ipv4() {
            ([0, 0, 0, 0], 0).into()
        } else {
            ([0u16; 8], 0).into()
        };
        let socket = UdpSocket::bind(local)?;
        socket.connect(addr)?;
        return Ok(Conn::Udp(socket));
    }
    let tcp = TcpStream::connect_timeout(&addr, IO_TIMEOUT)?;
    tcp.set_write_timeout(Some(IO_TIMEOUT))?;
    tcp.set_read_timeout(Some(IO_TIMEOUT))?;
    tcp.set_nodelay(true)?;
    if target.transport == SyslogTransport::Tcp {
        return Ok(Conn::Tcp(tcp));
    }
    let config = crate::tls::client_config(&target.ca)?;
    let name = crate::tls::server_name(&target.host)?;
    let conn = rustls::ClientConnection::new(config, name).map_err(io::Error::other)?;
    let mut stream = rustls::StreamOwned::new(conn, tcp);
    while stream.conn.is_handshaking() {
        stream.conn.complete_io(&mut stream.sock)?;
    }
    // Make sure the collector is still there after the handshake.
    let _ = stream.sock.read(&mut []);
    Ok(Conn::Tls(Box::new(stream)))
}

fn note(shared: &Shared, severity: u8, message: String) {
    shared.lock().notices.push((severity, message));
}

/// The sink's thread: connect, send, reconnect, until closed.
fn run(target: &Target, shared: &Shared) {
    let url = target.url();
    let mut delay = BACKOFF_FLOOR;
    let mut conn: Option<Conn> = None;
    let mut said_down = false;
    loop {
        if conn.as_mut().is_some_and(|c| !c.still_open()) {
            conn = None;
            note(shared, 4, format!("{url}: collector closed the connection"));
        }
        if conn.is_none() {
            match connect(target) {
                Ok(c) => {
                    conn = Some(c);
                    delay = BACKOFF_FLOOR;
                    if said_down || target.transport != SyslogTransport::Udp {
                        note(shared, 6, format!("{url}: connected"));
                    }
                    said_down = false;
                }
                Err(err) => {
                    if !said_down {
                        note(shared, 4, format!("{url}: cannot connect: {err}; retrying"));
                        said_down = true;
                    }
                    let queue = shared.lock();
                    if queue.closing {
                        return;
                    }
                    let _ = shared.wake.wait_timeout(queue, delay);
                    delay = (delay * 2).min(BACKOFF_CAP);
                    continue;
                }
            }
        }
        let chunk: Vec<String> = {
            let mut queue = shared.lock();
            while queue.messages.is_empty() && !queue.closing {
                queue = shared
                    .wake
                    .wait_timeout(queue, Duration::from_secs(1))
                    .map(|(q, _)| q)
                    .unwrap_or_else(|e| e.into_inner().0);
                if queue.messages.is_empty() {
                    // Idle: notice a collector that went away.
                    break;
                }
            }
            if queue.messages.is_empty() {
                if queue.closing {
                    return;
                }
                continue;
            }
            let n = queue.messages.len().min(CHUNK);
            let chunk = queue.messages.drain(..n).collect();
            if queue.messages.is_empty() {
                // Caught up: the next drop is news, worth a report soon.
                queue.report_every = REPORT_FLOOR;
                let soon = Instant::now() + REPORT_FLOOR;
                queue.next_report = queue.next_report.map(|at| at.min(soon));
            }
            chunk
        };
        let Some(c) = conn.as_mut() else { continue };
        if let Err(err) = c.send(&chunk) {
            conn = None;
            note(
                shared,
                4,
                format!("{url}: send failed: {err}; reconnecting"),
            );
            let mut queue = shared.lock();
            for message in chunk.into_iter().rev() {
                if queue.messages.len() >= QUEUE_MAX {
                    queue.dropped += 1;
                } else {
                    queue.messages.push_front(message);
                }
            }
        }
    }
}

#[cfg(test)]
#[path = "remote_tests.rs"]
mod tests;
