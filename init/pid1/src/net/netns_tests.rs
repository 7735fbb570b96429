//! The interface calls against a real kernel. Each test runs on a thread of its
//! own inside a fresh network namespace, so the host's interfaces are never
//! touched, with a TAP device standing in for a network card. Entering a
//! namespace needs CAP_SYS_ADMIN: without it a test says so on stderr and
//! checks nothing.
//!
//! No test here configures DNS servers: that would write the host's
//! /etc/resolv.conf, which a network namespace does not isolate.

use std::io;
use std::net::{IpAddr, Ipv4Addr, UdpSocket};
use std::thread;
use std::time::{Duration, Instant};

use nix::sched::{unshare, CloneFlags};

use super::dhcp::lease::Lease;
use super::static_cfg::{self, StaticConfig};
use super::{dhcp, ioctl, link, loopback_up};

fn in_fresh_netns(test: impl FnOnce() + Send + 'static) {
    let outcome = thread::spawn(move || match unshare(CloneFlags::CLONE_NEWNET) {
        Ok(()) => test(),
        Err(e) => panic!(
            "cannot enter a new network namespace ({e}): these tests need root, as scripts/test runs them"
        ),
    })
    .join();
    if let Err(panic) = outcome {
        std::panic::resume_unwind(panic);
    }
}

fn is_up(iface: &str) -> bool {
    ioctl::flags(iface).unwrap() & libc::IFF_UP as libc::c_short != 0
}

/// The source address the kernel picks to reach `destination`: proof of an
/// address and a route that leads out.
fn source_for(destination: &str) -> io::Result<IpAddr> {
    let socket = UdpSocket::bind("0.0.0.0:0")?;
    socket.connect(destination)?;
    Ok(socket.local_addr()?.ip())
}

const OUTSIDE: &str = "198.51.100.1:53";

fn ip(a: u8, b: u8, c: u8, d: u8) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(a, b, c, d))
}

#[test]
#[ignore = "needs root"]
fn loopback_comes_up_with_its_address() {
    in_fresh_netns(|| {
        assert!(!is_up("lo"), "lo starts down in a new namespace");
        loopback_up().unwrap();
        loopback_up().unwrap();
        assert!(is_up("lo"));
        let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
        socket
            .set_read_timeout(Some(Duration::from_secs(1)))
            .unwrap();
        socket
            .send_to(b"ping", socket.local_addr().unwrap())
            .unwrap();
        let mut buffer = [0u8; 8];
        assert_eq!(socket.recv(&mut buffer).unwrap(), 4);
    });
}

#[test]
#[ignore = "needs root"]
fn a_static_interface_gets_its_address_and_default_route() {
    in_fresh_netns(|| {
        let _tap = ioctl::create_tap("cairntap0").unwrap();
        assert!(source_for(OUTSIDE).is_err(), "no route yet");
        let config = StaticConfig {
            address: Ipv4Addr::new(192, 168, 77, 10),
            prefix_len: 24,
            gateway: Some(Ipv4Addr::new(192, 168, 77, 1)),
            dns: &[],
        };
        let summary = static_cfg::configure("cairntap0", &config, Instant::now()).unwrap();
        assert_eq!(summary, "192.168.77.10/24 via 192.168.77.1 (static)");
        // Configuring again is harmless (the route exists already).
        static_cfg::configure("cairntap0", &config, Instant::now()).unwrap();
        assert!(is_up("cairntap0"));
        UdpSocket::bind("192.168.77.10:0").expect("the address is local");
        assert_eq!(source_for(OUTSIDE).unwrap(), ip(192, 168, 77, 10));
        assert_ne!(link::mac("cairntap0").unwrap(), [0u8; 6]);
    });
}

#[test]
#[ignore = "needs root"]
fn a_dhcp_lease_is_applied_moved_and_released() {
    in_fresh_netns(|| {
        let _tap = ioctl::create_tap("cairntap1").unwrap();
        link::bring_up("cairntap1").unwrap();
        let first = Lease {
            address: Ipv4Addr::new(10, 0, 2, 15),
            prefix_len: 24,
            router: Some(Ipv4Addr::new(10, 0, 2, 2)),
            dns: vec![],
            server: Ipv4Addr::new(10, 0, 2, 2),
            lease_secs: Some(86400),
            t1_secs: 43200,
            t2_secs: 75600,
            start: Instant::now(),
        };
        dhcp::apply("cairntap1", &first, None).unwrap();
        assert_eq!(source_for(OUTSIDE).unwrap(), ip(10, 0, 2, 15));

        // A renewal that hands out the same lease changes nothing.
        dhcp::apply("cairntap1", &first, Some(&first)).unwrap();
        assert_eq!(source_for(OUTSIDE).unwrap(), ip(10, 0, 2, 15));

        let moved = Lease {
            address: Ipv4Addr::new(10, 0, 3, 20),
            router: Some(Ipv4Addr::new(10, 0, 3, 1)),
            ..first.clone()
        };
        dhcp::apply("cairntap1", &moved, Some(&first)).unwrap();
        assert_eq!(source_for(OUTSIDE).unwrap(), ip(10, 0, 3, 20));
        assert!(
            UdpSocket::bind("10.0.2.15:0").is_err(),
            "the old address is gone"
        );

        dhcp::release("cairntap1", &moved).unwrap();
        assert!(UdpSocket::bind("10.0.3.20:0").is_err());
        assert!(source_for(OUTSIDE).is_err(), "no route is left");
    });
}
