//! Networking for PID 1: the loopback interface, and the manifest's interfaces,
//! static or DHCP, with `/etc/resolv.conf` written from their DNS servers.
//!
//! There is no udev, no resolver daemon and no DHCP daemon in the image: the
//! interfaces are set through ioctls (`ioctl.rs`, the module's only unsafe code),
//! and a DHCP lease is kept alive by one background thread of PID 1 (`dhcp`).

mod addr;
pub mod dhcp;
mod ioctl;
mod link;
#[cfg(test)]
mod netns_tests;
mod resolv;
pub mod sntp;
mod static_cfg;

use std::collections::BTreeMap;
use std::io;
use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use cairn_manifest::Interface;
use tracing::{info, warn};

use self::dhcp::client::DhcpError;
use self::static_cfg::StaticConfig;

/// How long to wait for an interface to appear (its driver may still be probing).
const APPEAR_WAIT: Duration = Duration::from_secs(5);

/// Why an interface could not be configured.
#[derive(Debug, thiserror::Error)]
pub enum NetError {
    #[error("{iface}: not a valid interface name")]
    InvalidName { iface: String },
    #[error("{iface}: no such interface (waited {}s)", .waited.as_secs())]
    NotFound { iface: String, waited: Duration },
    #[error("{iface}: cannot {action}: {cause}")]
    Control {
        iface: String,
        action: &'static str,
        cause: io::Error,
    },
    #[error("{iface}: invalid prefix length /{prefix_len}")]
    InvalidPrefix { iface: String, prefix_len: u8 },
    #[error("{iface}: gateway {gateway} is outside {address}/{prefix_len}")]
    GatewayOutsideSubnet {
        iface: String,
        gateway: Ipv4Addr,
        address: Ipv4Addr,
        prefix_len: u8,
    },
    #[error("{iface}: no dhcp lease within {}s ({cause}), still trying in the background", .waited.as_secs())]
    NoLease {
        iface: String,
        waited: Duration,
        cause: DhcpError,
    },
    #[error("cannot write {}: {cause}", .path.display())]
    Resolv { path: PathBuf, cause: io::Error },
}

/// Brings the loopback interface up (127.0.0.1/8).
pub fn loopback_up() -> Result<(), NetError> {
    link::bring_up("lo")?;
    // The kernel gives `lo` 127.0.0.1/8 when it comes up; setting it again is a
    // no-op then, and makes sure of it otherwise.
    link::set_ipv4("lo", Ipv4Addr::LOCALHOST, 8)
}

/// Runs [`configure_all`] on a thread of its own, so that apps start while
/// links come up and DHCP waits for a lease: an appliance whose cable is
/// unplugged still runs its local apps at once. Outcomes are logged as they
/// come. Returns whether the thread could be started; if not, the interfaces
/// are configured on the calling thread before returning.
pub fn configure_all_in_background(interfaces: BTreeMap<String, Interface>) -> bool {
    if interfaces.is_empty() {
        return true;
    }
    let spawned = cairn_sys::thread_signals::with_signals_blocked(|| {
        std::thread::Builder::new()
            .name("net-setup".to_string())
            .spawn({
                let interfaces = interfaces.clone();
                move || {
                    let _ = configure_all(&interfaces);
                }
            })
    });
    match spawned {
        Ok(_) => true,
        Err(e) => {
            warn!("network: cannot start a thread ({e}); configuring before apps start");
            let _ = configure_all(&interfaces);
            false
        }
    }
}

/// Configures every interface of the manifest: a static one at once; a DHCP one
/// waits (bounded, about 10 s) for a lease and keeps renewing it from one
/// background thread. Logs each outcome through `tracing`. Returns a summary per
/// interface, in name order, e.g.
/// `("eth0", Ok("10.0.2.15/24 via 10.0.2.2, dns 10.0.2.3 (dhcp, lease 86400s)"))`.
///
/// Call it once: each call starts its own renewal thread for its DHCP interfaces.
pub fn configure_all(
    interfaces: &BTreeMap<String, Interface>,
) -> Vec<(String, Result<String, NetError>)> {
    let appear_by = after(APPEAR_WAIT);
    let mut results: BTreeMap<String, Result<String, NetError>> = BTreeMap::new();
    let mut dhcp_ready = Vec::new();
    for (iface, interface) in interfaces {
        match interface {
            Interface::Static {
                address,
                prefix_len,
                gateway,
                dns,
            } => {
                let config = StaticConfig {
                    address: *address,
                    prefix_len: *prefix_len,
                    gateway: *gateway,
                    dns,
                };
                results.insert(
                    iface.clone(),
                    static_cfg::configure(iface, &config, appear_by),
                );
            }
            Interface::Dhcp => match dhcp::prepare(iface, appear_by) {
                Ok(client) => dhcp_ready.push((iface.clone(), client)),
                Err(e) => {
                    results.insert(iface.clone(), Err(e));
                }
            },
        }
    }
    results.extend(dhcp::start(dhcp_ready));
    for (iface, result) in &results {
        match result {
            Ok(summary) => info!("{iface}: {summary}"),
            Err(e) => warn!("{e}"),
        }
    }
    results.into_iter().collect()
}

/// `now + wait`, saturating instead of panicking.
fn after(wait: Duration) -> Instant {
    let now = Instant::now();
    now.checked_add(wait).unwrap_or(now)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn background_setup_does_not_hold_the_caller() {
        // A link that never appears keeps configure_all waiting for seconds;
        // the background variant hands that wait to its own thread.
        let mut interfaces = BTreeMap::new();
        interfaces.insert("cairnnone0".to_string(), Interface::Dhcp);
        let started = Instant::now();
        assert!(configure_all_in_background(interfaces));
        assert!(
            started.elapsed() < APPEAR_WAIT / 2,
            "{:?}",
            started.elapsed()
        );
        assert!(configure_all_in_background(BTreeMap::new()));
    }

    #[test]
    fn errors_name_the_interface_and_what_failed() {
        let control = NetError::Control {
            iface: "eth0".into(),
            action: "set the address",
            cause: io::Error::from_raw_os_error(libc::EPERM),
        };
        assert!(control
            .to_string()
            .starts_with("eth0: cannot set the address: "));
        let no_lease = NetError::NoLease {
            iface: "eth0".into(),
            waited: Duration::from_secs(10),
            cause: DhcpError::NoAnswer,
        };
        assert_eq!(
            no_lease.to_string(),
            "eth0: no dhcp lease within 10s (no answer from a dhcp server), still trying in the background"
        );
        let missing = NetError::NotFound {
            iface: "eth1".into(),
            waited: Duration::from_millis(5001),
        };
        assert_eq!(missing.to_string(), "eth1: no such interface (waited 5s)");
    }

    #[test]
    fn every_interface_gets_a_summary_in_name_order() {
        // Interfaces that cannot exist fail fast and change nothing on the host.
        let interfaces = BTreeMap::from([
            ("cairnnosuch1".to_string(), Interface::Dhcp),
            (
                "cairnnosuch0".to_string(),
                Interface::Static {
                    address: Ipv4Addr::new(192, 168, 1, 10),
                    prefix_len: 24,
                    gateway: Some(Ipv4Addr::new(192, 168, 9, 1)),
                    dns: vec![],
                },
            ),
            ("bad/name".to_string(), Interface::Dhcp),
        ]);
        let began = Instant::now();
        let results = configure_all(&interfaces);
        let names: Vec<&str> = results.iter().map(|(name, _)| name.as_str()).collect();
        assert_eq!(names, ["bad/name", "cairnnosuch0", "cairnnosuch1"]);
        assert!(matches!(results[0].1, Err(NetError::InvalidName { .. })));
        assert!(matches!(
            results[1].1,
            Err(NetError::GatewayOutsideSubnet { .. })
        ));
        assert!(matches!(results[2].1, Err(NetError::NotFound { .. })));
        assert!(began.elapsed() < APPEAR_WAIT + Duration::from_secs(2));
    }
}
