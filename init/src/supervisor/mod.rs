//! Supervising apps: start every instance, capture its output, restart it per
//! policy, notice when everything is ready, stop it all in order.
//!
//! The supervisor is a state machine driven by one poll loop ([`Supervisor::turn`]):
//! PID 1 calls it with its own descriptors (signalfd, power button, console)
//! as extra watches; a host test calls it with none. Every turn waits for
//! output or the next deadline (a restart, a readiness mark, a stop timeout),
//! then reads output, reaps every ended child and advances the timers. A pid is
//! recorded the moment `spawn` returns, before the loop can reap anything, so
//! an instance that dies at once is still known.
//!
//! Readiness: an instance is ready once it has run for `ready_after` (1 s)
//! without exiting; health checks and NOTIFY_SOCKET refine this later. An
//! instance that exited successfully and is not restarted counts as done.
//! Apps with `after` wait until those apps are ready. Stopping goes in
//! reverse: an app is sent SIGTERM once nothing that starts after it is still
//! running.

pub mod app;
pub mod backoff;
pub mod output;
mod stop;
mod streams;

use std::os::fd::{BorrowedFd, OwnedFd};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use cairn_manifest::App;
use nix::poll::{PollFd, PollFlags};

use self::backoff::{format_duration, Backoff};
use self::streams::Streams;
use crate::sys::process::{self, ExitStatus, Reaped};

/// Timing knobs; production values by default, shorter in tests.
#[derive(Debug, Clone)]
pub struct Timings {
    /// Running this long without exiting makes an instance ready.
    pub ready_after: Duration,
    pub backoff_floor: Duration,
    pub backoff_cap: Duration,
    /// A run this long resets the backoff.
    pub stable_after: Duration,
    /// How long to wait for a group after SIGKILL before giving up on it.
    pub kill_grace: Duration,
}

impl Default for Timings {
    fn default() -> Self {
        Timings {
            ready_after: Duration::from_secs(1),
            backoff_floor: backoff::FLOOR,
            backoff_cap: backoff::CAP,
            stable_after: backoff::STABLE_AFTER,
            kill_grace: Duration::from_secs(2),
        }
    }
}

/// How apps are started.
#[derive(Debug, Clone)]
pub struct SupervisorConfig {
    /// `<apps_root>/<name>` is each app's tree.
    pub apps_root: PathBuf,
    /// chroot into the app's tree (PID 1); off on a developer's machine.
    pub chroot: bool,
    /// Run as the app's own uid/gid with no supplementary groups.
    pub drop_privileges: bool,
    /// Added to every port.
    pub port_offset: u16,
    pub timings: Timings,
}

impl SupervisorConfig {
    /// As PID 1 runs apps: chrooted into /bank/apps/<name>, unprivileged.
    pub fn pid1(port_offset: u16) -> SupervisorConfig {
        SupervisorConfig {
            apps_root: PathBuf::from("/bank/apps"),
            chroot: true,
            drop_privileges: true,
            port_offset,
            timings: Timings::default(),
        }
    }

    /// As on a developer's machine: no chroot, no uid change.
    pub fn host() -> SupervisorConfig {
        SupervisorConfig {
            apps_root: PathBuf::from("/"),
            chroot: false,
            drop_privileges: false,
            port_offset: 0,
            timings: Timings::default(),
        }
    }
}

/// A descriptor the caller wants watched in the same poll.
#[derive(Debug)]
pub struct Watch<'a> {
    pub fd: BorrowedFd<'a>,
    pub events: PollFlags,
    /// Set by [`Supervisor::turn`] when poll reported something.
    pub ready: bool,
}

impl<'a> Watch<'a> {
    pub fn new(fd: BorrowedFd<'a>, events: PollFlags) -> Watch<'a> {
        Watch {
            fd,
            events,
            ready: false,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Waiting for the apps in `after` to be ready.
    Waiting,
    /// To be started at this time.
    Due(Instant),
    Running {
        pid: i32,
        since: Instant,
    },
    /// Shutdown: waiting for apps that start after this one to stop first.
    StopPending {
        pid: i32,
    },
    /// Shutdown: SIGTERM (or SIGKILL, once `killed`) sent; deadline for the next step.
    Stopping {
        pid: i32,
        deadline: Instant,
        killed: bool,
    },
    /// Not running and not coming back.
    Ended(Option<ExitStatus>),
}

#[derive(Debug)]
struct Instance {
    app: usize,
    index: u32,
    label: String,
    phase: Phase,
    backoff: Backoff,
    ever_ready: bool,
}

impl Instance {
    fn pid(&self) -> Option<i32> {
        match self.phase {
            Phase::Running { pid, .. }
            | Phase::StopPending { pid }
            | Phase::Stopping { pid, .. } => Some(pid),
            _ => None,
        }
    }

    fn is_ready(&self, now: Instant, ready_after: Duration) -> bool {
        match self.phase {
            Phase::Running { since, .. } => now.duration_since(since) >= ready_after,
            Phase::Ended(Some(status)) => status.success(),
            _ => false,
        }
    }
}

/// All apps of a manifest and their instances.
#[derive(Debug)]
pub struct Supervisor {
    config: SupervisorConfig,
    apps: Vec<App>,
    instances: Vec<Instance>,
    streams: Streams,
    all_ready_reported: bool,
    all_ready_pending: bool,
    stopping: bool,
}

impl Supervisor {
    /// Plans every instance of every app; nothing starts before the first
    /// [`turn`](Supervisor::turn).
    pub fn new<'a>(
        config: SupervisorConfig,
        apps: impl IntoIterator<Item = &'a App>,
    ) -> Supervisor {
        let apps: Vec<App> = apps.into_iter().cloned().collect();
        let now = Instant::now();
        let t = &config.timings;
        let mut instances = Vec::new();
        for (i, app) in apps.iter().enumerate() {
            for index in 0..app.instances.max(1) {
                instances.push(Instance {
                    app: i,
                    index,
                    label: app::label(&app.name, index),
                    phase: if app.after.is_empty() {
                        Phase::Due(now)
                    } else {
                        Phase::Waiting
                    },
                    backoff: Backoff::new(t.backoff_floor, t.backoff_cap, t.stable_after),
                    ever_ready: false,
                });
            }
        }
        Supervisor {
            config,
            apps,
            instances,
            streams: Streams::default(),
            all_ready_reported: false,
            all_ready_pending: false,
            stopping: false,
        }
    }

    /// One round of the loop: start what is due, wait (at most `max_wait`) for
    /// output, the watches or the next deadline, then read output, reap
    /// children and advance timers. Sets `ready` on the watches poll flagged.
    pub fn turn(&mut self, watches: &mut [Watch<'_>], max_wait: Duration) {
        let now = Instant::now();
        self.start_due(now);
        let wait = self
            .next_deadline(now)
            .map_or(max_wait, |d| d.saturating_duration_since(now).min(max_wait));

        let stream_fds = self.streams.fds();
        let mut fds: Vec<PollFd<'_>> = stream_fds
            .iter()
            .map(|fd| PollFd::new(*fd, PollFlags::POLLIN))
            .collect();
        fds.extend(watches.iter().map(|w| PollFd::new(w.fd, w.events)));
        // Round up so a deadline a fraction of a millisecond away is not a spin.
        let ms = u16::try_from(wait.as_micros().div_ceil(1000)).unwrap_or(u16::MAX);
        let timeout = nix::poll::PollTimeout::from(ms);
        let polled = match nix::poll::poll(&mut fds, timeout) {
            Ok(_) => true,
            Err(nix::errno::Errno::EINTR) => false,
            Err(err) => {
                // Never spin: without poll, at least pace the loop.
                tracing::warn!("poll failed: {err}");
                std::thread::sleep(wait.min(Duration::from_millis(100)));
                false
            }
        };
        let flagged: Vec<bool> = fds
            .iter()
            .map(|fd| polled && fd.revents().is_some_and(|r| !r.is_empty()))
            .collect();
        drop(fds);
        let stream_count = stream_fds.len();
        drop(stream_fds);
        for (watch, ready) in watches.iter_mut().zip(&flagged[stream_count..]) {
            watch.ready = *ready;
        }
        self.streams.service(&flagged[..stream_count]);
        self.reap();
        self.advance(Instant::now());
    }

    /// Reaps every ended child: instances are handled per policy; anything
    /// else (an orphan that reparented to us) is reaped with one log line.
    pub fn reap(&mut self) {
        loop {
            match process::reap_one() {
                Ok(Reaped::Child { pid, status }) => {
                    if !self.on_exit(pid, status, Instant::now()) {
                        tracing::info!("reaped orphan pid {pid} ({status})");
                    }
                }
                Ok(Reaped::NoneReady | Reaped::NoChildren) => return,
                Err(err) => {
                    tracing::warn!("waitpid failed: {err}");
                    return;
                }
            }
        }
    }

    /// True once, right after every instance became ready for the first time.
    pub fn take_all_ready(&mut self) -> bool {
        std::mem::take(&mut self.all_ready_pending)
    }

    /// Reads the output still buffered in the pipes of stopped apps.
    pub fn drain_output(&mut self) {
        self.streams.drain_all();
    }

    /// How many output pipes are still open.
    pub fn open_streams(&self) -> usize {
        self.streams.len()
    }

    /// The pids of the instances currently running.
    pub fn running_pids(&self) -> Vec<i32> {
        self.instances.iter().filter_map(Instance::pid).collect()
    }

    fn deps_ready(&self, app: usize) -> bool {
        self.apps[app].after.iter().all(|dep| {
            self.instances
                .iter()
                .filter(|i| self.apps[i.app].name == *dep)
                .all(|i| i.ever_ready || matches!(i.phase, Phase::Ended(Some(s)) if s.success()))
        })
    }

    fn start_due(&mut self, now: Instant) {
        if self.stopping {
            return;
        }
        for n in 0..self.instances.len() {
            let app = self.instances[n].app;
            match self.instances[n].phase {
                Phase::Waiting if self.deps_ready(app) => self.start(n, now),
                Phase::Due(at) if at <= now => self.start(n, now),
                _ => {}
            }
        }
    }

    fn start(&mut self, n: usize, now: Instant) {
        let inst = &self.instances[n];
        let app = &self.apps[inst.app];
        let spawned = app::command(app, inst.index, &self.config).and_then(|mut c| c.spawn());
        let label = inst.label.clone();
        match spawned {
            Ok(mut child) => {
                let pid = i32::try_from(child.id()).unwrap_or(i32::MAX);
                self.instances[n].phase = Phase::Running { pid, since: now };
                tracing::info!("app {label} started (pid {pid})");
                for fd in [
                    child.stdout.take().map(OwnedFd::from),
                    child.stderr.take().map(OwnedFd::from),
                ]
                .into_iter()
                .flatten()
                {
                    if let Err(err) = self.streams.add(&label, fd) {
                        tracing::warn!("app {label}: output not captured: {err}");
                    }
                }
            }
            Err(err) => {
                let restart = app::should_restart(app.restart, ExitStatus::Code(127));
                let inst = &mut self.instances[n];
                if restart {
                    let delay = inst.backoff.on_exit(Duration::ZERO);
                    inst.phase = Phase::Due(now + delay);
                    tracing::error!(
                        "app {label} could not start: {err}, retrying in {}",
                        format_duration(delay)
                    );
                } else {
                    inst.phase = Phase::Ended(Some(ExitStatus::Code(127)));
                    tracing::error!("app {label} could not start: {err}, not restarting");
                }
            }
        }
    }

    /// Handles the end of `pid`; false when it is not one of ours.
    fn on_exit(&mut self, pid: i32, status: ExitStatus, now: Instant) -> bool {
        let Some(n) = self.instances.iter().position(|i| i.pid() == Some(pid)) else {
            return false;
        };
        let policy = self.apps[self.instances[n].app].restart;
        let inst = &mut self.instances[n];
        let label = &inst.label;
        match inst.phase {
            Phase::Running { since, .. } if !self.stopping => {
                if app::should_restart(policy, status) {
                    let delay = inst.backoff.on_exit(now.duration_since(since));
                    inst.phase = Phase::Due(now + delay);
                    tracing::info!(
                        "app {label} exited ({status}), restarting in {}",
                        format_duration(delay)
                    );
                } else {
                    inst.phase = Phase::Ended(Some(status));
                    tracing::info!("app {label} exited ({status}), not restarting");
                }
            }
            _ => {
                inst.phase = Phase::Ended(Some(status));
                tracing::info!("app {label} stopped ({status})");
            }
        }
        true
    }

    /// Marks readiness, reports "all ready" once, and drives the stop steps.
    fn advance(&mut self, now: Instant) {
        let ready_after = self.config.timings.ready_after;
        for inst in &mut self.instances {
            if inst.is_ready(now, ready_after) {
                inst.ever_ready = true;
            }
        }
        if !self.all_ready_reported
            && !self.stopping
            && self.instances.iter().all(|i| i.is_ready(now, ready_after))
        {
            self.all_ready_reported = true;
            self.all_ready_pending = true;
            tracing::info!(
                "all apps ready ({} ms after /init, pid 1 rss {} KiB)",
                crate::metrics::since_start_ms(),
                crate::metrics::rss_kib().unwrap_or(0)
            );
        }
        if self.stopping {
            self.advance_stop(now);
        }
    }

    /// The earliest time something is due (never in the past, except for
    /// work that is due right now).
    fn next_deadline(&self, now: Instant) -> Option<Instant> {
        let ready_after = self.config.timings.ready_after;
        self.instances
            .iter()
            .filter_map(|i| match i.phase {
                Phase::Due(at) if !self.stopping => Some(at.max(now)),
                Phase::Waiting if !self.stopping && self.deps_ready(i.app) => Some(now),
                Phase::Running { since, .. } if since + ready_after > now => {
                    Some(since + ready_after)
                }
                Phase::Stopping { deadline, .. } => Some(deadline.max(now)),
                _ => None,
            })
            .min()
    }
}
