//! DHCPv4 for the manifest's `dhcp = true` interfaces: the first lease within a
//! bound at boot, then renewal from one background thread.

pub mod client;
mod error;
pub mod lease;
pub mod options;
pub mod packet;
pub mod renewer;

#[cfg(test)]
mod exchange_tests;

use std::net::IpAddr;
use std::thread;
use std::time::{Duration, Instant};

use tracing::warn;

use self::client::{ClientConfig, DhcpError};
use self::lease::Lease;
use self::renewer::{LeaseSink, Managed};
use super::addr::{self, Source};
use super::{link, resolv, NetError};
use cairn_sys::thread_signals as signal_mask;

/// How long boot waits for the first lease.
pub const LEASE_WAIT: Duration = Duration::from_secs(10);

/// The summary line of a lease.
pub fn describe(lease: &Lease) -> String {
    addr::describe(
        lease.address,
        lease.prefix_len,
        lease.router,
        &dns_of(lease),
        Source::Dhcp {
            lease_secs: lease.lease_secs,
        },
    )
}

fn dns_of(lease: &Lease) -> Vec<IpAddr> {
    lease.dns.iter().copied().map(IpAddr::V4).collect()
}

/// Readies `iface` for DHCP once it exists: brings it up, reads its MAC.
pub fn prepare(iface: &str, appear_by: Instant) -> Result<ClientConfig, NetError> {
    link::wait_for(iface, appear_by)?;
    link::bring_up(iface)?;
    let mac = link::mac(iface)?;
    Ok(ClientConfig::for_interface(iface, mac))
}

/// Acquires a lease for every prepared interface (in parallel, within
/// `LEASE_WAIT`), configures the ones that got one, and hands all of them to the
/// renewal thread, which keeps looking for the leases still missing.
pub fn start(prepared: Vec<(String, ClientConfig)>) -> Vec<(String, Result<String, NetError>)> {
    if prepared.is_empty() {
        return Vec::new();
    }
    let deadline = super::after(LEASE_WAIT);
    let mut summaries = Vec::new();
    let mut managed = Vec::new();
    for ((iface, client), acquired) in acquire_all(&prepared, deadline).into_iter() {
        let outcome = acquired
            .map_err(|cause| NetError::NoLease {
                iface: iface.clone(),
                waited: LEASE_WAIT,
                cause,
            })
            .and_then(|lease| apply(&iface, &lease, None).map(|()| lease));
        match outcome {
            Ok(lease) => {
                summaries.push((iface.clone(), Ok(describe(&lease))));
                managed.push(Managed::bound(iface, client, lease));
            }
            Err(e) => {
                summaries.push((iface.clone(), Err(e)));
                managed.push(Managed::searching(iface, client));
            }
        }
    }
    if let Err(e) = renewer::spawn(managed, SystemSink) {
        warn!("dhcp: cannot start the renewal thread: {e}; leases will not be renewed");
    }
    summaries
}

/// One acquisition per interface, each on its own thread so one silent network
/// does not eat the others' time.
fn acquire_all(
    prepared: &[(String, ClientConfig)],
    deadline: Instant,
) -> Vec<((String, ClientConfig), Result<Lease, DhcpError>)> {
    thread::scope(|scope| {
        let attempts: Vec<_> = prepared
            .iter()
            .map(|(iface, client)| {
                let spawned = signal_mask::with_signals_blocked(|| {
                    thread::Builder::new()
                        .name(format!("dhcp-{iface}"))
                        .spawn_scoped(scope, move || client::acquire(client, deadline))
                });
                match spawned {
                    Ok(handle) => Attempt::Running(handle),
                    // No thread: do it here, one after the other.
                    Err(_) => Attempt::Done(client::acquire(client, deadline)),
                }
            })
            .collect();
        prepared
            .iter()
            .cloned()
            .zip(attempts.into_iter().map(|attempt| match attempt {
                Attempt::Running(handle) => handle.join().unwrap_or(Err(DhcpError::Crashed)),
                Attempt::Done(result) => result,
            }))
            .collect()
    })
}

enum Attempt<'scope> {
    Running(thread::ScopedJoinHandle<'scope, Result<Lease, DhcpError>>),
    Done(Result<Lease, DhcpError>),
}

/// Makes the system match `lease`: address, default route, DNS servers.
/// `previous` is the lease the interface held until now; only what changed is touched.
pub fn apply(iface: &str, lease: &Lease, previous: Option<&Lease>) -> Result<(), NetError> {
    let moved =
        previous.is_none_or(|p| p.address != lease.address || p.prefix_len != lease.prefix_len);
    if moved {
        link::set_ipv4(iface, lease.address, lease.prefix_len)?;
    }
    let old_router = previous.and_then(|p| p.router);
    if moved || old_router != lease.router {
        if let Some(old) = old_router.filter(|old| Some(*old) != lease.router) {
            if let Err(e) = link::delete_default_route(iface, old) {
                warn!("{e}");
            }
        }
        if let Some(router) = lease.router {
            if addr::same_subnet(lease.address, lease.prefix_len, router) {
                link::add_default_route(iface, router)?;
            } else {
                warn!(
                    "{iface}: router {router} is outside {}/{}, no default route",
                    lease.address, lease.prefix_len
                );
            }
        }
    }
    if let Err(e) = resolv::set_servers(iface, &dns_of(lease)) {
        warn!("{iface}: {e}");
    }
    Ok(())
}

/// Gives up what `lease` configured: DNS servers, default route, address.
pub fn release(iface: &str, lease: &Lease) -> Result<(), NetError> {
    if let Err(e) = resolv::set_servers(iface, &[]) {
        warn!("{iface}: {e}");
    }
    if let Some(router) = lease.router {
        link::delete_default_route(iface, router)?;
    }
    link::clear_ipv4(iface)
}

/// The renewal thread's hands on the real system.
#[derive(Debug)]
struct SystemSink;

impl LeaseSink for SystemSink {
    fn bound(&mut self, iface: &str, lease: &Lease, previous: Option<&Lease>) {
        if let Err(e) = apply(iface, lease, previous) {
            warn!("{e}");
        }
    }

    fn lost(&mut self, iface: &str, lease: &Lease) {
        if let Err(e) = release(iface, lease) {
            warn!("{e}");
        }
    }
}
