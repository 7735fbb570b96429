//! A small SNTP client (RFC 4330): ask a time server once, set the clock.
//!
//! PID 1 runs it on a thread of its own after the network is configured.
//! It sends one mode-3 request per server, accepts only a well-formed
//! server reply that echoes its own transmit time, computes the clock
//! offset from the four timestamps and hands it to its caller, which sets
//! the clock (`crate::boot::clock::adopt`: steps it when it is off by more
//! than [`crate::boot::clock::STEP_MIN`] and marks it trusted, which lets calendar jobs run even on
//! a machine whose hardware clock is wrong). When no server answers (no
//! network, no route to the internet, as under QEMU's user networking) it
//! logs that once and the clock stays as the hardware clock set it.
//!
//! Servers: the DHCP lease's NTP servers (option 42) when the caller has
//! them, else [`DEFAULT_SERVER`]. Names are resolved with the C library's
//! resolver; in a static PID 1 without NSS modules only IP addresses are
//! certain to work, and a name that does not resolve is a failed attempt.

use std::io;
use std::net::{Ipv4Addr, SocketAddr, ToSocketAddrs, UdpSocket};
use std::time::Duration;

use cairn_schedule::jiff::{SignedDuration, Timestamp};

pub const NTP_PORT: u16 = 123;
/// Asked when nothing better is known.
pub const DEFAULT_SERVER: &str = "pool.ntp.org";
/// How long one request waits for its reply.
pub const REPLY_WAIT: Duration = Duration::from_secs(2);
/// Pauses between rounds over all servers: the network may still be coming up.
pub const RETRY_PAUSES: [Duration; 4] = [
    Duration::from_secs(5),
    Duration::from_secs(10),
    Duration::from_secs(20),
    Duration::from_secs(40),
];

/// Seconds from 1900-01-01 (NTP's epoch) to 1970-01-01.
const NTP_TO_UNIX: i64 = 2_208_988_800;
const PACKET_LEN: usize = 48;
/// LI 0, version 4, mode 3 (client).
const CLIENT_FIRST_BYTE: u8 = 0b00_100_011;

#[derive(Debug, thiserror::Error)]
pub enum SntpError {
    #[error("{0}")]
    Io(#[from] io::Error),
    #[error("cannot resolve {0}")]
    Resolve(String),
    #[error("reply of {0} bytes is too short")]
    Short(usize),
    #[error("reply is not from a server (mode {0})")]
    NotServer(u8),
    #[error("server says no: kiss code {0}")]
    KissOfDeath(String),
    #[error("server is not synchronised")]
    Unsynchronised,
    #[error("reply does not answer our request")]
    NotOurs,
    #[error("reply carries no time")]
    NoTime,
}

/// A timestamp as NTP writes it: seconds since 1900 (high 32 bits) and a
/// binary fraction (low 32 bits).
pub fn to_ntp(t: Timestamp) -> u64 {
    let secs = (t.as_second() + NTP_TO_UNIX) as u64 & 0xffff_ffff;
    let frac = (u64::from(t.subsec_nanosecond().unsigned_abs()) << 32) / 1_000_000_000;
    (secs << 32) | frac
}

/// The instant an NTP timestamp names. The 32-bit seconds wrap in 2036;
/// per RFC 4330 §3, values with the top bit clear are in the era after it.
pub fn from_ntp(raw: u64) -> Option<Timestamp> {
    let secs = (raw >> 32) as i64;
    let era = if secs & 0x8000_0000 == 0 {
        1i64 << 32
    } else {
        0
    };
    let nanos = ((raw & 0xffff_ffff) * 1_000_000_000) >> 32;
    Timestamp::new(secs + era - NTP_TO_UNIX, nanos as i32).ok()
}

/// A client request whose transmit timestamp is `transmit` (echoed back by
/// the server as the originate timestamp).
pub fn request(transmit: Timestamp) -> [u8; PACKET_LEN] {
    let mut packet = [0u8; PACKET_LEN];
    packet[0] = CLIENT_FIRST_BYTE;
    packet[40..48].copy_from_slice(&to_ntp(transmit).to_be_bytes());
    packet
}

/// What a valid reply says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Reply {
    pub stratum: u8,
    /// When the server received the request (T2).
    pub receive: Timestamp,
    /// When the server sent the reply (T3).
    pub transmit: Timestamp,
}

/// The timestamp at offset `at` (every offset used lies inside the packet).
fn stamp(packet: &[u8; PACKET_LEN], at: usize) -> u64 {
    packet
        .get(at..at + 8)
        .and_then(|bytes| bytes.try_into().ok())
        .map_or(0, u64::from_be_bytes)
}

/// Checks a reply to the request sent with transmit timestamp `sent`
/// (RFC 4330 §5).
pub fn parse_reply(packet: &[u8], sent: u64) -> Result<Reply, SntpError> {
    let Some(packet) = packet.first_chunk::<PACKET_LEN>() else {
        return Err(SntpError::Short(packet.len()));
    };
    let leap = packet[0] >> 6;
    let mode = packet[0] & 0b111;
    let stratum = packet[1];
    if mode != 4 {
        return Err(SntpError::NotServer(mode));
    }
    if stratum == 0 {
        let code = String::from_utf8_lossy(&packet[12..16]).into_owned();
        return Err(SntpError::KissOfDeath(code));
    }
    if leap == 3 || stratum > 15 {
        return Err(SntpError::Unsynchronised);
    }
    if stamp(packet, 24) != sent {
        return Err(SntpError::NotOurs);
    }
    let (receive, transmit) = (stamp(packet, 32), stamp(packet, 40));
    if transmit == 0 {
        return Err(SntpError::NoTime);
    }
    Ok(Reply {
        stratum,
        receive: from_ntp(receive).ok_or(SntpError::NoTime)?,
        transmit: from_ntp(transmit).ok_or(SntpError::NoTime)?,
    })
}

/// The local clock's offset: `((T2 - T1) + (T3 - T4)) / 2`, positive when
/// the local clock is behind.
pub fn offset(sent: Timestamp, reply: &Reply, received: Timestamp) -> SignedDuration {
    let there = reply.receive.duration_since(sent);
    let back = reply.transmit.duration_since(received);
    (there + back) / 2
}

/// Asks one server once; returns the local clock's offset.
pub fn query(server: SocketAddr, wait: Duration) -> Result<SignedDuration, SntpError> {
    let local: SocketAddr = if server.is_ipv4() {
        (Ipv4Addr::UNSPECIFIED, 0).into()
    } else {
        (std::net::Ipv6Addr::UNSPECIFIED, 0).into()
    };
    let socket = UdpSocket::bind(local)?;
    socket.set_read_timeout(Some(wait))?;
    socket.connect(server)?;
    let sent = Timestamp::now();
    let packet = request(sent);
    let sent_raw = stamp(&packet, 40);
    socket.send(&packet)?;
    let mut buf = [0u8; 128];
    loop {
        let n = socket.recv(&mut buf)?;
        let received = Timestamp::now();
        match parse_reply(buf.get(..n).unwrap_or_default(), sent_raw) {
            // A stray or late reply to something else: keep waiting.
            Err(SntpError::NotOurs) => continue,
            Err(err) => return Err(err),
            Ok(reply) => return Ok(offset(sent, &reply, received)),
        }
    }
}

/// The servers to ask: those DHCP named, else the default pool.
pub fn servers(from_dhcp: &[Ipv4Addr]) -> Vec<String> {
    if from_dhcp.is_empty() {
        vec![DEFAULT_SERVER.to_string()]
    } else {
        from_dhcp.iter().map(ToString::to_string).collect()
    }
}

/// Asks each server in turn; the first good answer wins.
pub fn sync_once(servers: &[String], wait: Duration) -> Result<(String, SignedDuration), String> {
    let mut failures = Vec::new();
    for server in servers {
        let addrs: Vec<SocketAddr> = match (server.as_str(), NTP_PORT).to_socket_addrs() {
            Ok(addrs) => addrs.collect(),
            Err(_) => Vec::new(),
        };
        if addrs.is_empty() {
            failures.push(format!("{server}: {}", SntpError::Resolve(server.clone())));
            continue;
        }
        for addr in addrs.into_iter().take(3) {
            match query(addr, wait) {
                Ok(offset) => return Ok((format!("{server} ({addr})"), offset)),
                Err(err) => failures.push(format!("{server} ({addr}): {err}")),
            }
        }
    }
    Err(failures.join("; "))
}

/// Sets the clock from the first server that answers, retrying a few times
/// while the network comes up, on a thread of its own. Logs the outcome
/// once. Returns false when the thread could not be started.
pub fn sync_in_background(servers: Vec<String>, adopt: fn(&str, SignedDuration)) -> bool {
    let spawned = cairn_sys::thread_signals::with_signals_blocked(|| {
        std::thread::Builder::new()
            .name("sntp".to_string())
            .spawn(move || sync_with_retries(&servers, adopt))
    });
    match spawned {
        Ok(_) => true,
        Err(err) => {
            tracing::warn!("sntp: cannot start a thread ({err}); keeping the hardware clock");
            false
        }
    }
}

fn sync_with_retries(servers: &[String], adopt: fn(&str, SignedDuration)) {
    let mut last_error = String::new();
    for pause in std::iter::once(Duration::ZERO).chain(RETRY_PAUSES) {
        std::thread::sleep(pause);
        match sync_once(servers, REPLY_WAIT) {
            Ok((server, offset)) => {
                adopt(&server, offset);
                return;
            }
            Err(err) => last_error = err,
        }
    }
    tracing::warn!("sntp: no time server answered ({last_error}); keeping the hardware clock");
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    fn reply(originate: u64, receive: Timestamp, transmit: Timestamp) -> [u8; 48] {
        let mut p = [0u8; 48];
        p[0] = 0b00_100_100; // LI 0, VN 4, mode 4
        p[1] = 2;
        p[24..32].copy_from_slice(&originate.to_be_bytes());
        p[32..40].copy_from_slice(&to_ntp(receive).to_be_bytes());
        p[40..48].copy_from_slice(&to_ntp(transmit).to_be_bytes());
        p
    }

    #[test]
    fn timestamps_round_trip_through_ntp_format() {
        let unix = t("1970-01-01T00:00:00Z");
        assert_eq!(to_ntp(unix) >> 32, 2_208_988_800);
        for s in [
            "2027-06-01T12:34:56.25Z",
            "2036-02-07T06:28:16Z",
            "2040-01-01T00:00:00.5Z",
        ] {
            let at = t(s);
            let back = from_ntp(to_ntp(at)).unwrap();
            assert!(
                back.duration_since(at).abs() < SignedDuration::from_nanos(2),
                "{s}"
            );
        }
        // After the 2036 wrap the seconds field restarts near zero.
        assert!(to_ntp(t("2040-01-01T00:00:00Z")) >> 32 < 200_000_000);
        // Half a second is half of the 32-bit fraction.
        assert_eq!(to_ntp(t("2027-01-01T00:00:00.5Z")) & 0xffff_ffff, 1 << 31);
    }

    #[test]
    fn a_request_is_a_version_4_client_packet_with_our_time() {
        let at = t("2027-01-01T00:00:00Z");
        let p = request(at);
        assert_eq!(p.len(), 48);
        assert_eq!(p[0], 0x23);
        assert!(p[1..40].iter().all(|b| *b == 0));
        assert_eq!(stamp(&p, 40), to_ntp(at));
    }

    #[test]
    fn a_good_reply_gives_the_offset() {
        let sent = t("2027-01-01T00:00:00Z");
        // The server is 10 s ahead; 20 ms each way, 1 ms in the server.
        let p = reply(
            to_ntp(sent),
            t("2027-01-01T00:00:10.020Z"),
            t("2027-01-01T00:00:10.021Z"),
        );
        let r = parse_reply(&p, to_ntp(sent)).unwrap();
        assert_eq!(r.stratum, 2);
        let received = t("2027-01-01T00:00:00.041Z");
        let error = offset(sent, &r, received) - SignedDuration::from_secs(10);
        // The 32-bit fraction is finer than a nanosecond but not exact.
        assert!(error.abs() < SignedDuration::from_micros(1), "{error:?}");
    }

    #[test]
    fn bad_replies_are_refused() {
        let sent = to_ntp(t("2027-01-01T00:00:00Z"));
        let good = reply(sent, t("2027-01-01T00:00:01Z"), t("2027-01-01T00:00:01Z"));
        assert!(matches!(
            parse_reply(&good[..47], sent),
            Err(SntpError::Short(47))
        ));
        assert!(matches!(
            parse_reply(&good, sent + 1),
            Err(SntpError::NotOurs)
        ));
        let mut client = good;
        client[0] = 0x23;
        assert!(matches!(
            parse_reply(&client, sent),
            Err(SntpError::NotServer(3))
        ));
        let mut kiss = good;
        kiss[1] = 0;
        kiss[12..16].copy_from_slice(b"RATE");
        match parse_reply(&kiss, sent) {
            Err(SntpError::KissOfDeath(code)) => assert_eq!(code, "RATE"),
            other => panic!("{other:?}"),
        }
        let mut alarm = good;
        alarm[0] |= 0b11 << 6;
        assert!(matches!(
            parse_reply(&alarm, sent),
            Err(SntpError::Unsynchronised)
        ));
        let mut empty = good;
        empty[40..48].fill(0);
        assert!(matches!(parse_reply(&empty, sent), Err(SntpError::NoTime)));
    }

    #[test]
    fn a_query_against_a_local_server() {
        let server = UdpSocket::bind("127.0.0.1:0").unwrap();
        let addr = server.local_addr().unwrap();
        let answer = std::thread::spawn(move || {
            let mut buf = [0u8; 48];
            let (_, from) = server.recv_from(&mut buf).unwrap();
            let originate = stamp(&buf, 40);
            let ahead = Timestamp::now()
                .checked_add(SignedDuration::from_secs(3600))
                .unwrap();
            server
                .send_to(&reply(originate, ahead, ahead), from)
                .unwrap();
        });
        let offset = query(addr, Duration::from_secs(2)).unwrap();
        answer.join().unwrap();
        let error = (offset - SignedDuration::from_secs(3600)).abs();
        assert!(error < SignedDuration::from_millis(200), "{offset:?}");
    }

    #[test]
    fn silence_fails_within_the_wait() {
        // Nothing serves NTP on loopback: refused or silent, it fails fast.
        let started = std::time::Instant::now();
        let result = sync_once(&["127.0.0.1".to_string()], Duration::from_millis(200));
        assert!(result.is_err());
        assert!(started.elapsed() < Duration::from_secs(2));
        assert!(sync_once(&["name.invalid".to_string()], Duration::from_millis(100)).is_err());
    }

    #[test]
    fn servers_prefer_dhcp() {
        assert_eq!(servers(&[]), [DEFAULT_SERVER]);
        assert_eq!(
            servers(&[Ipv4Addr::new(10, 0, 2, 2), Ipv4Addr::new(10, 0, 2, 3)]),
            ["10.0.2.2", "10.0.2.3"]
        );
    }
}
