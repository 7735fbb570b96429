//! A minimal HTTP/1.1 GET for talking to apps through forwarded ports.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

/// A response: status code and body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    pub status: u16,
    pub body: String,
}

/// `GET path` on 127.0.0.1:`port`, with the connection closed after the answer.
pub fn get(port: u16, path: &str) -> std::io::Result<Response> {
    let timeout = Duration::from_secs(10);
    let addr = std::net::SocketAddr::from(([127, 0, 0, 1], port));
    let mut stream = TcpStream::connect_timeout(&addr, timeout)?;
    stream.set_read_timeout(Some(timeout))?;
    stream.set_write_timeout(Some(timeout))?;
    // One write: a request split over several segments is harder on servers.
    let request =
        format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes())?;
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw)?;
    parse(&String::from_utf8_lossy(&raw))
}

/// Retries [`get`] until it answers or `timeout` passes: a forwarded port
/// accepts before the guest's app does, and the first tries may be reset.
pub fn get_until(port: u16, path: &str, timeout: Duration) -> std::io::Result<Response> {
    let deadline = Instant::now() + timeout;
    loop {
        match get(port, path) {
            Ok(response) => return Ok(response),
            Err(err) if Instant::now() >= deadline => return Err(err),
            Err(_) => std::thread::sleep(Duration::from_millis(500)),
        }
    }
}

fn parse(raw: &str) -> std::io::Result<Response> {
    let bad = || {
        std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("bad response {raw:?}"),
        )
    };
    let (head, body) = raw.split_once("\r\n\r\n").ok_or_else(bad)?;
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(bad)?;
    Ok(Response {
        status,
        body: body.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_status_and_body() {
        let r = parse("HTTP/1.1 404 Not Found\r\nA: b\r\n\r\nnope\n").unwrap();
        assert_eq!(
            r,
            Response {
                status: 404,
                body: "nope\n".into()
            }
        );
        assert!(parse("").is_err());
        assert!(parse("garbage\r\n\r\n").is_err());
    }

    #[test]
    fn talks_to_a_local_server() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let server = std::thread::spawn(move || {
            let (mut stream, _) = listener.accept().unwrap();
            // Read the whole request head before answering: closing a socket
            // with unread bytes resets the connection under the client.
            let mut request = Vec::new();
            let mut buf = [0u8; 1024];
            while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                let n = stream.read(&mut buf).unwrap();
                assert!(n > 0, "client closed before the end of its request");
                request.extend_from_slice(&buf[..n]);
            }
            stream
                .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nhi\n")
                .unwrap();
            stream.shutdown(std::net::Shutdown::Write).unwrap();
            // Drain until the client closes, so nothing unread remains.
            while stream.read(&mut buf).is_ok_and(|n| n > 0) {}
            String::from_utf8_lossy(&request).to_string()
        });
        let response = get(port, "/x").unwrap();
        assert_eq!(
            response,
            Response {
                status: 200,
                body: "hi\n".into()
            }
        );
        assert!(server.join().unwrap().starts_with("GET /x HTTP/1.1\r\n"));
    }
}
