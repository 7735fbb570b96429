//! One HTTP/1.1 exchange over mutual TLS, blocking: connect, handshake,
//! send the request (a body is streamed from its reader in large chunks,
//! never held whole), read the response head, hand back the body as a
//! reader (by `Content-Length`, chunked, or up to the close).
//!
//! One request per connection (`Connection: close`): the client's calls
//! are few and far between, and a poll that reconnects each time is also
//! the one that notices a device that rebooted.

use std::io::{self, BufRead, BufReader, Cursor, Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::Duration;

use rustls::pki_types::ServerName;

use super::identity::Identity;
use super::target::Target;
use super::RemoteError;

const CHUNK: usize = 256 * 1024;
const MAX_HEAD: usize = 64 * 1024;

/// A request body.
pub enum Body<'a> {
    Empty,
    Bytes {
        bytes: &'a [u8],
        content_type: &'static str,
    },
    /// `len` bytes read from `reader`, `progress` told the total sent so far.
    Stream {
        len: u64,
        reader: &'a mut dyn Read,
        content_type: &'static str,
        progress: &'a mut dyn FnMut(u64),
    },
}

impl std::fmt::Debug for Body<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Body::Empty => f.write_str("Empty"),
            Body::Bytes { bytes, .. } => write!(f, "Bytes({})", bytes.len()),
            Body::Stream { len, .. } => write!(f, "Stream({len})"),
        }
    }
}

/// How long to wait.
#[derive(Debug, Clone, Copy)]
pub struct Timeouts {
    pub connect: Duration,
    /// Between reads (and writes); `None` waits for ever (`logs -f`).
    pub io: Option<Duration>,
}

/// A response: its status and its body, still to be read.
pub struct Response {
    pub status: u16,
    pub content_type: Option<String>,
    body: Box<dyn Read>,
}

impl std::fmt::Debug for Response {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Response")
            .field("status", &self.status)
            .finish_non_exhaustive()
    }
}

impl Response {
    pub fn body(&mut self) -> &mut dyn Read {
        &mut self.body
    }

    /// The whole body as text (responses other than logs are small).
    pub fn text(mut self) -> Result<String, RemoteError> {
        let mut text = String::new();
        self.body
            .read_to_string(&mut text)
            .map_err(|e| RemoteError::Protocol(format!("reading the response body: {e}")))?;
        Ok(text)
    }
}

type Tls = rustls::StreamOwned<rustls::ClientConnection, TcpStream>;

/// Sends `method path` with `body` to `target` and reads the response head.
pub fn exchange(
    target: &Target,
    identity: &Identity,
    method: &str,
    path: &str,
    body: Body<'_>,
    timeouts: Timeouts,
) -> Result<Response, RemoteError> {
    let mut stream = connect(target, identity, timeouts)?;
    let (len, content_type) = match &body {
        Body::Empty => (0, None),
        Body::Bytes {
            bytes,
            content_type,
        } => (bytes.len() as u64, Some(*content_type)),
        Body::Stream {
            len, content_type, ..
        } => (*len, Some(*content_type)),
    };
    let mut head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {}\r\nUser-Agent: cairn/{}\r\nAccept: */*\r\nConnection: close\r\n",
        target.authority(),
        env!("CARGO_PKG_VERSION")
    );
    if method != "GET" {
        head.push_str(&format!("Content-Length: {len}\r\n"));
    }
    if let Some(content_type) = content_type {
        head.push_str(&format!("Content-Type: {content_type}\r\n"));
    }
    head.push_str("\r\n");
    // The handshake happens on this first write: a device whose
    // certificate is not the project's fails here.
    stream
        .write_all(head.as_bytes())
        .map_err(|e| classify(e, target))?;
    let sent = match body {
        Body::Empty => Ok(()),
        Body::Bytes { bytes, .. } => stream.write_all(bytes),
        Body::Stream {
            len,
            reader,
            progress,
            ..
        } => send_stream(&mut stream, reader, len, progress),
    }
    .and_then(|()| stream.flush());
    match sent {
        Ok(()) => read_response(stream, target),
        Err(error) => {
            // A device that refuses a body stops reading it, answers and
            // closes: its answer says why, better than a broken pipe.
            if is_tls(&error) {
                return Err(classify(error, target));
            }
            read_response_after_write_error(stream, target).map_err(|_| classify(error, target))
        }
    }
}

fn connect(target: &Target, identity: &Identity, timeouts: Timeouts) -> Result<Tls, RemoteError> {
    let unreachable = |detail: String| RemoteError::Connect {
        target: target.authority(),
        detail,
    };
    let addrs: Vec<_> = (target.host.as_str(), target.port)
        .to_socket_addrs()
        .map_err(|e| unreachable(format!("cannot resolve {}: {e}", target.host)))?
        .collect();
    let mut last = None;
    let mut tcp = None;
    for addr in &addrs {
        match TcpStream::connect_timeout(addr, timeouts.connect) {
            Ok(stream) => {
                tcp = Some(stream);
                break;
            }
            Err(e) => last = Some(e),
        }
    }
    let tcp = tcp.ok_or_else(|| {
        unreachable(last.map_or_else(|| "no address".to_owned(), |e| e.to_string()))
    })?;
    let _ = tcp.set_nodelay(true);
    tcp.set_read_timeout(timeouts.io)
        .and_then(|()| tcp.set_write_timeout(timeouts.io))
        .map_err(|e| unreachable(e.to_string()))?;
    let name = ServerName::try_from(target.tls_name.clone()).map_err(|_| RemoteError::Tls {
        target: target.authority(),
        name: target.tls_name.clone(),
        detail: "not a DNS name".into(),
    })?;
    let conn = rustls::ClientConnection::new(identity.config.clone(), name).map_err(|e| {
        RemoteError::Tls {
            target: target.authority(),
            name: target.tls_name.clone(),
            detail: e.to_string(),
        }
    })?;
    Ok(rustls::StreamOwned::new(conn, tcp))
}

fn send_stream(
    stream: &mut Tls,
    reader: &mut dyn Read,
    len: u64,
    progress: &mut dyn FnMut(u64),
) -> io::Result<()> {
    let mut buffer = vec![0u8; CHUNK];
    let mut sent = 0u64;
    while sent < len {
        let want = usize::try_from(len - sent).map_or(CHUNK, |left| left.min(CHUNK));
        let n = match reader.read(&mut buffer[..want]) {
            Ok(0) => {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    format!("the file ended after {sent} of {len} bytes"),
                ))
            }
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        stream.write_all(&buffer[..n])?;
        sent += n as u64;
        progress(sent);
    }
    Ok(())
}

/// Reads what the device answered although our side can no longer write:
/// straight from the socket into the TLS connection, never flushing what
/// it still holds to send (which would fail again).
fn read_response_after_write_error(stream: Tls, target: &Target) -> Result<Response, RemoteError> {
    read_head(ReadOnly(stream), target)
}

struct ReadOnly(Tls);

impl Read for ReadOnly {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let Tls { conn, sock } = &mut self.0;
        loop {
            match conn.reader().read(buf) {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                other => return other,
            }
            if conn.read_tls(sock)? == 0 {
                return Ok(0);
            }
            conn.process_new_packets()
                .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
        }
    }
}

fn read_response(stream: Tls, target: &Target) -> Result<Response, RemoteError> {
    read_head(stream, target)
}

fn read_head<S: Read + 'static>(mut stream: S, target: &Target) -> Result<Response, RemoteError> {
    let mut buffer = Vec::with_capacity(8192);
    let mut chunk = [0u8; 8192];
    loop {
        let n = match stream.read(&mut chunk) {
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(classify(e, target)),
        };
        if n == 0 {
            return Err(RemoteError::Protocol(format!(
                "{} closed the connection before answering",
                target.authority()
            )));
        }
        buffer.extend_from_slice(&chunk[..n]);
        let mut headers = [httparse::EMPTY_HEADER; 64];
        let mut response = httparse::Response::new(&mut headers);
        match response.parse(&buffer) {
            Ok(httparse::Status::Complete(end)) => {
                let status = response.code.unwrap_or(0);
                let header = |name: &str| {
                    response
                        .headers
                        .iter()
                        .find(|h| h.name.eq_ignore_ascii_case(name))
                        .map(|h| String::from_utf8_lossy(h.value).trim().to_owned())
                };
                let content_type = header("content-type");
                let chunked = header("transfer-encoding")
                    .is_some_and(|v| v.to_ascii_lowercase().contains("chunked"));
                let length = header("content-length").and_then(|v| v.parse::<u64>().ok());
                let rest = buffer.split_off(end);
                let raw = Cursor::new(rest).chain(EofOk(stream));
                let body: Box<dyn Read> = if chunked {
                    Box::new(Chunked::new(BufReader::new(raw)))
                } else if let Some(length) = length {
                    Box::new(raw.take(length))
                } else {
                    Box::new(raw)
                };
                return Ok(Response {
                    status,
                    content_type,
                    body,
                });
            }
            Ok(httparse::Status::Partial) if buffer.len() < MAX_HEAD => {}
            Ok(httparse::Status::Partial) => {
                return Err(RemoteError::Protocol(
                    "the response head is too long".into(),
                ))
            }
            Err(e) => {
                return Err(RemoteError::Protocol(format!(
                    "{} did not answer in HTTP/1.1 ({e})",
                    target.authority()
                )))
            }
        }
    }
}

/// A peer that closes without TLS's close_notify ends the body all the
/// same: the framing (length or chunks) already says whether it was whole.
struct EofOk<S>(S);

impl<S: Read> Read for EofOk<S> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self.0.read(buf) {
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => Ok(0),
            other => other,
        }
    }
}

/// `Transfer-Encoding: chunked`.
struct Chunked<R> {
    inner: R,
    left: u64,
    done: bool,
}

impl<R: BufRead> Chunked<R> {
    fn new(inner: R) -> Chunked<R> {
        Chunked {
            inner,
            left: 0,
            done: false,
        }
    }

    fn line(&mut self) -> io::Result<String> {
        let mut line = String::new();
        self.inner.read_line(&mut line)?;
        if line.is_empty() {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "the response ended inside a chunk",
            ));
        }
        Ok(line.trim_end().to_owned())
    }
}

impl<R: BufRead> Read for Chunked<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.done || buf.is_empty() {
            return Ok(0);
        }
        if self.left == 0 {
            let line = self.line()?;
            let size = line.split(';').next().unwrap_or("").trim();
            self.left = u64::from_str_radix(size, 16).map_err(|_| {
                io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("bad chunk size {size:?}"),
                )
            })?;
            if self.left == 0 {
                // Trailers, up to the empty line.
                while !self.line()?.is_empty() {}
                self.done = true;
                return Ok(0);
            }
        }
        let want = usize::try_from(self.left).map_or(buf.len(), |l| l.min(buf.len()));
        let n = self.inner.read(&mut buf[..want])?;
        if n == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "the response ended inside a chunk",
            ));
        }
        self.left -= n as u64;
        if self.left == 0 {
            self.line()?;
        }
        Ok(n)
    }
}

fn is_tls(error: &io::Error) -> bool {
    error
        .get_ref()
        .is_some_and(|inner| inner.downcast_ref::<rustls::Error>().is_some())
}

/// A TLS failure (the device's certificate, or ours refused) or a lost
/// connection, said as such.
fn classify(error: io::Error, target: &Target) -> RemoteError {
    if let Some(tls) = error
        .get_ref()
        .and_then(|inner| inner.downcast_ref::<rustls::Error>())
    {
        return RemoteError::Tls {
            target: target.authority(),
            name: target.tls_name.clone(),
            detail: tls.to_string(),
        };
    }
    RemoteError::Connect {
        target: target.authority(),
        detail: error.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunked_bodies_are_joined() {
        let wire = b"5\r\nhello\r\n7;x=y\r\n, world\r\n0\r\nTrailer: 1\r\n\r\n";
        let mut text = String::new();
        Chunked::new(BufReader::new(&wire[..]))
            .read_to_string(&mut text)
            .unwrap();
        assert_eq!(text, "hello, world");
        let cut = b"5\r\nhel";
        let mut out = Vec::new();
        assert!(Chunked::new(BufReader::new(&cut[..]))
            .read_to_end(&mut out)
            .is_err());
    }
}
