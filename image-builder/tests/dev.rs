//! `cairn dev` runs examples/hello on this machine as an ordinary user:
//! two instances from `--set`, a second app added and ordered after it from
//! the command line, every port shifted by `--offset`; Ctrl-C stops them in
//! reverse order and exits 0. An `@reboot` job added with `--set` runs once,
//! and its run is in its history. A bad `--set` is refused with exit code 2.
//!
//! As root (a CI machine) the run drops to uid and gid 65534 first. Where
//! an ordinary user may not create user namespaces, the test says so and
//! passes.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{self, Receiver};
use std::time::{Duration, Instant};

/// The uid and gid a root test run drops to.
const NOBODY: u32 = 65534;
/// Far from the ports other tests forward.
const OFFSET: u16 = 31000;

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .canonicalize()
        .unwrap()
}

fn cairn() -> Command {
    Command::new(env!("CARGO_BIN_EXE_cairn"))
}

/// The release build of examples/hello, built (or brought up to date) first.
fn hello_binary() -> PathBuf {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let status = Command::new(cargo)
        .current_dir(workspace())
        .args(["build", "--release", "-p", "hello"])
        .status()
        .unwrap();
    assert!(status.success(), "cargo build --release -p hello failed");
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace().join("target"));
    target.join("x86_64-unknown-linux-gnu/release/hello")
}

/// A directory the run may write: owned by the user it runs as.
fn dev_dir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    if nix::unistd::geteuid().is_root() {
        std::os::unix::fs::chown(dir.path(), Some(NOBODY), Some(NOBODY)).unwrap();
    }
    dir
}

/// As an ordinary user: as we are, or as nobody when we are root (std
/// drops the supplementary groups when root changes the uid).
fn unprivileged(command: &mut Command) -> &mut Command {
    if nix::unistd::geteuid().is_root() {
        command.uid(NOBODY).gid(NOBODY);
    }
    command
}

/// A running `cairn dev`; stopped (and killed if need be) when dropped.
struct Dev {
    child: Child,
    lines: Receiver<String>,
    seen: Vec<String>,
}

impl Dev {
    /// Waits until a line satisfies `pred`; None after `limit` or at EOF.
    fn wait_for(&mut self, limit: Duration, pred: impl Fn(&str) -> bool) -> Option<String> {
        let end = Instant::now() + limit;
        loop {
            let left = end.saturating_duration_since(Instant::now());
            let line = self.lines.recv_timeout(left).ok()?;
            self.seen.push(line.clone());
            if pred(&line) {
                return Some(line);
            }
        }
    }

    fn interrupt(&self) {
        let pid = nix::unistd::Pid::from_raw(i32::try_from(self.child.id()).unwrap());
        nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGINT).unwrap();
    }

    /// Waits for the exit within `limit`; its code.
    fn wait_exit(&mut self, limit: Duration) -> Option<i32> {
        let end = Instant::now() + limit;
        while Instant::now() < end {
            if let Some(status) = self.child.try_wait().unwrap() {
                // Everything it printed, now that the pipe is closed.
                while let Ok(line) = self.lines.recv_timeout(Duration::from_secs(2)) {
                    self.seen.push(line);
                }
                return status.code();
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        None
    }

    fn transcript(&self) -> String {
        self.seen.join("\n")
    }
}

impl Drop for Dev {
    fn drop(&mut self) {
        if self.child.try_wait().ok().flatten().is_none() {
            self.interrupt();
            if self.wait_exit(Duration::from_secs(15)).is_none() {
                let _ = self.child.kill();
                let _ = self.child.wait();
            }
        }
    }
}

fn start(args: &[&str]) -> (Dev, std::thread::JoinHandle<String>) {
    let mut command = cairn();
    command
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = unprivileged(&mut command).spawn().unwrap();
    let stdout = child.stdout.take().unwrap();
    let mut stderr = child.stderr.take().unwrap();
    let (send, lines) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if send.send(line).is_err() {
                break;
            }
        }
    });
    let errors = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = stderr.read_to_string(&mut text);
        text
    });
    let dev = Dev {
        child,
        lines,
        seen: Vec::new(),
    };
    (dev, errors)
}

/// `GET /` on 127.0.0.1:`port`: the response body.
fn get(port: u16) -> String {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    stream
        .write_all(b"GET / HTTP/1.0\r\nHost: localhost\r\n\r\n")
        .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    let (head, body) = response.split_once("\r\n\r\n").unwrap_or((&response, ""));
    assert!(head.starts_with("HTTP/1."), "{response}");
    body.to_string()
}

fn position(lines: &[String], wanted: &str) -> usize {
    lines
        .iter()
        .position(|l| l == wanted)
        .unwrap_or_else(|| panic!("no line `{wanted}` in:\n{}", lines.join("\n")))
}

#[test]
fn runs_examples_hello_with_set_and_offset_and_stops_in_order_on_ctrl_c() {
    let hello = hello_binary();
    let manifest = workspace().join("examples/hello/system.toml");
    let dir = dev_dir();
    let dev_path = dir.path().join("dev");
    let bundle = format!("apps.late.bundle={}", hello.display());
    let offset = OFFSET.to_string();
    let (mut dev, errors) = start(&[
        "dev",
        manifest.to_str().unwrap(),
        "--set",
        "apps.hello.instances=2",
        "--set",
        &bundle,
        "--set",
        "apps.late.exec=[\"/bin/hello\"]",
        "--set",
        "apps.late.ports.http=8090",
        "--set",
        "apps.late.after=[\"hello\"]",
        "--set",
        "jobs.greet.schedule=@reboot",
        "--set",
        "jobs.greet.bundle=/bin/echo",
        "--set",
        "jobs.greet.exec=[\"/bin/echo\", \"greetings from a job\"]",
        "--offset",
        &offset,
        "--dir",
        dev_path.to_str().unwrap(),
    ]);
    let late = format!("[late] hello: listening on 0.0.0.0:{}", 8090 + OFFSET);
    if dev
        .wait_for(Duration::from_secs(60), |l| l == late)
        .is_none()
    {
        let code = dev.wait_exit(Duration::from_secs(5));
        let errors = errors.join().unwrap();
        panic!(
            "late did not start (exit {code:?}):\n{}\n{errors}",
            dev.transcript()
        );
    }
    let lines = dev.seen.clone();
    // The ports: each declared port + the offset + the instance.
    for (instance, port) in [(0, 8080), (1, 8081)] {
        let wanted = format!("hello: listening on 0.0.0.0:{}", port + OFFSET);
        let label = if instance == 0 { "hello" } else { "hello.1" };
        assert!(
            lines.iter().any(|l| *l == format!("[{label}] {wanted}")),
            "{}",
            lines.join("\n")
        );
        assert_eq!(
            get(port + OFFSET),
            format!("hello from hello instance {instance}\n")
        );
    }
    assert_eq!(get(8090 + OFFSET), "hello from late instance 0\n");
    // A job runs too: `@reboot` once per `cairn dev`, in its own sandbox,
    // a dynamic program from this machine with its libraries collected.
    let job_done = |l: &str| l.starts_with("cairn: job greet exited (status 0)");
    if !dev.seen.iter().any(|l| job_done(l)) {
        dev.wait_for(Duration::from_secs(30), job_done)
            .unwrap_or_else(|| panic!("the job did not run:\n{}", dev.transcript()));
    }
    assert!(
        dev.seen.iter().any(|l| l == "[greet] greetings from a job"),
        "{}",
        dev.transcript()
    );
    // `after`: late starts once hello is ready.
    let hello_up = format!("[hello] hello: listening on 0.0.0.0:{}", 8080 + OFFSET);
    assert!(position(&lines, &hello_up) < position(&lines, &late));

    dev.interrupt();
    let code = dev.wait_exit(Duration::from_secs(60));
    let errors = errors.join().unwrap();
    let lines = dev.seen.clone();
    assert_eq!(code, Some(0), "{}\n{errors}", lines.join("\n"));
    // Reverse `after` order: late first, then both instances of hello.
    let late_stopped = position(&lines, "cairn: app late stopped (status 0)");
    let hello_term = position(&lines, "[hello] hello: got SIGTERM, exiting");
    let hello1_term = position(&lines, "[hello.1] hello: got SIGTERM, exiting");
    assert!(late_stopped < hello_term, "{}", lines.join("\n"));
    assert!(late_stopped < hello1_term, "{}", lines.join("\n"));
    assert!(position(&lines, "cairn: app hello stopped (status 0)") > late_stopped);
    assert!(position(&lines, "cairn: app hello.1 stopped (status 0)") > late_stopped);
    assert_eq!(
        lines.last().map(String::as_str),
        Some("cairn: dev: all apps stopped")
    );
    // The tree is the image's: the program at /bin/<its name>.
    assert!(dev_path.join("bank/apps/late/bin/hello").is_file());
    assert!(dev_path.join("bank/jobs/greet/bin/echo").is_file());
    // The job's run is in its history, kept for the next run.
    let history = std::fs::read_to_string(dev_path.join("data/jobs/greet/history.jsonl")).unwrap();
    assert!(
        history.contains("\"reason\":\"reboot\"") && history.contains("\"code\":0"),
        "{history}"
    );
}

#[test]
fn a_bad_set_is_refused_before_anything_starts() {
    let manifest = workspace().join("examples/hello/system.toml");
    let dir = dev_dir();
    let dev_path = dir.path().join("dev");
    let out = unprivileged(&mut cairn())
        .args(["dev", manifest.to_str().unwrap(), "--set"])
        .args(["apps.hello.instances=lots", "--dir"])
        .arg(&dev_path)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.starts_with(
            "--set apps.hello.instances=lots: error: `instances` in [apps.hello] must be an integer, not a string"
        ),
        "{stderr}"
    );
    assert!(
        stderr.contains("error: the manifest is not valid; nothing was started"),
        "{stderr}"
    );
    assert!(!dev_path.exists(), "nothing is written");

    let out = cairn()
        .args([
            "dev",
            manifest.to_str().unwrap(),
            "--set",
            "apps.hello.instanses=2",
        ])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("unknown key `instanses` in [apps.hello]"),
        "{stderr}"
    );
    assert!(stderr.contains("did you mean `instances`?"), "{stderr}");
}
