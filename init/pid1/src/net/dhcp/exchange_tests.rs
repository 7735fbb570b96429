//! The client and the renewal state machine against a scripted DHCP server on
//! loopback: no root and no interface needed, the same code as on a real network.

use std::net::{Ipv4Addr, SocketAddrV4, UdpSocket};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use super::client::{self, ClientConfig, DhcpError, Extension};
use super::lease::Lease;
use super::options::{MessageType, Options};
use super::packet::{Op, Packet, FLAG_BROADCAST};
use super::renewer::{self, LeaseSink, Managed, State};

const MAC: [u8; 6] = [0x52, 0x54, 0x00, 0x12, 0x34, 0x56];
const SERVER: Ipv4Addr = Ipv4Addr::LOCALHOST;
const OFFERED: Ipv4Addr = Ipv4Addr::new(10, 0, 2, 15);
const ROUTER: Ipv4Addr = Ipv4Addr::new(10, 0, 2, 2);
const DNS: Ipv4Addr = Ipv4Addr::new(10, 0, 2, 3);

/// A DHCP server on 127.0.0.1 that answers the n-th message it receives
/// (0-based) with whatever datagrams its script returns, to the sender.
struct FakeServer {
    config: ClientConfig,
    seen: Arc<Mutex<Vec<Packet>>>,
    stop: Arc<AtomicBool>,
}

impl FakeServer {
    fn start(mut script: impl FnMut(usize, &Packet) -> Vec<Vec<u8>> + Send + 'static) -> Self {
        let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
        socket
            .set_read_timeout(Some(Duration::from_millis(50)))
            .unwrap();
        let port = socket.local_addr().unwrap().port();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let (log, stopped) = (Arc::clone(&seen), Arc::clone(&stop));
        thread::spawn(move || {
            let mut buffer = [0u8; 2048];
            while !stopped.load(Ordering::Relaxed) {
                let Ok((len, peer)) = socket.recv_from(&mut buffer) else {
                    continue;
                };
                let packet = Packet::decode(&buffer[..len]).unwrap();
                let n = {
                    let mut log = log.lock().unwrap();
                    log.push(packet.clone());
                    log.len() - 1
                };
                for datagram in script(n, &packet) {
                    socket.send_to(&datagram, peer).unwrap();
                }
            }
        });
        let config = ClientConfig {
            device: None,
            bind: SocketAddrV4::new(Ipv4Addr::LOCALHOST, 0),
            broadcast: SocketAddrV4::new(SERVER, port),
            server_port: port,
            mac: MAC,
        };
        FakeServer { config, seen, stop }
    }

    fn seen(&self) -> Vec<Packet> {
        self.seen.lock().unwrap().clone()
    }

    fn kinds(&self) -> Vec<MessageType> {
        self.seen()
            .iter()
            .map(|p| p.options.message_type.unwrap())
            .collect()
    }
}

impl Drop for FakeServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// The server's answer of `kind` to `request`, as QEMU's user network would send it.
fn answer(request: &Packet, kind: MessageType) -> Vec<u8> {
    let mut reply = request.clone();
    reply.op = Op::Reply;
    reply.ciaddr = Ipv4Addr::UNSPECIFIED;
    reply.options = Options {
        message_type: Some(kind),
        server_id: Some(SERVER),
        ..Options::default()
    };
    if kind != MessageType::Nak {
        reply.yiaddr = OFFERED;
        reply.options.subnet_mask = Some(Ipv4Addr::new(255, 255, 255, 0));
        reply.options.routers = vec![ROUTER];
        reply.options.dns = vec![DNS];
        reply.options.lease_time = Some(86400);
    }
    reply.encode()
}

/// A well-behaved server: OFFER for DISCOVER, ACK for REQUEST.
fn standard(_n: usize, request: &Packet) -> Vec<Vec<u8>> {
    match request.options.message_type {
        Some(MessageType::Discover) => vec![answer(request, MessageType::Offer)],
        Some(MessageType::Request) => vec![answer(request, MessageType::Ack)],
        _ => vec![],
    }
}

fn soon(seconds: f64) -> Instant {
    Instant::now() + Duration::from_secs_f64(seconds)
}

#[test]
fn acquires_a_lease_in_four_messages() {
    let server = FakeServer::start(standard);
    let before = Instant::now();
    let lease = client::acquire(&server.config, soon(5.0)).unwrap();
    assert_eq!(lease.address, OFFERED);
    assert_eq!(lease.prefix_len, 24);
    assert_eq!(lease.router, Some(ROUTER));
    assert_eq!(lease.dns, vec![DNS]);
    assert_eq!(lease.server, SERVER);
    assert_eq!(lease.lease_secs, Some(86400));
    assert!(lease.start >= before);
    assert_eq!(
        super::describe(&lease),
        "10.0.2.15/24 via 10.0.2.2, dns 10.0.2.3 (dhcp, lease 86400s)"
    );

    assert_eq!(
        server.kinds(),
        [MessageType::Discover, MessageType::Request]
    );
    let seen = server.seen();
    let (discover, request) = (&seen[0], &seen[1]);
    assert_eq!(discover.flags, FLAG_BROADCAST);
    assert_eq!(discover.ciaddr, Ipv4Addr::UNSPECIFIED);
    assert_eq!(discover.hardware_address(), &MAC);
    assert_eq!(
        discover.options.parameter_request,
        [1, 3, 6, 12, 51, 58, 59]
    );
    assert_eq!(
        discover.options.client_id.as_deref(),
        Some(&[1, 0x52, 0x54, 0x00, 0x12, 0x34, 0x56][..])
    );
    assert_eq!(request.xid, discover.xid);
    assert_eq!(request.flags, FLAG_BROADCAST);
    assert_eq!(request.ciaddr, Ipv4Addr::UNSPECIFIED);
    assert_eq!(request.options.requested_ip, Some(OFFERED));
    assert_eq!(request.options.server_id, Some(SERVER));
}

#[test]
fn a_lost_discover_is_sent_again_after_a_second() {
    let server = FakeServer::start(|n, request| if n == 0 { vec![] } else { standard(n, request) });
    let began = Instant::now();
    client::acquire(&server.config, soon(5.0)).unwrap();
    let took = began.elapsed();
    assert!(took >= Duration::from_secs(1), "{took:?}");
    assert!(took < Duration::from_secs(3), "{took:?}");
    assert_eq!(
        server.kinds(),
        [
            MessageType::Discover,
            MessageType::Discover,
            MessageType::Request
        ]
    );
    let seen = server.seen();
    assert_eq!(seen[0].xid, seen[1].xid, "a retransmission keeps its xid");
    assert_eq!(seen[1].secs, 1, "secs counts from the first message");
}

#[test]
fn a_nak_starts_discovery_over() {
    let mut refused = false;
    let server = FakeServer::start(move |n, request| {
        if request.options.message_type == Some(MessageType::Request) && !refused {
            refused = true;
            return vec![answer(request, MessageType::Nak)];
        }
        standard(n, request)
    });
    let lease = client::acquire(&server.config, soon(5.0)).unwrap();
    assert_eq!(lease.address, OFFERED);
    assert_eq!(
        server.kinds(),
        [
            MessageType::Discover,
            MessageType::Request,
            MessageType::Discover,
            MessageType::Request
        ]
    );
}

#[test]
fn foreign_and_malformed_replies_are_ignored() {
    let server = FakeServer::start(|n, request| {
        if request.options.message_type != Some(MessageType::Discover) {
            return standard(n, request);
        }
        let good = answer(request, MessageType::Offer);
        let mut other_xid = Packet::decode(&good).unwrap();
        other_xid.xid ^= 1;
        let mut other_client = Packet::decode(&good).unwrap();
        other_client.chaddr[0] ^= 0xff;
        let mut wrong_kind = Packet::decode(&good).unwrap();
        wrong_kind.options.message_type = Some(MessageType::Ack);
        vec![
            b"not dhcp".to_vec(),
            good[..245].to_vec(), // cut inside an option
            other_xid.encode(),
            other_client.encode(),
            wrong_kind.encode(),
            good,
        ]
    });
    let began = Instant::now();
    let lease = client::acquire(&server.config, soon(5.0)).unwrap();
    assert_eq!(lease.address, OFFERED);
    assert!(
        began.elapsed() < Duration::from_secs(1),
        "no retransmission needed"
    );
    assert_eq!(
        server.kinds(),
        [MessageType::Discover, MessageType::Request]
    );
}

#[test]
fn gives_up_at_the_deadline_when_no_server_answers() {
    let server = FakeServer::start(|_, _| vec![]);
    let began = Instant::now();
    let err = client::acquire(&server.config, soon(1.5)).unwrap_err();
    let took = began.elapsed();
    assert!(matches!(err, DhcpError::NoAnswer), "{err}");
    assert!(took >= Duration::from_millis(1500), "{took:?}");
    assert!(took < Duration::from_millis(2500), "{took:?}");
    // Sent at 0 s and retransmitted at 1 s; the next would have come at 3 s.
    assert_eq!(
        server.kinds(),
        [MessageType::Discover, MessageType::Discover]
    );
}

#[test]
fn renewal_asks_with_the_leased_address() {
    let server = FakeServer::start(standard);
    let lease = client::acquire(&server.config, soon(5.0)).unwrap();
    for how in [Extension::Renew, Extension::Rebind] {
        let renewed = client::extend(&server.config, &lease, how, soon(5.0)).unwrap();
        assert_eq!(renewed.address, OFFERED);
        assert!(renewed.start > lease.start);
        let request = server.seen().pop().unwrap();
        assert_eq!(request.options.message_type, Some(MessageType::Request));
        assert_eq!(request.ciaddr, OFFERED);
        assert_eq!(request.flags, 0, "the client can take a unicast reply");
        assert_eq!(request.options.requested_ip, None);
        assert_eq!(request.options.server_id, None);
    }
}

#[test]
fn a_refused_renewal_is_a_nak() {
    let server = FakeServer::start(|_, request| vec![answer(request, MessageType::Nak)]);
    let lease = leased(Duration::from_secs(50_000));
    let err = client::extend(&server.config, &lease, Extension::Renew, soon(5.0)).unwrap_err();
    assert!(
        matches!(err, DhcpError::Nak(server) if server == SERVER),
        "{err}"
    );
}

/// The lease the fake server grants, acquired `age` ago.
fn leased(age: Duration) -> Lease {
    Lease {
        address: OFFERED,
        prefix_len: 24,
        router: Some(ROUTER),
        dns: vec![DNS],
        server: SERVER,
        lease_secs: Some(86400),
        t1_secs: 43200,
        t2_secs: 75600,
        start: Instant::now().checked_sub(age).unwrap(),
    }
}

/// Records what the renewal state machine does to the system.
#[derive(Debug, Default)]
struct Recorder(Vec<String>);

impl LeaseSink for Recorder {
    fn bound(&mut self, iface: &str, lease: &Lease, previous: Option<&Lease>) {
        let had = previous.map_or("nothing".to_string(), |p| p.address.to_string());
        self.0
            .push(format!("{iface} bound {} (had {had})", lease.address));
    }

    fn lost(&mut self, iface: &str, lease: &Lease) {
        self.0.push(format!("{iface} lost {}", lease.address));
    }
}

fn managed(server: &FakeServer, lease: Lease) -> Managed {
    let mut managed = Managed::bound("eth0".into(), server.config.clone(), lease);
    managed.attempt = Duration::from_millis(1500);
    managed
}

#[test]
fn a_lease_past_t1_is_renewed_and_sleeps_until_the_next_t1() {
    let server = FakeServer::start(standard);
    let mut eth0 = managed(&server, leased(Duration::from_secs(50_000)));
    let mut sink = Recorder::default();
    eth0.step(Instant::now(), &mut sink);
    assert_eq!(sink.0, ["eth0 bound 10.0.2.15 (had 10.0.2.15)"]);
    let State::Bound { lease, wake } = &eth0.state else {
        panic!("not bound: {:?}", eth0.state);
    };
    assert!(lease.start.elapsed() < Duration::from_secs(5));
    assert_eq!(*wake, lease.renew_at());
    assert_eq!(server.kinds(), [MessageType::Request]);
}

#[test]
fn nothing_happens_before_t1() {
    let server = FakeServer::start(standard);
    let mut eth0 = managed(&server, leased(Duration::from_secs(10)));
    let mut sink = Recorder::default();
    eth0.step(Instant::now(), &mut sink);
    assert!(sink.0.is_empty());
    assert!(server.seen().is_empty());
}

#[test]
fn an_expired_lease_is_given_up_then_a_new_one_found() {
    let server = FakeServer::start(standard);
    let mut eth0 = managed(&server, leased(Duration::from_secs(90_000)));
    let mut sink = Recorder::default();
    eth0.step(Instant::now(), &mut sink);
    assert_eq!(sink.0, ["eth0 lost 10.0.2.15"]);
    assert!(matches!(eth0.state, State::Searching { .. }));
    assert!(server.seen().is_empty(), "an expired lease is not renewed");
    eth0.step(Instant::now(), &mut sink);
    assert_eq!(sink.0[1], "eth0 bound 10.0.2.15 (had nothing)");
    assert!(matches!(eth0.state, State::Bound { .. }));
    assert_eq!(
        server.kinds(),
        [MessageType::Discover, MessageType::Request]
    );
}

#[test]
fn a_refused_renewal_gives_the_address_up_and_starts_over() {
    let server = FakeServer::start(|n, request| {
        if request.ciaddr.is_unspecified() {
            standard(n, request)
        } else {
            vec![answer(request, MessageType::Nak)]
        }
    });
    let mut eth0 = managed(&server, leased(Duration::from_secs(80_000)));
    let mut sink = Recorder::default();
    eth0.step(Instant::now(), &mut sink);
    assert_eq!(sink.0, ["eth0 lost 10.0.2.15"]);
    eth0.step(Instant::now(), &mut sink);
    assert_eq!(sink.0[1], "eth0 bound 10.0.2.15 (had nothing)");
}

#[test]
fn a_failed_renewal_keeps_the_lease_and_retries_later() {
    let server = FakeServer::start(|_, _| vec![]);
    let mut eth0 = managed(&server, leased(Duration::from_secs(50_000)));
    let mut sink = Recorder::default();
    eth0.step(Instant::now(), &mut sink);
    assert!(sink.0.is_empty());
    let State::Bound { lease, wake } = &eth0.state else {
        panic!("not bound: {:?}", eth0.state);
    };
    // Half of the ~25600 s left until T2.
    let wait = wake.unwrap().saturating_duration_since(Instant::now());
    assert!(wait > Duration::from_secs(12_000), "{wait:?}");
    assert!(Some(wake.unwrap()) <= lease.rebind_at());
    assert!(
        server.kinds().len() >= 2,
        "retransmitted within the attempt"
    );
}

#[test]
fn searching_backs_off() {
    let server = FakeServer::start(|_, _| vec![]);
    let mut eth0 = Managed::searching("eth0".into(), server.config.clone());
    eth0.attempt = Duration::from_millis(300);
    let mut sink = Recorder::default();
    eth0.step(Instant::now(), &mut sink);
    assert!(server.seen().is_empty(), "the first retry waits");
    eth0.state = State::Searching {
        wake: Instant::now(),
        retry: Duration::from_secs(40),
    };
    eth0.step(Instant::now(), &mut sink);
    let State::Searching { wake, retry } = eth0.state else {
        panic!("not searching: {:?}", eth0.state);
    };
    assert_eq!(retry, Duration::from_secs(80));
    let wait = wake.saturating_duration_since(Instant::now());
    assert!(
        wait > Duration::from_secs(38) && wait <= Duration::from_secs(40),
        "{wait:?}"
    );
    assert!(sink.0.is_empty());
    assert_eq!(server.kinds(), [MessageType::Discover]);
}

#[test]
fn the_loop_ends_when_every_lease_is_infinite() {
    let server = FakeServer::start(standard);
    let mut forever = leased(Duration::ZERO);
    forever.lease_secs = None;
    let began = Instant::now();
    renewer::run(vec![managed(&server, forever)], Recorder::default());
    assert!(began.elapsed() < Duration::from_secs(1));
}
