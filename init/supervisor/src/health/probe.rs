//! The network probes: an HTTP GET and a TCP connect on 127.0.0.1.
//!
//! The HTTP probe is a hand-written HTTP/1.0 request (the server closes the
//! connection after its answer) over a std `TcpStream`; the whole probe,
//! connect and answer, is bounded by the check's `timeout`. 2xx and 3xx
//! pass; anything else, a refused or timed-out connection, or an answer that
//! is not HTTP fails, and the error says which.

use std::io::{self, Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use super::Outcome;

/// How much of an answer is read at most; the status line is all that counts.
const MAX_ANSWER: usize = 64 * 1024;

/// One network check of one instance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Probe {
    /// `GET path` on this port must answer 2xx or 3xx.
    Http { port: u16, path: String },
    /// A connection to this port (named `name` in the manifest) must succeed.
    Tcp { port: u16, name: String },
}

impl Probe {
    /// Runs the probe, bounded by `timeout`.
    pub fn run(&self, timeout: Duration) -> Outcome {
        match self {
            Probe::Http { port, path } => {
                http_get(*port, path, timeout).map_err(|e| format!("GET {path}: {e}"))
            }
            Probe::Tcp { port, name } => connect(*port, timeout)
                .map(|_| format!("tcp {name} ({port}) accepts"))
                .map_err(|e| format!("tcp {name} ({port}): {}", describe(&e))),
        }
    }
}

fn connect(port: u16, timeout: Duration) -> io::Result<TcpStream> {
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    TcpStream::connect_timeout(&addr, timeout.max(Duration::from_millis(1)))
}

/// An I/O error in the words of a health line.
fn describe(err: &io::Error) -> String {
    match err.kind() {
        io::ErrorKind::ConnectionRefused => "connection refused".to_string(),
        io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock => "timed out".to_string(),
        io::ErrorKind::ConnectionReset => "connection reset".to_string(),
        _ => {
            // std's text carries "(os error N)", which says nothing more here.
            let text = err.to_string();
            match text.find(" (os error") {
                Some(cut) => text[..cut].to_lowercase(),
                None => text.to_lowercase(),
            }
        }
    }
}

/// The time left before `deadline`, never zero (a zero timeout means
/// "forever" to std's socket options).
fn left(deadline: Instant) -> Option<Duration> {
    let rest = deadline.saturating_duration_since(Instant::now());
    (!rest.is_zero()).then_some(rest)
}

fn http_get(port: u16, path: &str, timeout: Duration) -> Result<String, String> {
    let deadline = Instant::now() + timeout;
    let mut stream = connect(port, timeout).map_err(|e| describe(&e))?;
    let timed_out = || "timed out".to_string();
    stream
        .set_write_timeout(Some(left(deadline).ok_or_else(timed_out)?))
        .map_err(|e| describe(&e))?;
    let request = format!(
        "GET {path} HTTP/1.0\r\nHost: 127.0.0.1:{port}\r\nUser-Agent: cairn-health\r\n\r\n"
    );
    stream
        .write_all(request.as_bytes())
        .map_err(|e| describe(&e))?;
    let mut answer = Vec::new();
    let mut buf = [0u8; 4096];
    while answer.len() < MAX_ANSWER {
        stream
            .set_read_timeout(Some(left(deadline).ok_or_else(timed_out)?))
            .map_err(|e| describe(&e))?;
        match stream.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => answer.extend_from_slice(buf.get(..n).unwrap_or_default()),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            // A server that answered and then reset the connection still
            // answered.
            Err(_) if answer.contains(&b'\n') => break,
            Err(e) => return Err(describe(&e)),
        }
    }
    let status = parse_status(&answer)?;
    if (200..400).contains(&status) {
        Ok(format!("GET {path}: {status}"))
    } else {
        Err(format!("status {status}"))
    }
}

/// The status code of an HTTP answer (`HTTP/1.x NNN reason`).
pub fn parse_status(answer: &[u8]) -> Result<u16, String> {
    if answer.is_empty() {
        return Err("empty answer".to_string());
    }
    let first_line = answer.split(|&b| b == b'\n').next().unwrap_or_default();
    let line = String::from_utf8_lossy(first_line);
    let mut words = line.split_whitespace();
    let version = words.next().unwrap_or_default();
    let code = words.next().unwrap_or_default();
    if !version.starts_with("HTTP/") || code.len() != 3 || !code.bytes().all(|b| b.is_ascii_digit())
    {
        let shown: String = line.trim_end().chars().take(40).collect();
        return Err(format!("not an http answer: {shown:?}"));
    }
    code.parse().map_err(|_| format!("bad status {code:?}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpListener;

    #[test]
    fn reads_the_status_code() {
        assert_eq!(parse_status(b"HTTP/1.1 200 OK\r\nA: b\r\n\r\nok"), Ok(200));
        assert_eq!(parse_status(b"HTTP/1.0 302 Found\r\n"), Ok(302));
        assert_eq!(parse_status(b"HTTP/1.1 503"), Ok(503));
        assert_eq!(parse_status(b""), Err("empty answer".into()));
        assert_eq!(
            parse_status(b"SSH-2.0-OpenSSH_9.2\r\n"),
            Err("not an http answer: \"SSH-2.0-OpenSSH_9.2\"".into())
        );
        assert!(parse_status(b"HTTP/1.1 20 OK\r\n").is_err());
        assert!(parse_status(b"HTTP/1.1 2x0 OK\r\n").is_err());
    }

    /// Serves one connection with `answer`, after reading the request head.
    fn serve_once(answer: &'static [u8]) -> (u16, std::thread::JoinHandle<String>) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let handle = std::thread::spawn(move || {
            let (mut stream, _) = listener.accept().unwrap();
            let mut request = Vec::new();
            let mut buf = [0u8; 512];
            while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                let n = stream.read(&mut buf).unwrap();
                assert!(n > 0);
                request.extend_from_slice(&buf[..n]);
            }
            stream.write_all(answer).unwrap();
            String::from_utf8(request).unwrap()
        });
        (port, handle)
    }

    #[test]
    fn http_passes_on_2xx_and_3xx_and_fails_otherwise() {
        let (port, server) = serve_once(b"HTTP/1.1 204 No Content\r\n\r\n");
        let probe = Probe::Http {
            port,
            path: "/healthz".into(),
        };
        assert_eq!(
            probe.run(Duration::from_secs(5)),
            Ok("GET /healthz: 204".into())
        );
        let request = server.join().unwrap();
        assert!(
            request.starts_with("GET /healthz HTTP/1.0\r\n"),
            "{request}"
        );
        assert!(request.contains(&format!("Host: 127.0.0.1:{port}\r\n")));

        let (port, server) = serve_once(b"HTTP/1.1 500 Internal Server Error\r\n\r\nboom");
        let probe = Probe::Http {
            port,
            path: "/healthz".into(),
        };
        assert_eq!(
            probe.run(Duration::from_secs(5)),
            Err("GET /healthz: status 500".into())
        );
        server.join().unwrap();
    }

    #[test]
    fn refused_and_silent_servers_fail_in_time() {
        // A port that was free a moment ago: nobody listens.
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let http = Probe::Http {
            port,
            path: "/".into(),
        };
        assert_eq!(
            http.run(Duration::from_secs(1)),
            Err("GET /: connection refused".into())
        );
        let tcp = Probe::Tcp {
            port,
            name: "db".into(),
        };
        assert_eq!(
            tcp.run(Duration::from_secs(1)),
            Err(format!("tcp db ({port}): connection refused"))
        );

        // Accepts (the kernel does, from the backlog) but never answers.
        let silent = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = silent.local_addr().unwrap().port();
        let began = Instant::now();
        let http = Probe::Http {
            port,
            path: "/".into(),
        };
        assert_eq!(
            http.run(Duration::from_millis(300)),
            Err("GET /: timed out".into())
        );
        let took = began.elapsed();
        assert!(took >= Duration::from_millis(250), "{took:?}");
        assert!(took < Duration::from_secs(2), "{took:?}");
        let tcp = Probe::Tcp {
            port,
            name: "http".into(),
        };
        assert_eq!(
            tcp.run(Duration::from_secs(1)),
            Ok(format!("tcp http ({port}) accepts"))
        );
    }
}
