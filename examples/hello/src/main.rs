//! Cairn's demo app: a tiny HTTP/1.1 server.
//!
//! It binds the port Cairn granted it (`PORT_HTTP`, 8080 when run by hand),
//! answers `GET /` with who it is (`CAIRN_APP`, `CAIRN_INSTANCE`) and
//! `GET /healthz` with `ok`, and exits cleanly on SIGTERM, which is how Cairn
//! stops an app. It uses only the standard library (plus signal-hook) so the
//! static binary stays small.

use std::io::{self, BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::thread;
use std::time::Duration;

use signal_hook::consts::SIGTERM;
use signal_hook::iterator::Signals;

/// The port used when `PORT_HTTP` is absent or not a port number.
const DEFAULT_PORT: u16 = 8080;
/// A client that sends nothing for this long is dropped, so a stuck client
/// never holds a thread forever.
const READ_TIMEOUT: Duration = Duration::from_secs(5);
/// Requests with a head larger than this are refused.
const MAX_HEAD: usize = 8 * 1024;

fn main() {
    if let Err(err) = run() {
        eprintln!("hello: {err}");
        std::process::exit(1);
    }
}

fn run() -> io::Result<()> {
    let port = port_from(std::env::var("PORT_HTTP").ok().as_deref());
    let greeting = greeting(
        std::env::var("CAIRN_APP").ok().as_deref(),
        std::env::var("CAIRN_INSTANCE").ok().as_deref(),
    );
    exit_on_sigterm()?;

    let listener = TcpListener::bind(("0.0.0.0", port))?;
    println!(
        "hello: listening on 0.0.0.0:{}",
        listener.local_addr()?.port()
    );
    io::stdout().flush()?;

    for stream in listener.incoming() {
        match stream {
            Ok(stream) => {
                let greeting = greeting.clone();
                thread::spawn(move || {
                    if let Err(err) = serve(stream, &greeting) {
                        eprintln!("hello: connection: {err}");
                    }
                });
            }
            Err(err) => eprintln!("hello: accept: {err}"),
        }
    }
    Ok(())
}

/// The port to bind: `PORT_HTTP` when it is a port number, else 8080.
fn port_from(value: Option<&str>) -> u16 {
    value
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(DEFAULT_PORT)
}

/// The body of `GET /`.
fn greeting(app: Option<&str>, instance: Option<&str>) -> String {
    format!(
        "hello from {} instance {}\n",
        app.unwrap_or("hello"),
        instance.unwrap_or("0")
    )
}

/// A thread that waits for SIGTERM, says so and exits 0: the graceful stop
/// Cairn asks for before it would send SIGKILL.
fn exit_on_sigterm() -> io::Result<()> {
    let mut signals = Signals::new([SIGTERM])?;
    thread::spawn(move || {
        if signals.forever().next().is_some() {
            println!("hello: got SIGTERM, exiting");
            let _ = io::stdout().flush();
            std::process::exit(0);
        }
    });
    Ok(())
}

/// Reads one request head and writes one response, then closes.
fn serve(stream: TcpStream, greeting: &str) -> io::Result<()> {
    stream.set_read_timeout(Some(READ_TIMEOUT))?;
    stream.set_write_timeout(Some(READ_TIMEOUT))?;
    let mut reader = BufReader::new(&stream);
    let mut request_line = String::new();
    reader.read_line(&mut request_line)?;
    // Drain the headers up to the blank line; the body (if any) is ignored.
    let mut head_len = request_line.len();
    loop {
        let mut line = String::new();
        let n = reader.read_line(&mut line)?;
        head_len += n;
        if n == 0 || line == "\r\n" || line == "\n" || head_len > MAX_HEAD {
            break;
        }
    }
    let (status, body) = route(&request_line, greeting);
    let mut stream = &stream;
    write!(
        stream,
        "HTTP/1.1 {status}\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    )?;
    // A HEAD request gets the same head without the body.
    if !request_line.starts_with("HEAD ") {
        stream.write_all(body.as_bytes())?;
    }
    stream.flush()
}

/// The status line and body for a request line such as `GET / HTTP/1.1`.
fn route(request_line: &str, greeting: &str) -> (&'static str, String) {
    let mut parts = request_line.split_whitespace();
    let (Some(method), Some(path)) = (parts.next(), parts.next()) else {
        return ("400 Bad Request", "bad request\n".to_owned());
    };
    if method != "GET" && method != "HEAD" {
        return ("405 Method Not Allowed", "method not allowed\n".to_owned());
    }
    // The query string does not change the answer.
    let path = path.split('?').next().unwrap_or(path);
    match path {
        "/" => ("200 OK", greeting.to_owned()),
        "/healthz" => ("200 OK", "ok\n".to_owned()),
        _ => ("404 Not Found", "not found\n".to_owned()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn port_comes_from_env_or_defaults() {
        assert_eq!(port_from(Some("9090")), 9090);
        assert_eq!(port_from(None), 8080);
        assert_eq!(port_from(Some("http")), 8080);
        assert_eq!(port_from(Some("70000")), 8080);
    }

    #[test]
    fn greeting_names_app_and_instance() {
        assert_eq!(
            greeting(Some("web"), Some("2")),
            "hello from web instance 2\n"
        );
        assert_eq!(greeting(None, None), "hello from hello instance 0\n");
    }

    #[test]
    fn routes() {
        let g = "hi\n";
        assert_eq!(route("GET / HTTP/1.1\r\n", g), ("200 OK", "hi\n".into()));
        assert_eq!(
            route("GET /healthz?x=1 HTTP/1.1\r\n", g),
            ("200 OK", "ok\n".into())
        );
        assert_eq!(route("GET /nope HTTP/1.1\r\n", g).0, "404 Not Found");
        assert_eq!(route("POST / HTTP/1.1\r\n", g).0, "405 Method Not Allowed");
        assert_eq!(route("\r\n", g).0, "400 Bad Request");
    }
}
