//! The DHCP exchanges (RFC 2131 §3.1, §4.4): acquiring a lease
//! (DISCOVER -> OFFER -> REQUEST -> ACK) and extending one (a REQUEST unicast to
//! the granting server while RENEWING, broadcast while REBINDING).
//!
//! The client speaks plain UDP. Bound to the interface (SO_BINDTODEVICE) on
//! 0.0.0.0:68, Linux lets it broadcast and receive broadcasts before the
//! interface has an address. Every address and port comes from [`ClientConfig`],
//! so tests run the same state machine against a server on loopback.

use std::ffi::OsString;
use std::fs::File;
use std::hash::{BuildHasher, RandomState};
use std::io::{self, Read};
use std::net::{Ipv4Addr, SocketAddrV4, UdpSocket};
use std::os::fd::{AsRawFd, OwnedFd};
use std::time::{Duration, Instant};

use nix::sys::socket::{
    bind, setsockopt, socket, sockopt, AddressFamily, SockFlag, SockType, SockaddrIn,
};
use tracing::debug;

use super::lease::{Lease, LeaseError};
use super::options::{MessageType, Options};
use super::packet::{Op, Packet, FLAG_BROADCAST};

pub const SERVER_PORT: u16 = 67;
pub const CLIENT_PORT: u16 = 68;
/// The first retransmission comes after this long; each next one after twice
/// as long as the last, up to `MAX_RETRANSMIT` (RFC 2131 §4.1 starts at 4 s;
/// a booting appliance wants its address sooner).
const FIRST_RETRANSMIT: Duration = Duration::from_secs(1);
const MAX_RETRANSMIT: Duration = Duration::from_secs(16);
/// Subnet mask, router, DNS, host name, lease time, T1, T2.
const PARAMETERS: [u8; 7] = [1, 3, 6, 12, 51, 58, 59];
/// Ethernet MTU: lets a server put more options in one reply than 576 bytes hold.
const MAX_MESSAGE_SIZE: u16 = 1500;
/// Pause before starting over after a NAK or a useless OFFER, so a misbehaving
/// server cannot make the client spin.
const START_OVER_PAUSE: Duration = Duration::from_secs(1);

/// Where and as whom the client talks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientConfig {
    /// The interface to bind to (SO_BINDTODEVICE); `None` only in tests.
    pub device: Option<String>,
    /// The local address: 0.0.0.0:68 on a real network.
    pub bind: SocketAddrV4,
    /// Where broadcasts go: 255.255.255.255:67 on a real network.
    pub broadcast: SocketAddrV4,
    /// The server port for requests unicast to the server while renewing.
    pub server_port: u16,
    /// The interface's Ethernet address: `chaddr` and the client identifier.
    pub mac: [u8; 6],
}

impl ClientConfig {
    /// The standard configuration for interface `name`.
    pub fn for_interface(name: &str, mac: [u8; 6]) -> Self {
        ClientConfig {
            device: Some(name.to_owned()),
            bind: SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, CLIENT_PORT),
            broadcast: SocketAddrV4::new(Ipv4Addr::BROADCAST, SERVER_PORT),
            server_port: SERVER_PORT,
            mac,
        }
    }

    /// A client message of `kind` carrying the options every message carries.
    fn message(&self, kind: MessageType, xid: u32) -> Packet {
        let mut client_id = vec![super::packet::HTYPE_ETHERNET];
        client_id.extend_from_slice(&self.mac);
        let options = Options {
            message_type: Some(kind),
            parameter_request: PARAMETERS.to_vec(),
            max_message_size: Some(MAX_MESSAGE_SIZE),
            client_id: Some(client_id),
            ..Options::default()
        };
        Packet::client(self.mac, xid, options)
    }
}

/// Why an exchange failed.
#[derive(Debug, thiserror::Error)]
pub enum DhcpError {
    #[error("cannot open the dhcp socket: {0}")]
    Socket(io::Error),
    #[error("cannot send a dhcp message: {0}")]
    Send(io::Error),
    #[error("cannot receive dhcp messages: {0}")]
    Receive(io::Error),
    #[error("no answer from a dhcp server")]
    NoAnswer,
    #[error("dhcp server {0} refused the request")]
    Nak(Ipv4Addr),
    #[error("unusable lease from {server}: {error}")]
    BadLease { server: Ipv4Addr, error: LeaseError },
    #[error("the dhcp attempt stopped unexpectedly")]
    Crashed,
}

/// How an existing lease is extended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Extension {
    /// RENEWING: ask the server that granted the lease, by unicast.
    Renew,
    /// REBINDING: ask any server, by broadcast.
    Rebind,
}

/// Acquires a new lease, or fails once `deadline` has passed.
pub fn acquire(config: &ClientConfig, deadline: Instant) -> Result<Lease, DhcpError> {
    let exchange = Exchange::open(config)?;
    loop {
        let xid = random_xid();
        let mut discover = config.message(MessageType::Discover, xid);
        discover.flags = FLAG_BROADCAST;
        let offer = exchange.transact(
            &mut discover,
            config.broadcast,
            &[MessageType::Offer],
            deadline,
        )?;
        let Some(server) = offer.options.server_id else {
            debug!("dhcp offer of {} names no server, ignored", offer.yiaddr);
            pause(START_OVER_PAUSE, deadline);
            continue;
        };

        let mut request = config.message(MessageType::Request, xid);
        request.flags = FLAG_BROADCAST;
        request.secs = discover.secs;
        request.options.requested_ip = Some(offer.yiaddr);
        request.options.server_id = Some(server);
        let sent = Instant::now();
        let reply = exchange.transact(
            &mut request,
            config.broadcast,
            &[MessageType::Ack, MessageType::Nak],
            deadline,
        )?;
        if reply.options.message_type == Some(MessageType::Ack) {
            return Lease::from_ack(&reply, sent)
                .map_err(|error| DhcpError::BadLease { server, error });
        }
        debug!(
            "dhcp server {server} withdrew its offer of {}, starting over",
            offer.yiaddr
        );
        pause(START_OVER_PAUSE, deadline);
    }
}

/// Extends `lease` (RFC 2131 §4.4.5), or fails once `deadline` has passed.
pub fn extend(
    config: &ClientConfig,
    lease: &Lease,
    how: Extension,
    deadline: Instant,
) -> Result<Lease, DhcpError> {
    let exchange = Exchange::open(config)?;
    // The address is in use, so the server may answer by unicast: no
    // broadcast flag, ciaddr set, no requested-IP or server-id option.
    let mut request = config.message(MessageType::Request, random_xid());
    request.ciaddr = lease.address;
    let to = match how {
        Extension::Renew => SocketAddrV4::new(lease.server, config.server_port),
        Extension::Rebind => config.broadcast,
    };
    let sent = Instant::now();
    let mut reply = exchange.transact(
        &mut request,
        to,
        &[MessageType::Ack, MessageType::Nak],
        deadline,
    )?;
    let server = reply.options.server_id.unwrap_or(lease.server);
    if reply.options.message_type == Some(MessageType::Nak) {
        return Err(DhcpError::Nak(server));
    }
    reply.options.server_id = Some(server);
    Lease::from_ack(&reply, sent).map_err(|error| DhcpError::BadLease { server, error })
}

/// One socket for the messages of one acquisition or extension.
struct Exchange<'a> {
    config: &'a ClientConfig,
    socket: UdpSocket,
    began: Instant,
}

impl<'a> Exchange<'a> {
    fn open(config: &'a ClientConfig) -> Result<Self, DhcpError> {
        let socket = open_socket(config).map_err(|e| DhcpError::Socket(e.into()))?;
        Ok(Exchange {
            config,
            socket: UdpSocket::from(socket),
            began: Instant::now(),
        })
    }

    /// Sends `request` to `to` and retransmits it with backoff until a reply of
    /// one of the `wanted` types arrives for it, or `deadline` passes.
    fn transact(
        &self,
        request: &mut Packet,
        to: SocketAddrV4,
        wanted: &[MessageType],
        deadline: Instant,
    ) -> Result<Packet, DhcpError> {
        let mut wait = FIRST_RETRANSMIT;
        let mut send_error = None;
        loop {
            let now = Instant::now();
            if now >= deadline {
                return Err(send_error.map_or(DhcpError::NoAnswer, DhcpError::Send));
            }
            let elapsed = now.saturating_duration_since(self.began).as_secs();
            request.secs = u16::try_from(elapsed).unwrap_or(u16::MAX);
            // A send can fail while the link is still coming up; keep trying
            // until the deadline and report the error only if nothing came back.
            match self.socket.send_to(&request.encode(), to) {
                Ok(_) => send_error = None,
                Err(e) => {
                    debug!("dhcp send to {to} failed: {e}");
                    send_error = Some(e);
                }
            }
            let until = now.checked_add(wait).map_or(deadline, |t| t.min(deadline));
            if let Some(reply) = self.receive(request, wanted, until)? {
                return Ok(reply);
            }
            wait = wait.saturating_mul(2).min(MAX_RETRANSMIT);
        }
    }

    /// Waits until `until` for a reply to `request`; everything else is dropped.
    fn receive(
        &self,
        request: &Packet,
        wanted: &[MessageType],
        until: Instant,
    ) -> Result<Option<Packet>, DhcpError> {
        let mut buffer = [0u8; 4096];
        loop {
            let left = until.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Ok(None);
            }
            self.socket
                .set_read_timeout(Some(left))
                .map_err(DhcpError::Receive)?;
            match self.socket.recv_from(&mut buffer) {
                Ok((len, from)) => {
                    let datagram = buffer.get(..len).unwrap_or_default();
                    match Packet::decode(datagram) {
                        Ok(reply) if is_reply_to(&reply, request, self.config.mac, wanted) => {
                            return Ok(Some(reply));
                        }
                        Ok(_) => {}
                        Err(e) => debug!("dhcp: ignored a datagram from {from}: {e}"),
                    }
                }
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::WouldBlock
                            | io::ErrorKind::TimedOut
                            | io::ErrorKind::Interrupted
                    ) => {}
                Err(e) => return Err(DhcpError::Receive(e)),
            }
        }
    }
}

fn open_socket(config: &ClientConfig) -> nix::Result<OwnedFd> {
    let fd = socket(
        AddressFamily::Inet,
        SockType::Datagram,
        SockFlag::SOCK_CLOEXEC,
        None,
    )?;
    // Renewal opens a new socket on port 68 while an old one may linger.
    setsockopt(&fd, sockopt::ReuseAddr, &true)?;
    setsockopt(&fd, sockopt::Broadcast, &true)?;
    if let Some(device) = &config.device {
        setsockopt(&fd, sockopt::BindToDevice, &OsString::from(device))?;
    }
    bind(fd.as_raw_fd(), &SockaddrIn::from(config.bind))?;
    Ok(fd)
}

/// Whether `reply` answers `request`: a server reply with its transaction id, for
/// this client's hardware address, of a wanted type.
fn is_reply_to(reply: &Packet, request: &Packet, mac: [u8; 6], wanted: &[MessageType]) -> bool {
    reply.op == Op::Reply
        && reply.xid == request.xid
        && reply.hardware_address() == mac
        && reply
            .options
            .message_type
            .is_some_and(|kind| wanted.contains(&kind))
}

/// A transaction id (RFC 2131 §4.1: random, so that clients booting together
/// do not take each other's replies).
fn random_xid() -> u32 {
    let mut bytes = [0u8; 4];
    if File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut bytes))
        .is_ok()
    {
        return u32::from_ne_bytes(bytes);
    }
    // Without /dev yet: std's hash keys come from the getrandom system call.
    let hash = RandomState::new().hash_one(Instant::now());
    u32::try_from(hash & u64::from(u32::MAX)).unwrap_or_default()
}

fn pause(duration: Duration, deadline: Instant) {
    let left = deadline.saturating_duration_since(Instant::now());
    std::thread::sleep(duration.min(left));
}

#[cfg(test)]
mod tests {
    use super::*;

    const MAC: [u8; 6] = [0x52, 0x54, 0x00, 0x12, 0x34, 0x56];

    fn reply_to(request: &Packet, kind: MessageType) -> Packet {
        let mut reply = request.clone();
        reply.op = Op::Reply;
        reply.options = Options {
            message_type: Some(kind),
            ..Options::default()
        };
        reply
    }

    #[test]
    fn replies_are_matched_by_xid_hardware_address_and_type() {
        let config = ClientConfig::for_interface("eth0", MAC);
        let request = config.message(MessageType::Discover, 42);
        let offer = reply_to(&request, MessageType::Offer);
        assert!(is_reply_to(&offer, &request, MAC, &[MessageType::Offer]));
        assert!(!is_reply_to(&offer, &request, MAC, &[MessageType::Ack]));

        let mut other_xid = offer.clone();
        other_xid.xid = 43;
        assert!(!is_reply_to(
            &other_xid,
            &request,
            MAC,
            &[MessageType::Offer]
        ));
        let mut other_client = offer.clone();
        other_client.chaddr[5] = 0x57;
        assert!(!is_reply_to(
            &other_client,
            &request,
            MAC,
            &[MessageType::Offer]
        ));
        // Another client's request seen on the wire is not a reply.
        assert!(!is_reply_to(
            &request,
            &request,
            MAC,
            &[MessageType::Discover]
        ));
        let mut untyped = offer;
        untyped.options.message_type = None;
        assert!(!is_reply_to(&untyped, &request, MAC, &[MessageType::Offer]));
    }

    #[test]
    fn every_message_identifies_the_client_and_asks_for_the_parameters() {
        let config = ClientConfig::for_interface("eth0", MAC);
        assert_eq!(config.bind, "0.0.0.0:68".parse().unwrap());
        assert_eq!(config.broadcast, "255.255.255.255:67".parse().unwrap());
        let message = config.message(MessageType::Request, 9);
        assert_eq!(message.hardware_address(), &MAC);
        assert_eq!(
            message.options.parameter_request,
            vec![1, 3, 6, 12, 51, 58, 59]
        );
        assert_eq!(
            message.options.client_id,
            Some(vec![1, 0x52, 0x54, 0x00, 0x12, 0x34, 0x56])
        );
    }

    #[test]
    fn transaction_ids_differ() {
        let ids: std::collections::BTreeSet<u32> = (0..16).map(|_| random_xid()).collect();
        assert!(ids.len() > 1);
    }
}
