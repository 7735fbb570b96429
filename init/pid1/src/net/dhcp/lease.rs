//! A DHCP lease and its timing (RFC 2131 §4.4.5): T1 (renew with the server that
//! granted it), T2 (rebind with any server), expiry, and when to try again after
//! a failed attempt.

use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use super::packet::Packet;
use crate::net::addr;

/// The lease time that means "forever" (RFC 2132 §9.2).
const INFINITE: u32 = u32::MAX;
/// Shorter leases are stretched to this, so a server handing out a lease of
/// zero or a few seconds cannot make the renewal loop spin.
pub const MIN_LEASE_SECS: u32 = 60;
/// RFC 2131 §4.4.5: after a failed renewal, wait half the remaining time, but
/// at least this long (it is capped by the end of the phase).
const MIN_RETRY: Duration = Duration::from_secs(60);

/// Why an ACK could not become a lease.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LeaseError {
    #[error("the ack carries no usable address ({0})")]
    BadAddress(Ipv4Addr),
    #[error("the ack names no server")]
    NoServer,
    #[error("the ack carries no lease time")]
    NoLeaseTime,
    #[error("the ack's subnet mask {0} is not a prefix")]
    BadMask(Ipv4Addr),
}

/// A bound lease.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lease {
    pub address: Ipv4Addr,
    pub prefix_len: u8,
    /// The first router the server named.
    pub router: Option<Ipv4Addr>,
    pub dns: Vec<Ipv4Addr>,
    /// The server identifier: where RENEWING requests go.
    pub server: Ipv4Addr,
    /// `None` for an infinite lease.
    pub lease_secs: Option<u32>,
    /// Offsets from `start`; T1 <= T2 <= lease.
    pub t1_secs: u32,
    pub t2_secs: u32,
    /// When the REQUEST that led to this lease was sent (RFC 2131 §4.4.1).
    pub start: Instant,
}

/// Where a lease stands at some moment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Before T1: nothing to do.
    Bound,
    /// T1..T2: ask the granting server, by unicast.
    Renewing,
    /// T2..expiry: ask any server, by broadcast.
    Rebinding,
    /// Past expiry: the address must be given up.
    Expired,
}

impl Lease {
    /// The lease an ACK grants; `start` is when the request was sent.
    pub fn from_ack(ack: &Packet, start: Instant) -> Result<Self, LeaseError> {
        let address = ack.yiaddr;
        if address.is_unspecified() || address.is_broadcast() || address.is_multicast() {
            return Err(LeaseError::BadAddress(address));
        }
        let server = match ack.options.server_id {
            Some(id) => id,
            None if !ack.siaddr.is_unspecified() => ack.siaddr,
            None => return Err(LeaseError::NoServer),
        };
        let prefix_len = match ack.options.subnet_mask {
            Some(mask) => addr::prefix_len(mask).ok_or(LeaseError::BadMask(mask))?,
            None => addr::classful_prefix_len(address),
        };
        let granted = ack.options.lease_time.ok_or(LeaseError::NoLeaseTime)?;
        let (lease_secs, t1_secs, t2_secs) = if granted == INFINITE {
            (None, INFINITE, INFINITE)
        } else {
            let (t1, t2) = timers(
                granted.max(MIN_LEASE_SECS),
                ack.options.renewal_time,
                ack.options.rebinding_time,
            );
            (Some(granted.max(MIN_LEASE_SECS)), t1, t2)
        };
        Ok(Lease {
            address,
            prefix_len,
            router: ack.options.routers.first().copied(),
            dns: ack.options.dns.clone(),
            server,
            lease_secs,
            t1_secs,
            t2_secs,
            start,
        })
    }

    fn at(&self, secs: u32) -> Option<Instant> {
        self.start.checked_add(Duration::from_secs(u64::from(secs)))
    }

    /// When renewal starts; `None` for an infinite lease.
    pub fn renew_at(&self) -> Option<Instant> {
        self.lease_secs.and_then(|_| self.at(self.t1_secs))
    }

    /// When rebinding starts; `None` for an infinite lease.
    pub fn rebind_at(&self) -> Option<Instant> {
        self.lease_secs.and_then(|_| self.at(self.t2_secs))
    }

    /// When the lease runs out; `None` for an infinite lease.
    pub fn expires_at(&self) -> Option<Instant> {
        self.lease_secs.and_then(|secs| self.at(secs))
    }

    pub fn phase(&self, now: Instant) -> Phase {
        let reached = |moment: Option<Instant>| moment.is_some_and(|m| now >= m);
        if reached(self.expires_at()) {
            Phase::Expired
        } else if reached(self.rebind_at()) {
            Phase::Rebinding
        } else if reached(self.renew_at()) {
            Phase::Renewing
        } else {
            Phase::Bound
        }
    }

    /// When the renewal loop should next act on this lease, given that it has
    /// just acted (or failed to) at `now`: T1 while bound; while renewing or
    /// rebinding, half the time left in the phase but at least a minute, never
    /// past the phase's end; at once when expired. `None`: never (infinite lease).
    pub fn next_attempt(&self, now: Instant) -> Option<Instant> {
        let retry_within = |end: Option<Instant>| {
            let end = end?;
            let half = end.saturating_duration_since(now) / 2;
            let wait = half.max(MIN_RETRY);
            Some(now.checked_add(wait).map_or(end, |t| t.min(end)))
        };
        match self.phase(now) {
            Phase::Bound => self.renew_at(),
            Phase::Renewing => retry_within(self.rebind_at()),
            Phase::Rebinding => retry_within(self.expires_at()),
            Phase::Expired => Some(now),
        }
    }

    /// The last moment an attempt started at `now` may take: the end of the phase.
    pub fn phase_end(&self, now: Instant) -> Option<Instant> {
        match self.phase(now) {
            Phase::Bound => self.renew_at(),
            Phase::Renewing => self.rebind_at(),
            Phase::Rebinding => self.expires_at(),
            Phase::Expired => Some(now),
        }
    }
}

/// T1 and T2 for a finite lease: the server's values when they make sense,
/// else RFC 2131's defaults of 0.5 and 0.875 of the lease; kept in order so
/// that T1 <= T2 <= lease.
fn timers(lease: u32, t1: Option<u32>, t2: Option<u32>) -> (u32, u32) {
    let default_t2 = u32::try_from(u64::from(lease) * 7 / 8).unwrap_or(lease);
    let t2 = t2.filter(|t| *t <= lease).unwrap_or(default_t2);
    let t1 = t1.filter(|t| *t <= t2).unwrap_or((lease / 2).min(t2));
    (t1, t2)
}

#[cfg(test)]
mod tests {
    use super::super::options::{MessageType, Options};
    use super::*;

    fn ack(lease: Option<u32>, t1: Option<u32>, t2: Option<u32>) -> Packet {
        let mut packet = Packet::client([2, 0, 0, 0, 0, 1], 7, Options::default());
        packet.yiaddr = Ipv4Addr::new(10, 0, 2, 15);
        packet.options = Options {
            message_type: Some(MessageType::Ack),
            server_id: Some(Ipv4Addr::new(10, 0, 2, 2)),
            subnet_mask: Some(Ipv4Addr::new(255, 255, 255, 0)),
            routers: vec![Ipv4Addr::new(10, 0, 2, 2), Ipv4Addr::new(10, 0, 2, 1)],
            dns: vec![Ipv4Addr::new(10, 0, 2, 3)],
            lease_time: lease,
            renewal_time: t1,
            rebinding_time: t2,
            ..Options::default()
        };
        packet
    }

    fn secs(n: u64) -> Duration {
        Duration::from_secs(n)
    }

    #[test]
    fn reads_the_lease_from_an_ack() {
        let start = Instant::now();
        let lease = Lease::from_ack(&ack(Some(86400), None, None), start).unwrap();
        assert_eq!(lease.address, Ipv4Addr::new(10, 0, 2, 15));
        assert_eq!(lease.prefix_len, 24);
        assert_eq!(lease.router, Some(Ipv4Addr::new(10, 0, 2, 2)));
        assert_eq!(lease.dns, vec![Ipv4Addr::new(10, 0, 2, 3)]);
        assert_eq!(lease.server, Ipv4Addr::new(10, 0, 2, 2));
        assert_eq!(lease.lease_secs, Some(86400));
        assert_eq!((lease.t1_secs, lease.t2_secs), (43200, 75600));
        assert_eq!(lease.renew_at(), Some(start + secs(43200)));
        assert_eq!(lease.rebind_at(), Some(start + secs(75600)));
        assert_eq!(lease.expires_at(), Some(start + secs(86400)));
    }

    #[test]
    fn timers_follow_the_server_when_sane() {
        assert_eq!(timers(1000, Some(300), Some(600)), (300, 600));
        assert_eq!(timers(1000, None, None), (500, 875));
        // T2 beyond the lease: default T2; T1 beyond T2: default T1.
        assert_eq!(timers(1000, Some(900), Some(2000)), (500, 875));
        assert_eq!(timers(1000, Some(950), Some(900)), (500, 900));
        // A T2 below the default T1 pulls T1 down with it.
        assert_eq!(timers(1000, None, Some(100)), (100, 100));
        assert_eq!(
            timers(u32::MAX - 1, None, None),
            (2_147_483_647, 3_758_096_382)
        );
    }

    #[test]
    fn missing_or_odd_fields() {
        let start = Instant::now();
        let mut no_mask = ack(Some(3600), None, None);
        no_mask.options.subnet_mask = None;
        assert_eq!(Lease::from_ack(&no_mask, start).unwrap().prefix_len, 8);

        let mut holey = ack(Some(3600), None, None);
        holey.options.subnet_mask = Some(Ipv4Addr::new(255, 0, 255, 0));
        assert_eq!(
            Lease::from_ack(&holey, start).unwrap_err(),
            LeaseError::BadMask(Ipv4Addr::new(255, 0, 255, 0))
        );

        let mut no_id = ack(Some(3600), None, None);
        no_id.options.server_id = None;
        assert_eq!(
            Lease::from_ack(&no_id, start).unwrap_err(),
            LeaseError::NoServer
        );
        no_id.siaddr = Ipv4Addr::new(10, 0, 2, 4);
        assert_eq!(
            Lease::from_ack(&no_id, start).unwrap().server,
            Ipv4Addr::new(10, 0, 2, 4)
        );

        assert_eq!(
            Lease::from_ack(&ack(None, None, None), start).unwrap_err(),
            LeaseError::NoLeaseTime
        );
        let mut no_address = ack(Some(3600), None, None);
        no_address.yiaddr = Ipv4Addr::UNSPECIFIED;
        assert!(matches!(
            Lease::from_ack(&no_address, start),
            Err(LeaseError::BadAddress(_))
        ));
    }

    #[test]
    fn tiny_leases_are_stretched() {
        let lease = Lease::from_ack(&ack(Some(0), None, None), Instant::now()).unwrap();
        assert_eq!(lease.lease_secs, Some(MIN_LEASE_SECS));
        assert_eq!((lease.t1_secs, lease.t2_secs), (30, 52));
    }

    #[test]
    fn phases_follow_the_timers() {
        let start = Instant::now();
        let lease = Lease::from_ack(&ack(Some(1000), None, None), start).unwrap();
        assert_eq!(lease.phase(start), Phase::Bound);
        assert_eq!(lease.phase(start + secs(499)), Phase::Bound);
        assert_eq!(lease.phase(start + secs(500)), Phase::Renewing);
        assert_eq!(lease.phase(start + secs(875)), Phase::Rebinding);
        assert_eq!(lease.phase(start + secs(999)), Phase::Rebinding);
        assert_eq!(lease.phase(start + secs(1000)), Phase::Expired);
    }

    #[test]
    fn retries_halve_the_remaining_time_with_a_floor() {
        let start = Instant::now();
        let lease = Lease::from_ack(&ack(Some(86400), None, None), start).unwrap();
        // Bound: wait for T1.
        assert_eq!(lease.next_attempt(start), Some(start + secs(43200)));
        // Renewing at T1: half of the 32400 s left until T2.
        let t1 = start + secs(43200);
        assert_eq!(lease.next_attempt(t1), Some(t1 + secs(16200)));
        // Close to T2: at least a minute, but never past T2.
        let near_t2 = start + secs(75600 - 100);
        assert_eq!(lease.next_attempt(near_t2), Some(near_t2 + secs(60)));
        let nearer_t2 = start + secs(75600 - 30);
        assert_eq!(lease.next_attempt(nearer_t2), Some(start + secs(75600)));
        // Rebinding: half the time until expiry.
        let t2 = start + secs(75600);
        assert_eq!(lease.next_attempt(t2), Some(t2 + secs(5400)));
        assert_eq!(lease.phase_end(t2), Some(start + secs(86400)));
        // Expired: act now.
        let late = start + secs(90000);
        assert_eq!(lease.next_attempt(late), Some(late));
    }

    #[test]
    fn infinite_leases_never_renew() {
        let start = Instant::now();
        let lease = Lease::from_ack(&ack(Some(u32::MAX), Some(10), Some(20)), start).unwrap();
        assert_eq!(lease.lease_secs, None);
        assert_eq!(lease.renew_at(), None);
        assert_eq!(lease.expires_at(), None);
        assert_eq!(lease.phase(start + secs(1_000_000)), Phase::Bound);
        assert_eq!(lease.next_attempt(start + secs(1_000_000)), None);
    }
}
