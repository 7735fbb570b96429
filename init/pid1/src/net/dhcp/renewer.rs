//! The one background thread that keeps every DHCP lease alive: it sleeps until
//! the next lease needs attention, renews at T1, rebinds at T2, and starts
//! discovery again when a lease runs out or a server refuses it.
//!
//! It must never take PID 1 down: every failure is logged and retried later.

use std::io;
use std::thread;
use std::time::{Duration, Instant};

use tracing::{info, warn};

use super::client::{self, ClientConfig, DhcpError, Extension};
use super::lease::{Lease, Phase};

/// How long one attempt (an extension or a fresh acquisition) may take.
pub const ATTEMPT_BOUND: Duration = Duration::from_secs(10);
/// Without a lease, the wait between acquisition attempts starts here and
/// doubles up to `MAX_SEARCH_RETRY`.
const FIRST_SEARCH_RETRY: Duration = Duration::from_secs(10);
const MAX_SEARCH_RETRY: Duration = Duration::from_secs(300);

/// What happens to the system when a lease comes or goes.
pub trait LeaseSink: Send {
    /// The interface now holds `lease`; `previous` is the lease it held before.
    fn bound(&mut self, iface: &str, lease: &Lease, previous: Option<&Lease>);
    /// The interface no longer holds `lease`: its address must go.
    fn lost(&mut self, iface: &str, lease: &Lease);
}

/// Where one interface's lease stands.
#[derive(Debug)]
pub enum State {
    /// Holding `lease`; act again at `wake` (`None`: never, an infinite lease).
    Bound { lease: Lease, wake: Option<Instant> },
    /// Without a lease; try to acquire one at `wake`.
    Searching { wake: Instant, retry: Duration },
}

/// One interface the thread looks after.
#[derive(Debug)]
pub struct Managed {
    pub iface: String,
    pub client: ClientConfig,
    pub state: State,
    /// How long one attempt may take (`ATTEMPT_BOUND`; shorter in tests).
    pub attempt: Duration,
}

fn after(now: Instant, wait: Duration) -> Instant {
    now.checked_add(wait).unwrap_or(now)
}

impl Managed {
    /// An interface that holds `lease`: it needs attention at T1, or at once if
    /// T1 has passed.
    pub fn bound(iface: String, client: ClientConfig, lease: Lease) -> Self {
        let now = Instant::now();
        let wake = match lease.phase(now) {
            Phase::Bound => lease.renew_at(),
            _ => Some(now),
        };
        Managed {
            iface,
            client,
            state: State::Bound { lease, wake },
            attempt: ATTEMPT_BOUND,
        }
    }

    /// An interface that has no lease yet: the next attempt comes after a pause.
    pub fn searching(iface: String, client: ClientConfig) -> Self {
        Managed {
            iface,
            client,
            state: State::Searching {
                wake: after(Instant::now(), FIRST_SEARCH_RETRY),
                retry: FIRST_SEARCH_RETRY.saturating_mul(2),
            },
            attempt: ATTEMPT_BOUND,
        }
    }

    /// When this interface next needs attention.
    pub fn wake(&self) -> Option<Instant> {
        match &self.state {
            State::Bound { wake, .. } => *wake,
            State::Searching { wake, .. } => Some(*wake),
        }
    }

    /// Does what is due at `now`, if anything.
    pub fn step(&mut self, now: Instant, sink: &mut dyn LeaseSink) {
        if self.wake().is_none_or(|wake| now < wake) {
            return;
        }
        let next = match &self.state {
            State::Bound { lease, .. } => self.tend(lease, now, sink),
            State::Searching { retry, .. } => self.search(*retry, now, sink),
        };
        self.state = next;
    }

    fn tend(&self, lease: &Lease, now: Instant, sink: &mut dyn LeaseSink) -> State {
        let iface = &self.iface;
        let how = match lease.phase(now) {
            Phase::Bound => {
                return State::Bound {
                    lease: lease.clone(),
                    wake: lease.next_attempt(now),
                };
            }
            Phase::Renewing => Extension::Renew,
            Phase::Rebinding => Extension::Rebind,
            Phase::Expired => {
                warn!(
                    "{iface}: dhcp lease on {} expired, looking for a new one",
                    lease.address
                );
                sink.lost(iface, lease);
                return State::Searching {
                    wake: now,
                    retry: FIRST_SEARCH_RETRY,
                };
            }
        };
        let deadline = lease
            .phase_end(now)
            .map_or(after(now, self.attempt), |end| {
                end.min(after(now, self.attempt))
            });
        match client::extend(&self.client, lease, how, deadline) {
            Ok(renewed) => {
                info!("{iface}: dhcp lease renewed: {}", super::describe(&renewed));
                sink.bound(iface, &renewed, Some(lease));
                State::Bound {
                    wake: renewed.next_attempt(Instant::now()),
                    lease: renewed,
                }
            }
            Err(DhcpError::Nak(server)) => {
                warn!(
                    "{iface}: dhcp server {server} refused to extend the lease on {}, looking for a new one",
                    lease.address
                );
                sink.lost(iface, lease);
                State::Searching {
                    wake: Instant::now(),
                    retry: FIRST_SEARCH_RETRY,
                }
            }
            Err(e) => {
                let wake = lease.next_attempt(Instant::now());
                let when =
                    wake.map_or(0, |w| w.saturating_duration_since(Instant::now()).as_secs());
                let verb = if how == Extension::Renew {
                    "renew"
                } else {
                    "rebind"
                };
                warn!("{iface}: cannot {verb} the dhcp lease: {e}; next attempt in {when}s");
                State::Bound {
                    lease: lease.clone(),
                    wake,
                }
            }
        }
    }

    fn search(&self, retry: Duration, now: Instant, sink: &mut dyn LeaseSink) -> State {
        let iface = &self.iface;
        match client::acquire(&self.client, after(now, self.attempt)) {
            Ok(lease) => {
                info!("{iface}: {}", super::describe(&lease));
                sink.bound(iface, &lease, None);
                State::Bound {
                    wake: lease.next_attempt(Instant::now()),
                    lease,
                }
            }
            Err(e) => {
                warn!(
                    "{iface}: still no dhcp lease: {e}; next attempt in {}s",
                    retry.as_secs()
                );
                State::Searching {
                    wake: after(Instant::now(), retry),
                    retry: retry.saturating_mul(2).min(MAX_SEARCH_RETRY),
                }
            }
        }
    }
}

/// The thread's loop: sleep until the next interface needs attention, act, repeat.
/// Returns only when no lease will ever need renewing again (all infinite).
pub fn run(mut managed: Vec<Managed>, mut sink: impl LeaseSink) {
    loop {
        let Some(next) = managed.iter().filter_map(Managed::wake).min() else {
            info!("dhcp: every lease is infinite, nothing left to renew");
            return;
        };
        let wait = next.saturating_duration_since(Instant::now());
        if !wait.is_zero() {
            thread::sleep(wait);
            continue;
        }
        for interface in &mut managed {
            interface.step(Instant::now(), &mut sink);
        }
    }
}

/// Starts the renewal thread for `managed`.
pub fn spawn(managed: Vec<Managed>, sink: impl LeaseSink + 'static) -> io::Result<()> {
    cairn_sys::thread_signals::with_signals_blocked(|| {
        thread::Builder::new()
            .name("dhcp-renew".into())
            .spawn(move || run(managed, sink))
    })
    .map(drop)
}
