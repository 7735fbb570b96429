//! Supervising apps: start every instance, capture its output, restart it per
//! policy, check its health, notice when everything is ready, stop it all in
//! order.
//!
//! The supervisor is a state machine driven by one poll loop ([`Supervisor::turn`]):
//! PID 1 calls it with its own descriptors (signalfd, power button, console)
//! as extra watches; a host test calls it with none. Every turn waits for
//! output, a NOTIFY_SOCKET message, a health result or the next deadline (a
//! restart, a readiness mark, a check, a stop timeout), then reads output,
//! reaps every ended child and advances the timers. A pid is recorded the
//! moment `spawn` returns, before the loop can reap anything, so an instance
//! that dies at once is still known.
//!
//! Readiness. An instance becomes ready at the first of:
//!
//! 1. it sends `READY=1` on NOTIFY_SOCKET (see [`crate::notify`]);
//! 2. its health check passes, for an app with `[health]`;
//! 3. it has run for `ready_after` (1 s), for an app without `[health]` that
//!    said nothing on NOTIFY_SOCKET in that time. An app that does speak the
//!    protocol in its first second (say, `STATUS=loading`) is waited for
//!    until it sends `READY=1`.
//!
//! An instance that exited successfully and is not restarted counts as done.
//! Apps with `after` wait until those apps have been ready. "All apps ready"
//! (and with it the boot's blessing) additionally needs every instance of an
//! app with `[health]` to be green. If an instance turns red before that,
//! the boot is refused a blessing for good (see [`Verdict`]).
//!
//! Health states, checks and their schedule are described in
//! [`crate::health`]. An instance that turns red because it is unhealthy is
//! stopped (SIGTERM, its `stop_timeout`, SIGKILL) and restarted per its
//! `restart` policy (`always` and `on-failure` restart it; `never` leaves it
//! running, red). Restarts back off ([`backoff`]) and a crash loop opens the
//! circuit breaker ([`breaker`]): the instance is marked failed and left
//! alone. A crash (death by a signal or a non-zero exit that Cairn did not
//! cause) leaves a crash report ([`crash_report`]). Every change of state is
//! written to `/run/cairn/status.json` ([`status`]).
//!
//! Stopping goes in reverse: an app is sent SIGTERM once nothing that starts
//! after it is still running.
//!
//! Limits. Each instance runs in a cgroup of its own with its manifest's
//! limits and a port guard, both set up before it starts and removed when it
//! ends, when PID 1 also logs which limit, if any, it hit ([`limits`]).

pub mod app;
pub mod backoff;
pub mod breaker;
mod checks;
mod config;
mod console_sink;
pub mod crash_report;
#[cfg(test)]
mod fake;
mod jobs_glue;
pub mod limits;
mod processes;
mod restart;
mod sink;
mod state;
pub mod status;
mod stop;
mod streams;

use std::collections::BTreeMap;
use std::os::fd::BorrowedFd;
use std::time::{Duration, Instant};

use cairn_manifest::App;
use nix::poll::{PollFd, PollFlags};

use self::backoff::{format_duration, Backoff};
pub use self::config::{SupervisorConfig, Timings};
pub use self::console_sink::ConsoleSink;
pub use self::processes::{Processes, Started, System};
pub use self::sink::Sink;

use self::breaker::Breaker;
use self::streams::Streams;
use crate::health::pool::Pool;
use crate::health::{Light, Tracker};
use crate::notify::NotifySocket;
use cairn_sys::process::{ExitStatus, Reaped};

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

/// What the boot deserves, decided once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Every app is ready and every app with a health check is green.
    Bless,
    /// An instance turned red first; the reason names it.
    Refuse(String),
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
    /// Unhealthy: SIGTERM (or SIGKILL, once `killed`) sent so it can be
    /// restarted; deadline for the next step.
    Recycling {
        pid: i32,
        since: Instant,
        deadline: Instant,
        killed: bool,
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

/// A running `exec` health check.
#[derive(Debug, Clone, Copy)]
struct CheckChild {
    pid: i32,
    run: u64,
    deadline: Instant,
    /// Timed out and killed; its result is already recorded.
    killed: bool,
}

#[derive(Debug)]
struct Instance {
    /// Its app's index in [`Supervisor`]'s `apps`.
    app: usize,
    index: u32,
    label: String,
    phase: Phase,
    backoff: Backoff,
    breaker: Breaker,
    ever_ready: bool,
    /// Counts starts; tags health results with the run they belong to.
    run: u64,
    /// This run is ready.
    ready: bool,
    /// This run said something on NOTIFY_SOCKET.
    notified: bool,
    light: Light,
    reason: String,
    health: Option<Tracker>,
    next_check: Option<Instant>,
    check_in_flight: bool,
    check_child: Option<CheckChild>,
    restarts: u32,
    last_exit: Option<ExitStatus>,
    /// The app's last `STATUS=` line.
    app_status: Option<String>,
    /// The running instance's cgroup and port guard.
    confinement: Option<limits::Confinement>,
    /// The running instance's writable copies, removed when it ends.
    copies: Option<crate::sandbox::writable::WritableCopies>,
    /// The running instance asked an update's reboot to wait (`UPDATE_LOCK=1`).
    update_lock: bool,
    /// An operator asked for a restart: the next exit starts it again at
    /// once, whatever its policy, without counting as a failure.
    restart_requested: bool,
}

impl Instance {
    fn pid(&self) -> Option<i32> {
        match self.phase {
            Phase::Running { pid, .. }
            | Phase::Recycling { pid, .. }
            | Phase::StopPending { pid }
            | Phase::Stopping { pid, .. } => Some(pid),
            _ => None,
        }
    }

    /// Counts toward "all apps ready".
    fn is_ready(&self, has_check: bool) -> bool {
        match self.phase {
            Phase::Running { .. } => self.ready && (!has_check || self.light == Light::Green),
            Phase::Ended(Some(status)) => status.success(),
            _ => false,
        }
    }
}

/// All apps of a manifest and their instances.
#[derive(Debug)]
pub struct Supervisor {
    config: SupervisorConfig,
    /// Filled once by [`Supervisor::with_processes`] and never resized or
    /// reordered: an instance's `app` indexes it for the supervisor's life.
    apps: Vec<App>,
    /// Filled once by [`Supervisor::with_processes`] and never resized or
    /// reordered: an instance's number `n` (its index here) stays valid, and
    /// tags its output, its health results and its stderr tail.
    instances: Vec<Instance>,
    streams: Streams,
    notify: Option<NotifySocket>,
    pool: Option<Pool>,
    all_ready_reported: bool,
    all_ready_pending: bool,
    verdict: Option<Verdict>,
    verdict_pending: bool,
    /// The app whose instance turned red first and refused the verdict.
    refused_by: Option<String>,
    /// Each app's last crash report's stderr lines.
    last_crash: BTreeMap<String, Vec<String>>,
    last_status: Option<String>,
    stopping: bool,
    jobs: Option<jobs_glue::JobRuntime>,
    /// Where output and what only the embedding program can tell go.
    sink: Box<dyn Sink>,
    /// What starts, signals and reaps the processes.
    processes: Box<dyn Processes>,
}

// Indexing: every instance number `n` here comes from
// `0..self.instances.len()` or a position in `instances`, and `inst.app` is
// the index `with_processes` gave each instance into `apps`; neither vector
// changes length after `with_processes`, so no index is out of range.
#[allow(clippy::indexing_slicing)]
impl Supervisor {
    /// Plans every instance of every app, binds NOTIFY_SOCKET and starts the
    /// health workers if needed; nothing starts before the first
    /// [`turn`](Supervisor::turn). Processes are real ([`System`]).
    pub fn new<'a>(
        config: SupervisorConfig,
        apps: impl IntoIterator<Item = &'a App>,
        sink: Box<dyn Sink>,
    ) -> Supervisor {
        Supervisor::with_processes(config, apps, sink, Box::new(System::default()))
    }

    /// As [`new`](Supervisor::new), with `processes` carrying out what the
    /// supervisor decides.
    pub fn with_processes<'a>(
        config: SupervisorConfig,
        apps: impl IntoIterator<Item = &'a App>,
        sink: Box<dyn Sink>,
        processes: Box<dyn Processes>,
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
                    label: cairn_manifest::instance_label(&app.name, index),
                    phase: if app.after.is_empty() {
                        Phase::Due(now)
                    } else {
                        Phase::Waiting
                    },
                    backoff: Backoff::new(t.backoff_floor, t.backoff_cap, t.stable_after),
                    breaker: Breaker::new(t.breaker_limit, t.breaker_window),
                    ever_ready: false,
                    run: 0,
                    ready: false,
                    notified: false,
                    light: Light::Yellow,
                    reason: "starting".to_string(),
                    health: None,
                    next_check: None,
                    check_in_flight: false,
                    check_child: None,
                    restarts: 0,
                    last_exit: None,
                    app_status: None,
                    confinement: None,
                    copies: None,
                    update_lock: false,
                    restart_requested: false,
                });
            }
        }
        for warning in limits::unenforced_warnings(&config, &apps) {
            tracing::warn!("{warning}");
        }
        let notify =
            config
                .notify_socket
                .as_deref()
                .and_then(|path| match NotifySocket::bind(path) {
                    Ok(socket) => Some(socket),
                    Err(err) => {
                        tracing::warn!("no NOTIFY_SOCKET at {}: {err}", path.display());
                        None
                    }
                });
        let pool = if apps.iter().any(checks::needs_pool) {
            match Pool::start(crate::health::pool::WORKERS) {
                Ok(pool) => Some(pool),
                Err(err) => {
                    tracing::error!("health checks cannot run: {err}");
                    None
                }
            }
        } else {
            None
        };
        Supervisor {
            config,
            apps,
            instances,
            streams: Streams::default(),
            notify,
            pool,
            all_ready_reported: false,
            all_ready_pending: false,
            verdict: None,
            verdict_pending: false,
            refused_by: None,
            last_crash: BTreeMap::new(),
            last_status: None,
            stopping: false,
            jobs: None,
            sink,
            processes,
        }
    }

    /// One round of the loop: start what is due, wait (at most `max_wait`) for
    /// output, the watches or the next deadline, then read output, reap
    /// children and advance timers. Sets `ready` on the watches poll flagged.
    pub fn turn(&mut self, watches: &mut [Watch<'_>], max_wait: Duration) {
        let now = Instant::now();
        self.start_due(now);
        self.tick_jobs();
        self.dispatch_checks(now);
        let wait = self
            .next_deadline(now)
            .map_or(max_wait, |d| d.saturating_duration_since(now).min(max_wait));

        let stream_fds = self.streams.fds();
        let mut fds: Vec<PollFd<'_>> = stream_fds
            .iter()
            .map(|fd| PollFd::new(*fd, PollFlags::POLLIN))
            .collect();
        let stream_count = stream_fds.len();
        let own: Vec<BorrowedFd<'_>> = [
            self.notify.as_ref().map(NotifySocket::fd),
            self.pool.as_ref().map(Pool::fd),
        ]
        .into_iter()
        .flatten()
        .collect();
        fds.extend(own.iter().map(|fd| PollFd::new(*fd, PollFlags::POLLIN)));
        let own_count = own.len();
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
        drop(own);
        drop(stream_fds);
        // One flag per polled descriptor, in the order they were added:
        // the streams', our own, then the watches'.
        let (stream_flags, rest) = flagged.split_at_checked(stream_count).unwrap_or_default();
        let (own_flags, watch_flags) = rest.split_at_checked(own_count).unwrap_or_default();
        for (watch, ready) in watches.iter_mut().zip(watch_flags) {
            watch.ready = *ready;
        }
        self.streams.service(stream_flags, self.sink.as_mut());
        if own_flags.iter().any(|f| *f) {
            // Both are cheap to read when nothing waits.
            self.receive_notifications();
            self.receive_results(Instant::now());
        }
        self.reap();
        self.advance(Instant::now());
    }

    /// One round without waiting for anything, at `now`: what [`turn`] does
    /// after its poll, for callers that drive time themselves.
    ///
    /// [`turn`]: Supervisor::turn
    pub fn step(&mut self, now: Instant) {
        self.start_due(now);
        self.tick_jobs();
        self.dispatch_checks(now);
        self.receive_notifications();
        self.receive_results(now);
        self.reap_at(now);
        self.advance(now);
    }

    /// Reaps every ended child: instances are handled per policy; anything
    /// else (an orphan that reparented to us) is reaped with one log line.
    pub fn reap(&mut self) {
        self.reap_at(Instant::now());
    }

    fn reap_at(&mut self, now: Instant) {
        loop {
            match self.processes.reap() {
                Ok(Reaped::Child { pid, status }) => {
                    if !self.on_check_exit(pid, status, now)
                        && !self.on_exit(pid, status, now)
                        && !self.on_job_exit(pid, status)
                    {
                        self.sink.reaped_unknown(pid, status);
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

    /// The boot's verdict, once, when it is decided: bless when every app is
    /// ready (and green where checked), refuse when an instance turned red
    /// first. After a refusal there is no blessing in this boot.
    pub fn take_verdict(&mut self) -> Option<Verdict> {
        if std::mem::take(&mut self.verdict_pending) {
            self.verdict.clone()
        } else {
            None
        }
    }

    /// Reads the output still buffered in the pipes of stopped apps.
    pub fn drain_output(&mut self) {
        self.streams.drain_all(self.sink.as_mut());
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
        let spawned = self.processes.start(app, inst.index, &self.config);
        let label = inst.label.clone();
        let health = app.health.clone();
        match spawned {
            Ok(started) => {
                let pid = started.pid;
                let inst = &mut self.instances[n];
                inst.confinement = started.confinement;
                inst.copies = started.copies;
                if inst.run > 0 {
                    inst.restarts += 1;
                }
                inst.run += 1;
                inst.phase = Phase::Running { pid, since: now };
                inst.ready = false;
                inst.notified = false;
                inst.check_in_flight = false;
                inst.health = health
                    .as_ref()
                    .map(|h| Tracker::new(h.grace, crate::health::FAILURE_THRESHOLD, now));
                inst.next_check = health
                    .as_ref()
                    .map(|h| crate::health::first_check(now, h.interval));
                tracing::info!("app {label} started (pid {pid})");
                self.set_light(n, Light::Yellow, "starting");
                self.streams.clear_tail(n);
                for (fd, is_stderr) in [(started.stdout, false), (started.stderr, true)] {
                    let Some(fd) = fd else { continue };
                    if let Err(err) = self.streams.add_owned(&label, fd, Some(n), is_stderr) {
                        tracing::warn!("app {label}: output not captured: {err}");
                    }
                }
            }
            Err(err) => {
                let status = ExitStatus::Code(127);
                let restart = app::should_restart(app.restart, status);
                self.instances[n].last_exit = Some(status);
                if restart && !self.breaker_opens(n, now) {
                    let inst = &mut self.instances[n];
                    let delay = inst.backoff.on_exit(Duration::ZERO);
                    inst.phase = Phase::Due(now + delay);
                    tracing::error!(
                        "app {label} could not start: {err}, retrying in {}",
                        format_duration(delay)
                    );
                    self.set_light(n, Light::Yellow, &format!("could not start: {err}"));
                } else if restart {
                    tracing::error!("app {label} could not start: {err}");
                } else {
                    self.instances[n].phase = Phase::Ended(Some(status));
                    tracing::error!("app {label} could not start: {err}, not restarting");
                    self.set_light(n, Light::Red, &format!("could not start: {err}"));
                }
            }
        }
    }

    /// Records a failure with the breaker; when that opens it, the instance
    /// is marked failed and true is returned.
    fn breaker_opens(&mut self, n: usize, now: Instant) -> bool {
        let inst = &mut self.instances[n];
        if !inst.breaker.record(now) {
            return false;
        }
        let why = inst.breaker.describe();
        inst.phase = Phase::Ended(inst.last_exit);
        tracing::error!("app {} failed: {why}; not restarting", inst.label);
        self.set_light(n, Light::Red, &why);
        true
    }

    /// Handles the end of `pid`; false when it is not one of ours.
    fn on_exit(&mut self, pid: i32, status: ExitStatus, now: Instant) -> bool {
        let Some(n) = self.instances.iter().position(|i| i.pid() == Some(pid)) else {
            return false;
        };
        let policy = self.apps[self.instances[n].app].restart;
        self.instances[n].last_exit = Some(status);
        self.instances[n].health = None;
        self.instances[n].next_check = None;
        let label = self.instances[n].label.clone();
        let cause = self.release_confinement(n);
        // The next start copies afresh from what is shipped.
        self.instances[n].copies = None;
        self.instances[n].update_lock = false;
        let because = cause
            .as_ref()
            .map_or_else(String::new, |c| format!(": {c}"));
        if std::mem::take(&mut self.instances[n].restart_requested) && !self.stopping {
            self.instances[n].phase = Phase::Due(now);
            tracing::info!("app {label} stopped ({status}) for its restart");
            self.set_light(n, Light::Yellow, "restarting on request");
            return true;
        }
        match self.instances[n].phase {
            Phase::Running { since, .. } | Phase::Recycling { since, .. } if !self.stopping => {
                let recycled = matches!(self.instances[n].phase, Phase::Recycling { .. });
                if !status.success() && !recycled {
                    self.report_crash(n, status, cause);
                }
                if !app::should_restart(policy, status) {
                    self.instances[n].phase = Phase::Ended(Some(status));
                    tracing::info!("app {label} exited ({status}), not restarting");
                    let light = if status.success() {
                        Light::Green
                    } else {
                        Light::Red
                    };
                    self.set_light(n, light, &format!("exited ({status}){because}"));
                } else if !self.breaker_opens(n, now) {
                    let inst = &mut self.instances[n];
                    let delay = inst.backoff.on_exit(now.duration_since(since));
                    inst.phase = Phase::Due(now + delay);
                    tracing::info!(
                        "app {label} exited ({status}), restarting in {}",
                        format_duration(delay)
                    );
                    let reason = format!("restarting after {status}{because}");
                    self.set_light(n, Light::Yellow, &reason);
                }
            }
            _ => {
                self.instances[n].phase = Phase::Ended(Some(status));
                tracing::info!("app {label} stopped ({status})");
            }
        }
        true
    }

    /// Marks readiness, reports "all ready" once, drives the stop and
    /// recycle steps, and writes the status file when anything changed.
    fn advance(&mut self, now: Instant) {
        let ready_after = self.config.timings.ready_after;
        for n in 0..self.instances.len() {
            let inst = &self.instances[n];
            let has_check = self.apps[inst.app].health.is_some();
            if let Phase::Running { since, .. } = inst.phase {
                if !inst.ready && !has_check && !inst.notified && now >= since + ready_after {
                    self.mark_ready(n, "running");
                }
            }
        }
        self.advance_checks(now);
        self.advance_recycling(now);
        if !self.all_ready_reported
            && !self.stopping
            && self
                .instances
                .iter()
                .all(|i| i.is_ready(self.apps[i.app].health.is_some()))
        {
            self.all_ready_reported = true;
            self.all_ready_pending = true;
            if self.verdict.is_none() {
                self.verdict = Some(Verdict::Bless);
                self.verdict_pending = true;
            }
            self.sink.all_ready();
        }
        if self.stopping {
            self.advance_stop(now);
        }
        self.write_status();
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
                Phase::Running { since, .. } if !i.ready && since + ready_after > now => {
                    Some(since + ready_after)
                }
                Phase::Recycling { deadline, .. } | Phase::Stopping { deadline, .. } => {
                    Some(deadline.max(now))
                }
                _ => None,
            })
            .chain(self.check_deadlines(now))
            .chain(self.job_deadline(now))
            .min()
    }
}

#[cfg(test)]
mod tests;
