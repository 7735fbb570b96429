//! Starts the real `hello` binary on a free port and talks HTTP to it.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

struct Server {
    child: Child,
    port: u16,
    stdout: BufReader<std::process::ChildStdout>,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn start() -> Server {
    let port = free_port();
    let mut child = Command::new(env!("CARGO_BIN_EXE_hello"))
        .env("PORT_HTTP", port.to_string())
        .env("CAIRN_APP", "web")
        .env("CAIRN_INSTANCE", "3")
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    stdout.read_line(&mut line).unwrap();
    assert_eq!(line, format!("hello: listening on 0.0.0.0:{port}\n"));
    Server {
        child,
        port,
        stdout,
    }
}

fn get(port: u16, path: &str) -> String {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    write!(stream, "GET {path} HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    response
}

#[test]
fn answers_root_healthz_and_404() {
    let server = start();
    let root = get(server.port, "/");
    assert!(root.starts_with("HTTP/1.1 200 OK\r\n"), "{root}");
    assert!(
        root.ends_with("\r\n\r\nhello from web instance 3\n"),
        "{root}"
    );
    let health = get(server.port, "/healthz");
    assert!(health.starts_with("HTTP/1.1 200 OK\r\n"), "{health}");
    assert!(health.ends_with("\r\n\r\nok\n"), "{health}");
    let missing = get(server.port, "/missing");
    assert!(missing.starts_with("HTTP/1.1 404 "), "{missing}");
}

#[test]
fn a_silent_client_does_not_block_others() {
    let server = start();
    let _silent = TcpStream::connect(("127.0.0.1", server.port)).unwrap();
    let health = get(server.port, "/healthz");
    assert!(health.ends_with("ok\n"), "{health}");
}

#[test]
fn sigterm_exits_zero_and_says_so() {
    let mut server = start();
    let pid = i32::try_from(server.child.id()).unwrap();
    // SAFETY: kill(2) with a valid pid of our own child and a valid signal.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGTERM) }, 0);
    let mut rest = String::new();
    server.stdout.read_to_string(&mut rest).unwrap();
    assert_eq!(rest, "hello: got SIGTERM, exiting\n");
    let status = server.child.wait().unwrap();
    assert_eq!(status.code(), Some(0));
}
