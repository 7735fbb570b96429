//! Interface operations in the network module's terms: each wraps an ioctl and
//! names the interface and what failed.

use std::io;
use std::net::Ipv4Addr;
use std::path::Path;
use std::thread;
use std::time::{Duration, Instant};

use super::{addr, ioctl, NetError};

/// How often to look again for an interface that is not there yet.
const POLL: Duration = Duration::from_millis(100);

fn control<'a>(iface: &'a str, action: &'static str) -> impl FnOnce(io::Error) -> NetError + 'a {
    move |cause| NetError::Control {
        iface: iface.to_owned(),
        action,
        cause,
    }
}

/// Waits until `iface` exists (its driver may still be probing), until `deadline`.
pub fn wait_for(iface: &str, deadline: Instant) -> Result<(), NetError> {
    if !ioctl::valid_name(iface) {
        return Err(NetError::InvalidName {
            iface: iface.to_owned(),
        });
    }
    let began = Instant::now();
    let sysfs = Path::new("/sys/class/net").join(iface);
    loop {
        // sysfs when it is mounted; the ioctl answers either way.
        if sysfs.exists() || ioctl::flags(iface).is_ok() {
            return Ok(());
        }
        let now = Instant::now();
        if now >= deadline {
            return Err(NetError::NotFound {
                iface: iface.to_owned(),
                waited: now.saturating_duration_since(began),
            });
        }
        thread::sleep(POLL.min(deadline.saturating_duration_since(now)));
    }
}

pub fn bring_up(iface: &str) -> Result<(), NetError> {
    ioctl::set_up(iface).map_err(control(iface, "bring the interface up"))
}

pub fn mac(iface: &str) -> Result<[u8; 6], NetError> {
    ioctl::hardware_address(iface).map_err(control(iface, "read the hardware address"))
}

/// Gives `iface` the address `address/prefix_len` (the kernel adds the prefix route).
pub fn set_ipv4(iface: &str, address: Ipv4Addr, prefix_len: u8) -> Result<(), NetError> {
    let mask = addr::netmask(prefix_len).ok_or_else(|| NetError::InvalidPrefix {
        iface: iface.to_owned(),
        prefix_len,
    })?;
    ioctl::set_address(iface, address).map_err(control(iface, "set the address"))?;
    ioctl::set_netmask(iface, mask).map_err(control(iface, "set the netmask"))
}

/// Removes the IPv4 address of `iface` (and with it the routes through it).
pub fn clear_ipv4(iface: &str) -> Result<(), NetError> {
    ioctl::set_address(iface, Ipv4Addr::UNSPECIFIED).map_err(control(iface, "remove the address"))
}

/// Adds the default route through `gateway`; an existing identical route is fine.
pub fn add_default_route(iface: &str, gateway: Ipv4Addr) -> Result<(), NetError> {
    match ioctl::add_default_route(iface, gateway) {
        Err(e) if e.raw_os_error() == Some(libc::EEXIST) => Ok(()),
        other => other.map_err(control(iface, "add the default route")),
    }
}

/// Removes the default route through `gateway`; a missing one is fine.
pub fn delete_default_route(iface: &str, gateway: Ipv4Addr) -> Result<(), NetError> {
    match ioctl::delete_default_route(iface, gateway) {
        Err(e) if e.raw_os_error() == Some(libc::ESRCH) => Ok(()),
        other => other.map_err(control(iface, "remove the default route")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_interface_is_reported_after_the_wait() {
        let began = Instant::now();
        let err = wait_for("cairnnosuch0", began + Duration::from_millis(250)).unwrap_err();
        let waited = began.elapsed();
        assert!(waited >= Duration::from_millis(250), "{waited:?}");
        assert!(waited < Duration::from_secs(2), "{waited:?}");
        assert!(matches!(err, NetError::NotFound { .. }));
        assert!(err.to_string().starts_with("cairnnosuch0: "), "{err}");
    }

    #[test]
    fn an_existing_interface_is_found_at_once() {
        wait_for("lo", Instant::now()).unwrap();
    }

    #[test]
    fn bad_names_and_prefixes_are_refused_before_any_call() {
        assert!(matches!(
            wait_for("../etc", Instant::now()),
            Err(NetError::InvalidName { .. })
        ));
        let err = set_ipv4("lo", Ipv4Addr::LOCALHOST, 33).unwrap_err();
        assert_eq!(err.to_string(), "lo: invalid prefix length /33");
    }
}
