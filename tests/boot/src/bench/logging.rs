//! Logging throughput: `cairn-bench logging [--lines N] [--line-bytes B]`.
//!
//! One app's lines go through the real path to the file sink: written by a
//! writer thread (the app) into a pipe, read 64 KiB at a time and split into
//! lines by PID 1's own [`LineBuffer`], made into records and queued by PID
//! 1's hub ([`Hub`], with its ring per source and its outbox of numbered
//! batches), sent over the socket to the release `cairn-init` binary started
//! as `cairn-logd`, written to `<dir>/<app>/current` with rotation, and
//! acknowledged. The same stream is then piped into `svlogd -tt`, which only
//! adds a timestamp to each line.
//!
//! The figures are the sustained rate with nothing dropped and the CPU time
//! per 100k lines of everything on each side: PID 1's reading thread plus
//! the logger process for Cairn, the svlogd process for svlogd. Making up
//! the lines (the app's work) is counted on neither side. The files are read
//! back afterwards and every line number must be there exactly once.
//!
//! The per-app rate limit (`hub::APP_RATE`) is a policy, not a cost, so the
//! lines are handed to the hub after it, as admitted lines are in PID 1.

use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::{FromRawFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{anyhow, Context};
use cairn_logging::daemon::Config;
use cairn_logging::hub::{Hub, OUTBOX_CAP};
use cairn_logging::line::LineBuffer;
use cairn_logging::{Record, Stream};

use crate::workspace;

/// Where Debian's runit package installs svlogd.
const SVLOGD: &str = "/usr/bin/svlogd";
/// The file sink's default rotation size.
const MAX_SIZE: u64 = 10 << 20;
/// The app whose lines are logged.
const APP: &str = "bench";
/// Marks the line number in every line, to find it again in the files.
const SEQ: &str = "seq=";
const SEQ_DIGITS: usize = 12;
/// PID 1 reads an app's pipe this much at a time.
const PIPE_READ: usize = 64 << 10;

/// What one side measured.
#[derive(Debug)]
struct Side {
    elapsed: Duration,
    cpu: Duration,
    /// Bytes in the files per line (the records' fields included).
    bytes_per_line: f64,
}

/// Runs both sides with `lines` lines of `line_bytes` bytes (newline not
/// counted) and prints a Markdown table.
pub fn run(lines: u64, line_bytes: usize) -> anyhow::Result<()> {
    let line_bytes = line_bytes.max(SEQ.len() + SEQ_DIGITS + 1);
    if !Path::new(SVLOGD).is_file() {
        return Err(anyhow!("{SVLOGD} is missing (Debian package runit)"));
    }
    let exe = workspace::release_binary("cairn-init");
    // Enough rotated files to keep the whole stream, so it can be counted.
    let keep = u32::try_from(lines * (line_bytes as u64 + 100) / MAX_SIZE + 2)
        .context("too many lines")?;
    let ours = cairn(&exe, lines, line_bytes, keep).context("cairn side")?;
    let theirs = svlogd(lines, line_bytes, keep).context("svlogd side")?;
    println!(
        "{lines} lines of {line_bytes} bytes from one app; files rotated at {} MiB\n",
        MAX_SIZE >> 20
    );
    println!("| logger | lines/s | MB/s (input) | CPU per 100k lines | bytes per line on disk |");
    println!("|---|---|---|---|---|");
    let input = lines * (line_bytes as u64 + 1);
    for (name, side) in [
        ("Cairn (PID 1 hub + cairn-logd)", &ours),
        ("svlogd -tt", &theirs),
    ] {
        let secs = side.elapsed.as_secs_f64();
        println!(
            "| {name} | {:.0} | {:.1} | {:.1} ms | {:.0} |",
            lines as f64 / secs,
            input as f64 / secs / 1e6,
            cpu_per_100k(side.cpu, lines),
            side.bytes_per_line
        );
    }
    println!(
        "| Cairn / svlogd | {:.2}x | {:.2}x | {:.2}x | {:.2}x |",
        theirs.elapsed.as_secs_f64() / ours.elapsed.as_secs_f64(),
        theirs.elapsed.as_secs_f64() / ours.elapsed.as_secs_f64(),
        ours.cpu.as_secs_f64() / theirs.cpu.as_secs_f64(),
        ours.bytes_per_line / theirs.bytes_per_line
    );
    Ok(())
}

fn cpu_per_100k(cpu: Duration, lines: u64) -> f64 {
    cpu.as_secs_f64() * 1000.0 * 100_000.0 / lines.max(1) as f64
}

/// Line `i`: its number, then filler up to `bytes`.
fn fill_line(i: u64, bytes: usize, out: &mut String) {
    use std::fmt::Write as _;
    out.clear();
    let _ = write!(out, "{SEQ}{i:0width$} ", width = SEQ_DIGITS);
    const FILLER: &str = "the quick brown fox jumps over the lazy dog 0123456789 ";
    while out.len() < bytes {
        let take = (bytes - out.len()).min(FILLER.len());
        out.push_str(&FILLER[..take]);
    }
}

/// PID 1's side: the hub feeding the release binary as cairn-logd.
fn cairn(exe: &Path, lines: u64, line_bytes: usize, keep: u32) -> anyhow::Result<Side> {
    let dir = tempfile::Builder::new()
        .prefix("cairn-bench-logs-")
        .tempdir()?;
    let config = Config {
        dir: Some(dir.path().to_path_buf()),
        max_size: MAX_SIZE,
        keep,
        hostname: "bench".into(),
        remotes: Vec::new(),
    };
    let mut hub = Hub::new(true).with_logger_exe(exe.to_path_buf());
    hub.configure(config, Instant::now());
    hub.tick(Instant::now());
    let pid = hub.logger_pid().context("the logger did not start")?;
    let (reader, writer) = pipe()?;
    let mut pipe_out = File::from(reader);

    let cpu_before = thread_cpu()?;
    let started = Instant::now();
    let app = std::thread::spawn(move || write_lines(File::from(writer), lines, line_bytes));
    let mut splitter = LineBuffer::default();
    let mut chunk = vec![0u8; PIPE_READ];
    loop {
        let n = match pipe_out.read(&mut chunk) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e).context("reading the app's pipe"),
        };
        splitter.push(&chunk[..n], &mut |line| {
            hub.record(Record::new(APP, 0, Stream::Stdout, line));
        });
        round(&mut hub, OUTBOX_CAP / 2)?;
    }
    splitter.finish(&mut |line| hub.record(Record::new(APP, 0, Stream::Stdout, line)));
    app.join()
        .map_err(|_| anyhow!("the writer thread panicked"))?
        .context("writing the app's lines")?;
    while hub.pending() {
        round(&mut hub, 0)?;
    }
    let elapsed = started.elapsed();
    let producer = thread_cpu()? - cpu_before;

    // Closing its input makes the logger sync and exit.
    drop(hub.close_logger());
    let logger = wait_child(pid)?;
    let system = hub.recent("cairn");
    let lost = lost_lines(&system);
    if !lost.is_empty() {
        return Err(anyhow!("lines were dropped: {lost:?}"));
    }
    let (found, bytes) = check_files(&dir.path().join(APP), lines, |name| {
        name == "current" || name.ends_with(".log")
    })?;
    eprintln!(
        "cairn: {found} lines in the files; cpu: pid 1 side {} ms, logger {} ms",
        producer.as_millis(),
        logger.as_millis()
    );
    Ok(Side {
        elapsed,
        cpu: producer + logger,
        bytes_per_line: bytes as f64 / lines.max(1) as f64,
    })
}

/// One round of PID 1's run loop for logging: acknowledgements read,
/// batches sent. While more than `limit` bytes wait for the logger, waits
/// for it (an app reading faster than the logger writes would see its lines
/// dropped; the benchmark measures the rate at which none are).
fn round(hub: &mut Hub, limit: usize) -> anyhow::Result<()> {
    loop {
        let now = Instant::now();
        hub.service(now);
        hub.tick(now);
        if hub.held() <= limit || !hub.pending() {
            return Ok(());
        }
        if hub.logger_pid().is_none() {
            return Err(anyhow!("the logger went away: {:?}", hub.recent("cairn")));
        }
        let handles = hub.poll_handles();
        let mut fds: Vec<libc::pollfd> = handles
            .iter()
            .map(|(fd, flags)| libc::pollfd {
                fd: std::os::fd::AsRawFd::as_raw_fd(fd),
                events: flags.bits(),
                revents: 0,
            })
            .collect();
        // SAFETY: `fds` is a valid array of pollfd, its descriptors held
        // open by `handles` for the call.
        unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, 100) };
    }
}

/// The hub's own notices about dropped lines.
fn lost_lines(system: &[String]) -> Vec<&String> {
    system
        .iter()
        .filter(|l| l.contains("dropped") || l.contains("not written") || l.contains("paused"))
        .collect()
}

/// svlogd's side: the same lines through a pipe into `svlogd -tt`.
fn svlogd(lines: u64, line_bytes: usize, keep: u32) -> anyhow::Result<Side> {
    let dir = tempfile::Builder::new()
        .prefix("cairn-bench-svlogd-")
        .tempdir()?;
    std::fs::write(dir.path().join("config"), format!("s{MAX_SIZE}\nn{keep}\n"))?;
    let started = Instant::now();
    let mut child = Command::new(SVLOGD)
        .arg("-tt")
        .arg(dir.path())
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .context("starting svlogd")?;
    let stdin = child.stdin.take().context("svlogd's stdin")?;
    write_lines(File::from(OwnedFd::from(stdin)), lines, line_bytes)?;
    let cpu = wait_child(child.id())?;
    let elapsed = started.elapsed();
    let (found, bytes) = check_files(dir.path(), lines, |name| {
        name == "current" || name.starts_with('@')
    })?;
    eprintln!(
        "svlogd: {found} lines in the files; cpu {} ms",
        cpu.as_millis()
    );
    Ok(Side {
        elapsed,
        cpu,
        bytes_per_line: bytes as f64 / lines.max(1) as f64,
    })
}

/// Reads the log files of `dir` (those `is_log` names): every line number
/// below `lines` must be there exactly once. Returns the lines and bytes.
fn check_files(
    dir: &Path,
    lines: u64,
    is_log: impl Fn(&str) -> bool,
) -> anyhow::Result<(u64, u64)> {
    let mut seen = vec![false; usize::try_from(lines)?];
    let mut found = 0u64;
    let mut bytes = 0u64;
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .with_context(|| format!("reading {}", dir.display()))?
        .filter_map(Result::ok)
        .filter(|e| e.file_name().to_str().is_some_and(&is_log))
        .map(|e| e.path())
        .collect();
    files.sort();
    for file in files {
        let text = std::fs::read(&file)?;
        bytes += text.len() as u64;
        for line in text.split(|b| *b == b'\n').filter(|l| !l.is_empty()) {
            let n = line_number(line)
                .with_context(|| format!("{}: a line without its number", file.display()))?;
            let slot = seen
                .get_mut(usize::try_from(n)?)
                .with_context(|| format!("line number {n} out of range"))?;
            if *slot {
                return Err(anyhow!("line {n} written twice"));
            }
            *slot = true;
            found += 1;
        }
    }
    if found != lines {
        let first_missing = seen.iter().position(|s| !s).unwrap_or(0);
        return Err(anyhow!(
            "{found} of {lines} lines in the files; first missing: {first_missing}"
        ));
    }
    Ok((found, bytes))
}

/// The number after [`SEQ`] in a written line.
fn line_number(line: &[u8]) -> Option<u64> {
    let at = line.windows(SEQ.len()).position(|w| w == SEQ.as_bytes())? + SEQ.len();
    let digits = line.get(at..at + SEQ_DIGITS)?;
    std::str::from_utf8(digits).ok()?.parse().ok()
}

/// The app: writes `lines` numbered lines into `out`, 64 KiB at a time,
/// then closes it.
fn write_lines(mut out: File, lines: u64, line_bytes: usize) -> std::io::Result<()> {
    let mut chunk = Vec::with_capacity(PIPE_READ + line_bytes + 1);
    let mut line = String::with_capacity(line_bytes);
    for i in 0..lines {
        fill_line(i, line_bytes, &mut line);
        chunk.extend_from_slice(line.as_bytes());
        chunk.push(b'\n');
        if chunk.len() >= PIPE_READ {
            out.write_all(&chunk)?;
            chunk.clear();
        }
    }
    out.write_all(&chunk)
}

/// A pipe: (read end, write end), both close-on-exec.
fn pipe() -> anyhow::Result<(OwnedFd, OwnedFd)> {
    let mut fds = [0; 2];
    // SAFETY: pipe2 writes two descriptors into the array it is given.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        return Err(std::io::Error::last_os_error()).context("pipe2");
    }
    // SAFETY: both descriptors were just created and are owned by nothing else.
    Ok(unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) })
}

/// User + system CPU time of the calling thread so far.
fn thread_cpu() -> anyhow::Result<Duration> {
    // SAFETY: getrusage only writes the struct it is given.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: a valid pointer to a rusage struct.
    if unsafe { libc::getrusage(libc::RUSAGE_THREAD, &mut usage) } != 0 {
        return Err(std::io::Error::last_os_error()).context("getrusage");
    }
    Ok(cpu_of(&usage))
}

/// Waits for child `pid` to exit; returns its user + system CPU time.
fn wait_child(pid: u32) -> anyhow::Result<Duration> {
    let pid = libc::pid_t::try_from(pid)?;
    // SAFETY: an all-zero rusage is a valid value for wait4 to overwrite.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    let mut status = 0;
    loop {
        // SAFETY: valid pointers to a status int and a rusage struct.
        let ret = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
        if ret == pid {
            break;
        }
        let err = std::io::Error::last_os_error();
        if err.raw_os_error() != Some(libc::EINTR) {
            return Err(err).context("wait4");
        }
    }
    if !(libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0) {
        return Err(anyhow!("child {pid} ended with status {status:#x}"));
    }
    Ok(cpu_of(&usage))
}

fn cpu_of(usage: &libc::rusage) -> Duration {
    let tv = |t: libc::timeval| {
        Duration::from_secs(u64::try_from(t.tv_sec).unwrap_or(0))
            + Duration::from_micros(u64::try_from(t.tv_usec).unwrap_or(0))
    };
    tv(usage.ru_utime) + tv(usage.ru_stime)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_have_the_asked_length_and_their_number() {
        let mut line = String::new();
        fill_line(42, 100, &mut line);
        assert_eq!(line.len(), 100);
        let written = format!("2026-11-23T11:00:00.000000Z bench stdout {line}");
        assert_eq!(line_number(written.as_bytes()), Some(42));
        assert_eq!(line_number(b"no number here"), None);
    }

    #[test]
    fn missing_and_repeated_lines_are_caught() {
        let dir = tempfile::tempdir().unwrap();
        let mut text = String::new();
        let mut line = String::new();
        for i in [0, 1, 2] {
            fill_line(i, 40, &mut line);
            text.push_str(&line);
            text.push('\n');
        }
        std::fs::write(dir.path().join("current"), &text).unwrap();
        std::fs::write(dir.path().join("config"), "s100\n").unwrap();
        let all = |n: &str| n == "current";
        assert_eq!(check_files(dir.path(), 3, all).unwrap().0, 3);
        assert!(check_files(dir.path(), 4, all).is_err());
        std::fs::write(dir.path().join("current"), format!("{text}{text}")).unwrap();
        assert!(check_files(dir.path(), 3, all).is_err());
    }
}
