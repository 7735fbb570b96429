//! A syslog collector on the host for the logging tests: accepts TCP or TLS
//! connections (one after another) and keeps every octet-counted message
//! (RFC 5425 framing) it receives; or, stalled, accepts connections and
//! never reads them. The guest reaches it at 10.0.2.2.

use std::io::{ErrorKind, Read};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use cairn_logging::syslog::deframe;

/// What the collector does with a connection.
#[derive(Debug, Clone)]
pub enum Mode {
    /// Reads messages over plain TCP.
    Tcp,
    /// Reads messages over TLS with this server configuration.
    Tls(Arc<rustls::ServerConfig>),
    /// Accepts connections and holds them open without ever reading: a
    /// collector that hangs.
    Stalled,
}

/// A running collector; dropping it (or [`stop`](Collector::stop)) closes
/// its port and every connection, so it can be started again on the same
/// port.
#[derive(Debug)]
pub struct Collector {
    pub port: u16,
    mode: Mode,
    messages: Arc<Mutex<Vec<String>>>,
    accepted: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Collector {
    /// Listens for plain TCP on all addresses at `port` (0: any free port).
    pub fn start(port: u16) -> Collector {
        Collector::start_mode(port, Mode::Tcp)
    }

    /// Listens on all addresses at `port` (0: any free port), in `mode`.
    pub fn start_mode(port: u16, mode: Mode) -> Collector {
        Collector::start_with(port, mode, Arc::new(Mutex::new(Vec::new())))
    }

    /// Closes the port for `away`, then listens again on the same port in
    /// the same mode, keeping what was received so far.
    pub fn restart_after(self, away: Duration) -> Collector {
        let port = self.port;
        let mode = self.mode.clone();
        let messages = Arc::clone(&self.messages);
        self.stop();
        std::thread::sleep(away);
        Collector::start_with(port, mode, messages)
    }

    fn start_with(port: u16, mode: Mode, messages: Arc<Mutex<Vec<String>>>) -> Collector {
        let listener = TcpListener::bind(("0.0.0.0", port))
            .unwrap_or_else(|e| panic!("cannot listen on {port}: {e}"));
        listener
            .set_nonblocking(true)
            .unwrap_or_else(|e| panic!("{e}"));
        let port = listener.local_addr().map(|a| a.port()).unwrap_or(port);
        let stop = Arc::new(AtomicBool::new(false));
        let accepted = Arc::new(AtomicUsize::new(0));
        let thread = {
            let shared = Shared {
                mode: mode.clone(),
                messages: Arc::clone(&messages),
                accepted: Arc::clone(&accepted),
                stop: Arc::clone(&stop),
            };
            std::thread::spawn(move || serve(&listener, &shared))
        };
        Collector {
            port,
            mode,
            messages,
            accepted,
            stop,
            thread: Some(thread),
        }
    }

    /// Every message so far.
    pub fn messages(&self) -> Vec<String> {
        self.messages
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// How many connections this run of the collector accepted.
    pub fn accepted(&self) -> usize {
        self.accepted.load(Ordering::Relaxed)
    }

    /// Waits until a message ends with `needle`; panics after `limit`.
    pub fn wait_for(&self, needle: &str, limit: Duration) -> String {
        let deadline = Instant::now() + limit;
        loop {
            if let Some(found) = self.messages().into_iter().find(|m| m.ends_with(needle)) {
                return found;
            }
            assert!(
                Instant::now() < deadline,
                "the collector never got {needle:?}; it got {} messages",
                self.messages().len()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Closes the port and every connection.
    pub fn stop(mut self) {
        self.halt();
    }

    fn halt(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Drop for Collector {
    fn drop(&mut self) {
        self.halt();
    }
}

/// What the serving thread shares with the [`Collector`].
struct Shared {
    mode: Mode,
    messages: Arc<Mutex<Vec<String>>>,
    accepted: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
}

/// One accepted connection.
struct Conn {
    stream: TcpStream,
    tls: Option<rustls::ServerConnection>,
    /// Bytes of a message not complete yet.
    partial: Vec<u8>,
}

fn serve(listener: &TcpListener, shared: &Shared) {
    let mut conns: Vec<Conn> = Vec::new();
    while !shared.stop.load(Ordering::Relaxed) {
        if let Ok((stream, _)) = listener.accept() {
            shared.accepted.fetch_add(1, Ordering::Relaxed);
            let tls = match &shared.mode {
                Mode::Tls(config) => rustls::ServerConnection::new(Arc::clone(config)).ok(),
                _ => None,
            };
            if stream.set_nonblocking(true).is_ok() {
                conns.push(Conn {
                    stream,
                    tls,
                    partial: Vec::new(),
                });
            }
        }
        if !matches!(shared.mode, Mode::Stalled) {
            conns.retain_mut(|conn| {
                let mut plain = Vec::new();
                let open = match conn.tls.as_mut() {
                    Some(tls) => pump_tls(&mut conn.stream, tls, &mut plain),
                    None => pump_tcp(&mut conn.stream, &mut plain),
                };
                conn.partial.extend_from_slice(&plain);
                let (found, used) = deframe(&conn.partial);
                conn.partial.drain(..used);
                shared
                    .messages
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .extend(found);
                open
            });
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Reads what is there into `out`; false once the peer closed.
fn pump_tcp(stream: &mut TcpStream, out: &mut Vec<u8>) -> bool {
    let mut chunk = [0u8; 16 * 1024];
    loop {
        match stream.read(&mut chunk) {
            Ok(0) => return false,
            Ok(n) => out.extend_from_slice(&chunk[..n]),
            Err(e) if e.kind() == ErrorKind::WouldBlock => return true,
            Err(_) => return false,
        }
    }
}

/// Moves TLS records both ways (the handshake, session tickets) and reads
/// the plaintext that is there into `out`; false once the peer closed or
/// the session failed.
fn pump_tls(stream: &mut TcpStream, tls: &mut rustls::ServerConnection, out: &mut Vec<u8>) -> bool {
    loop {
        while tls.wants_write() {
            match tls.write_tls(stream) {
                Ok(_) => {}
                Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                Err(_) => return false,
            }
        }
        match tls.read_tls(stream) {
            Ok(0) => return false,
            Ok(_) => {
                if tls.process_new_packets().is_err() {
                    // Tell the client why (an alert), then give up.
                    let _ = tls.write_tls(stream);
                    return false;
                }
                match tls.reader().read_to_end(out) {
                    // Ok means the peer sent close_notify.
                    Ok(_) => return false,
                    Err(e) if e.kind() == ErrorKind::WouldBlock => {}
                    Err(_) => return false,
                }
            }
            Err(e) if e.kind() == ErrorKind::WouldBlock => return true,
            Err(_) => return false,
        }
    }
}
