//! `cairn-logd`: the logging process. PID 1 starts it by executing its own
//! binary under this name, with a socket as standard input.
//!
//! It reads batches of records from the socket, hands every record to the
//! file sink and the remote sinks, and acknowledges each batch once it is
//! written, so PID 1 can forget it. What the sinks have to say (drops, a
//! full disk, a collector gone) goes back to PID 1 as records of its own, to
//! be logged like any system line. At end of input (PID 1 shutting down) it
//! syncs its files, gives the remote sinks a moment to send, and exits.
//! SIGTERM, SIGINT and SIGHUP are blocked: only the end of input, or SIGKILL,
//! ends it.

use std::os::fd::{AsFd, OwnedFd};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use cairn_manifest::SyslogTransport;
use nix::sys::signal::{SigSet, Signal};
use nix::sys::socket::{recv, send, MsgFlags};

use crate::files::{FileSink, Space};
use crate::outbox::{ack_message, parse_batch, RECORDS};
use crate::record::Record;
use crate::remote::{Remote, Target};

/// The name PID 1 gives the process (argv[0]).
pub const ARGV0: &str = "cairn-logd";
/// The largest message on the socket.
pub const MESSAGE_MAX: usize = 1 << 20;

/// What the logger is told on its command line.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Config {
    /// The log directory (/data/logs), when the data partition is mounted.
    pub dir: Option<PathBuf>,
    pub max_size: u64,
    pub keep: u32,
    pub hostname: String,
    pub remotes: Vec<Target>,
}

fn transport_word(t: SyslogTransport) -> &'static str {
    match t {
        SyslogTransport::Udp => "udp",
        SyslogTransport::Tcp => "tcp",
        SyslogTransport::Tls => "tls",
    }
}

impl Config {
    /// The arguments that [`Config::parse`] reads back.
    pub fn to_args(&self) -> Vec<String> {
        let mut args = vec![
            "--max-size".to_string(),
            self.max_size.to_string(),
            "--keep".to_string(),
            self.keep.to_string(),
            "--hostname".to_string(),
            self.hostname.clone(),
        ];
        if let Some(dir) = &self.dir {
            args.extend(["--dir".to_string(), dir.display().to_string()]);
        }
        for r in &self.remotes {
            args.extend([
                "--remote".to_string(),
                format!(
                    "{} {} {} {}",
                    transport_word(r.transport),
                    r.host,
                    r.port,
                    r.ca.display()
                ),
            ]);
        }
        args
    }

    pub fn parse(args: &[String]) -> Result<Config, String> {
        let mut config = Config::default();
        let mut it = args.iter();
        while let Some(flag) = it.next() {
            let value = it.next().ok_or_else(|| format!("{flag} needs a value"))?;
            match flag.as_str() {
                "--dir" => config.dir = Some(PathBuf::from(value)),
                "--max-size" => config.max_size = value.parse().map_err(|_| "bad --max-size")?,
                "--keep" => config.keep = value.parse().map_err(|_| "bad --keep")?,
                "--hostname" => config.hostname = value.clone(),
                "--remote" => {
                    let parts: Vec<&str> = value.splitn(4, ' ').collect();
                    let [transport, host, port, ca] = parts[..] else {
                        return Err(format!("bad --remote {value:?}"));
                    };
                    let transport = match transport {
                        "udp" => SyslogTransport::Udp,
                        "tcp" => SyslogTransport::Tcp,
                        "tls" => SyslogTransport::Tls,
                        _ => return Err(format!("bad transport {transport:?}")),
                    };
                    config.remotes.push(Target {
                        transport,
                        host: host.to_string(),
                        port: port.parse().map_err(|_| "bad --remote port")?,
                        ca: PathBuf::from(ca),
                    });
                }
                _ => return Err(format!("unknown argument {flag}")),
            }
        }
        Ok(config)
    }
}

/// The logger's entry point; `args` without argv[0].
pub fn main(args: &[String]) -> ExitCode {
    let mut blocked = SigSet::empty();
    for signal in [Signal::SIGTERM, Signal::SIGINT, Signal::SIGHUP] {
        blocked.add(signal);
    }
    let _ = blocked.thread_block();
    let config = match Config::parse(args) {
        Ok(config) => config,
        Err(err) => {
            eprintln!("{ARGV0}: {err}");
            return ExitCode::from(2);
        }
    };
    let socket = match std::io::stdin().as_fd().try_clone_to_owned() {
        Ok(fd) => fd,
        Err(err) => {
            eprintln!("{ARGV0}: no socket on standard input: {err}");
            return ExitCode::from(2);
        }
    };
    run(&config, &socket);
    ExitCode::SUCCESS
}

/// Sends the sinks' notices to PID 1 as system records.
fn report(socket: &OwnedFd, notices: Vec<(u8, String)>) {
    if notices.is_empty() {
        return;
    }
    let mut message = vec![RECORDS];
    for (severity, text) in notices {
        Record::system(severity, &format!("logger: {text}")).encode(&mut message);
    }
    let _ = send(
        std::os::fd::AsRawFd::as_raw_fd(socket),
        &message,
        MsgFlags::MSG_NOSIGNAL,
    );
}

/// The loop: until PID 1 closes the socket.
pub fn run(config: &Config, socket: &OwnedFd) {
    let mut files = config.dir.as_ref().map(|dir| {
        let total = crate::files::statvfs_total(dir).unwrap_or(0);
        FileSink::new(
            dir.clone(),
            config.max_size,
            config.keep,
            Space::for_partition(total, config.max_size),
        )
    });
    let mut remotes = Vec::new();
    let mut notices = Vec::new();
    for target in &config.remotes {
        match Remote::start(target.clone(), config.hostname.clone()) {
            Ok(remote) => remotes.push(remote),
            Err(err) => notices.push((3, format!("{}: cannot start: {err}", target.url()))),
        }
    }
    report(socket, std::mem::take(&mut notices));
    let raw = std::os::fd::AsRawFd::as_raw_fd(socket);
    let mut buf = vec![0u8; MESSAGE_MAX];
    loop {
        let mut fds = [nix::poll::PollFd::new(
            socket.as_fd(),
            nix::poll::PollFlags::POLLIN,
        )];
        let _ = nix::poll::poll(&mut fds, nix::poll::PollTimeout::from(1000u16));
        let readable = fds[0].revents().is_some_and(|r| !r.is_empty());
        if readable {
            match recv(raw, &mut buf, MsgFlags::MSG_DONTWAIT) {
                Ok(0) => break,
                Ok(n) => {
                    if let Some((seq, body)) = buf.get(..n).and_then(parse_batch) {
                        let (records, bad) = Record::decode_all(body);
                        for record in &records {
                            if let Some(files) = files.as_mut() {
                                files.add(record);
                            }
                            for remote in &remotes {
                                remote.push(record);
                            }
                        }
                        if let Some(files) = files.as_mut() {
                            notices.extend(files.flush(Instant::now()).0);
                        }
                        if bad > 0 {
                            notices.push((4, format!("{bad} malformed records skipped")));
                        }
                        let _ = send(raw, &ack_message(seq), MsgFlags::MSG_NOSIGNAL);
                    }
                }
                Err(nix::errno::Errno::EAGAIN | nix::errno::Errno::EINTR) => {}
                Err(_) => break,
            }
        }
        let now = Instant::now();
        for remote in &remotes {
            notices.extend(remote.take_notices(now));
        }
        report(socket, std::mem::take(&mut notices));
    }
    if let Some(files) = files.as_mut() {
        files.sync();
    }
    for remote in remotes {
        remote.close(Duration::from_secs(2));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_command_line_round_trips() {
        let config = Config {
            dir: Some(PathBuf::from("/var/log/cairn")),
            max_size: 10 << 20,
            keep: 5,
            hostname: "edge-01".into(),
            remotes: vec![Target {
                transport: SyslogTransport::Tls,
                host: "logs.example.net".into(),
                port: 6514,
                ca: PathBuf::from("/etc/ca/0.pem"),
            }],
        };
        assert_eq!(Config::parse(&config.to_args()), Ok(config));
        assert!(Config::parse(&["--keep".into()]).is_err());
        assert!(Config::parse(&["--bogus".into(), "1".into()]).is_err());
    }
}
