//! A syslog collector on the host for the logging tests: accepts TCP
//! connections (one after another) and keeps every octet-counted message
//! (RFC 5425 framing) it receives. The guest reaches it at 10.0.2.2.

use std::io::Read;
use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use cairn_init::logging::syslog::deframe;

/// A running collector; dropping it (or [`stop`](Collector::stop)) closes
/// its port, so it can be started again on the same one.
#[derive(Debug)]
pub struct Collector {
    pub port: u16,
    messages: Arc<Mutex<Vec<String>>>,
    stop: Arc<std::sync::atomic::AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Collector {
    /// Listens on all addresses at `port` (0: any free port).
    pub fn start(port: u16) -> Collector {
        Collector::start_with(port, Arc::new(Mutex::new(Vec::new())))
    }

    /// Closes the port for `away`, then listens again on the same port,
    /// keeping what was received so far.
    pub fn restart_after(self, away: Duration) -> Collector {
        let port = self.port;
        let messages = Arc::clone(&self.messages);
        self.stop();
        std::thread::sleep(away);
        Collector::start_with(port, messages)
    }

    fn start_with(port: u16, messages: Arc<Mutex<Vec<String>>>) -> Collector {
        let listener = TcpListener::bind(("0.0.0.0", port))
            .unwrap_or_else(|e| panic!("cannot listen on {port}: {e}"));
        listener
            .set_nonblocking(true)
            .unwrap_or_else(|e| panic!("{e}"));
        let port = listener.local_addr().map(|a| a.port()).unwrap_or(port);
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let thread = {
            let messages = Arc::clone(&messages);
            let stop = Arc::clone(&stop);
            std::thread::spawn(move || serve(&listener, &messages, &stop))
        };
        Collector {
            port,
            messages,
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
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
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

fn serve(
    listener: &TcpListener,
    messages: &Mutex<Vec<String>>,
    stop: &std::sync::atomic::AtomicBool,
) {
    let mut conns: Vec<(std::net::TcpStream, Vec<u8>)> = Vec::new();
    while !stop.load(std::sync::atomic::Ordering::Relaxed) {
        if let Ok((stream, _)) = listener.accept() {
            if stream.set_nonblocking(true).is_ok() {
                conns.push((stream, Vec::new()));
            }
        }
        let mut chunk = [0u8; 16 * 1024];
        conns.retain_mut(|(stream, buf)| loop {
            match stream.read(&mut chunk) {
                Ok(0) => return false,
                Ok(n) => {
                    buf.extend_from_slice(&chunk[..n]);
                    let (found, used) = deframe(buf);
                    buf.drain(..used);
                    messages
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .extend(found);
                }
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return true,
                Err(_) => return false,
            }
        });
        std::thread::sleep(Duration::from_millis(20));
    }
}
