//! PID 1's one logging hub (see `cairn_logging::hub`): every app line, every
//! line of PID 1's own log and the kernel's log go through it to the ring of
//! recent lines, the logger process (files, remote syslog) and, where the
//! console level says so, the console.
//!
//! The hub is held here, in one place of PID 1, behind a lock: the log
//! subscriber (any thread) and the run loop both feed it.

use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use nix::poll::{PollFd, PollFlags};

use cairn_logging::daemon::Config;
use cairn_logging::hub::Hub;
use cairn_logging::remote::Target;
use cairn_logging::{tls, Record, Stream};

static HUB: Mutex<Option<Hub>> = Mutex::new(None);

fn with<R>(f: impl FnOnce(&mut Hub) -> R) -> R {
    let mut guard = HUB.lock().unwrap_or_else(PoisonError::into_inner);
    let hub = guard.get_or_insert_with(|| {
        Hub::new(cairn_sys::process::is_pid1()).with_console(crate::log::console_notice)
    });
    f(hub)
}

/// One line of an app instance's output (`label` as the console names it:
/// `web`, `web.1`); true when it should also be shown on the console.
pub fn app_line(label: &str, stream: Stream, line: String) -> bool {
    with(|hub| hub.app_line(label, stream, line, Instant::now()))
}

/// One line of PID 1's own log, at a syslog severity.
pub fn system_line(severity: u8, message: &str) {
    let record = Record::system(severity, message);
    with(|hub| hub.record(record));
}

/// Lines lost to the logs since boot, by source.
pub fn dropped() -> std::collections::BTreeMap<String, u64> {
    with(|hub| hub.dropped().clone())
}

/// True when the reaped child `pid` was a logger process: the supervisor
/// then has nothing to do with it (the hub noticed its end on its socket).
pub fn reaped_logger(pid: i32) -> bool {
    u32::try_from(pid).is_ok_and(|pid| with(|hub| hub.forget_logger(pid)))
}

/// True when `path` is a mount point (its device differs from its parent's).
fn is_mount_point(path: &Path) -> bool {
    let parent = path.parent().unwrap_or(Path::new("/"));
    match (std::fs::metadata(path), std::fs::metadata(parent)) {
        (Ok(me), Ok(up)) => me.dev() != up.dev(),
        _ => false,
    }
}

/// The logger's configuration from `[logging]`; log files only when the
/// data partition is mounted (never onto the initramfs, which is RAM).
pub fn config_for(logging: &cairn_manifest::Logging, hostname: &str, data_mounted: bool) -> Config {
    Config {
        dir: data_mounted.then(|| PathBuf::from(cairn_layout::data::LOGS_PATH)),
        max_size: logging.file.max_size,
        keep: logging.file.keep,
        hostname: hostname.to_string(),
        remotes: logging
            .remote
            .iter()
            .enumerate()
            .map(|(index, r)| Target {
                transport: r.transport,
                host: r.host.clone(),
                port: r.port,
                // The builder placed this remote's own CA file by its index.
                ca: if r.transport == cairn_manifest::SyslogTransport::Tls {
                    tls::bank_ca(index)
                } else {
                    PathBuf::new()
                },
            })
            .collect(),
    }
}

/// Starts the logging layer of PID 1 from the manifest at `manifest_path`:
/// reads the kernel's log and starts the logger at the next [`tick`].
pub fn start(manifest_path: &Path) {
    let logging = match cairn_manifest::load(manifest_path) {
        Ok(manifest) => manifest.logging,
        Err(err) => {
            tracing::warn!("logging: cannot read the manifest, using defaults: {err}");
            cairn_manifest::Logging {
                console: cairn_manifest::LogLevel::Info,
                file: cairn_manifest::FileSink {
                    max_size: 10 << 20,
                    keep: 5,
                },
                remote: Vec::new(),
                rate_limit: cairn_manifest::DEFAULT_RATE_LIMIT,
            }
        }
    };
    let hostname = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .unwrap_or_default();
    let data_mounted = is_mount_point(Path::new(cairn_layout::data::MOUNT_POINT));
    if !data_mounted {
        tracing::warn!("no data partition: logs are kept in memory and sent to remote sinks only");
    }
    let config = config_for(&logging, &hostname, data_mounted);
    let kmsg = with(|hub| {
        hub.set_app_rate(logging.rate_limit);
        hub.configure(config, Instant::now());
        hub.open_kmsg(Path::new("/dev/kmsg"))
    });
    if let Err(err) = kmsg {
        tracing::warn!("kernel log not captured: {err}");
    }
}

/// The descriptors the run loop should also poll, with their events.
pub fn poll_handles() -> Vec<(OwnedFd, PollFlags)> {
    with(|hub| hub.poll_handles())
}

/// Once per round of the run loop: reads acknowledgements, the logger's
/// notices and the kernel's log, (re)starts the logger, sends what it takes.
pub fn tick() {
    with(|hub| {
        let now = Instant::now();
        hub.service(now);
        hub.tick(now);
    });
}

/// At shutdown, after the apps stopped: waits (at most `limit`) until the
/// logger has written everything, then closes its input and waits for it to
/// sync and exit. Lines after this reach the console only.
pub fn finish(limit: Duration) {
    let deadline = Instant::now() + limit;
    loop {
        let handles = with(|hub| {
            let now = Instant::now();
            hub.service(now);
            hub.tick(now);
            hub.pending().then(|| hub.poll_handles())
        });
        let Some(handles) = handles else { break };
        if Instant::now() >= deadline {
            tracing::warn!("logger still busy at shutdown: the last lines may miss the log files");
            break;
        }
        wait(&handles, Duration::from_millis(50));
    }
    let Some(socket) = with(Hub::close_logger) else {
        return;
    };
    // The logger closes its end when it exits, after syncing.
    let deadline = deadline.max(Instant::now() + Duration::from_secs(1));
    let mut buf = [0u8; 512];
    let handle: Vec<(OwnedFd, PollFlags)> = socket
        .try_clone()
        .map(|fd| vec![(fd, PollFlags::POLLIN)])
        .unwrap_or_default();
    while Instant::now() < deadline {
        wait(&handle, Duration::from_millis(100));
        match nix::sys::socket::recv(
            std::os::fd::AsRawFd::as_raw_fd(&socket),
            &mut buf,
            nix::sys::socket::MsgFlags::MSG_DONTWAIT,
        ) {
            Ok(0) => return,
            Ok(_) | Err(nix::errno::Errno::EAGAIN | nix::errno::Errno::EINTR) => {}
            Err(_) => return,
        }
    }
}

fn wait(handles: &[(OwnedFd, PollFlags)], limit: Duration) {
    let mut fds: Vec<PollFd<'_>> = handles
        .iter()
        .map(|(fd, flags)| PollFd::new(fd.as_fd(), *flags))
        .collect();
    let ms = u16::try_from(limit.as_millis()).unwrap_or(u16::MAX);
    let _ = nix::poll::poll(&mut fds, nix::poll::PollTimeout::from(ms));
}

#[cfg(test)]
mod tests {
    use super::*;
    use cairn_layout::bank;
    use cairn_manifest::SyslogTransport;

    #[test]
    fn each_tls_remote_trusts_its_own_ca_file_in_the_bank() {
        let text = "version = 1\n\
            [[logging.remote]]\nurl = \"syslog+udp://10.0.0.5\"\n\
            [[logging.remote]]\nurl = \"syslog+tls://a.example\"\nca = \"a.pem\"\n\
            [[logging.remote]]\nurl = \"syslog+tls://b.example:7514\"\n";
        let manifest = cairn_manifest::parse(text, Path::new("system.toml")).unwrap();
        let config = config_for(&manifest.logging, "edge-01", true);
        let got: Vec<(SyslogTransport, &str, u16, &Path)> = config
            .remotes
            .iter()
            .map(|t| (t.transport, t.host.as_str(), t.port, t.ca.as_path()))
            .collect();
        assert_eq!(
            got,
            [
                (SyslogTransport::Udp, "10.0.0.5", 514, Path::new("")),
                (
                    SyslogTransport::Tls,
                    "a.example",
                    6514,
                    Path::new(&bank::booted(&bank::logging_ca(1)))
                ),
                (
                    SyslogTransport::Tls,
                    "b.example",
                    7514,
                    Path::new(&bank::booted(&bank::logging_ca(2)))
                ),
            ]
        );
        // And the logger reads the same back from its command line.
        assert_eq!(Config::parse(&config.to_args()), Ok(config));
    }
}
