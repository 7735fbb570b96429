//! The interface-control calls that need `ioctl(2)` on an AF_INET datagram socket:
//! flags, IPv4 address and netmask, hardware address, default route.
//!
//! This is the only file of the network module with `unsafe`. Every call builds
//! its request struct fully in Rust, hands the kernel a pointer that outlives the
//! call, and reads back only fields the kernel fills for that request.

use std::ffi::CString;
use std::io;
use std::net::Ipv4Addr;
use std::os::fd::{AsRawFd, OwnedFd};

use libc::c_char;
use nix::sys::socket::{socket, AddressFamily, SockFlag, SockType};

/// The ioctl requests that take a `struct ifreq`.
#[derive(Debug, Clone, Copy)]
enum IfRequest {
    GetFlags,
    SetFlags,
    SetAddress,
    SetNetmask,
    GetHardwareAddress,
}

impl IfRequest {
    fn code(self) -> libc::Ioctl {
        match self {
            Self::GetFlags => libc::SIOCGIFFLAGS,
            Self::SetFlags => libc::SIOCSIFFLAGS,
            Self::SetAddress => libc::SIOCSIFADDR,
            Self::SetNetmask => libc::SIOCSIFNETMASK,
            Self::GetHardwareAddress => libc::SIOCGIFHWADDR,
        }
    }
}

/// The ioctl requests that take a `struct rtentry`.
#[derive(Debug, Clone, Copy)]
enum RouteRequest {
    Add,
    Delete,
}

impl RouteRequest {
    fn code(self) -> libc::Ioctl {
        match self {
            Self::Add => libc::SIOCADDRT,
            Self::Delete => libc::SIOCDELRT,
        }
    }
}

fn control_socket() -> io::Result<OwnedFd> {
    socket(
        AddressFamily::Inet,
        SockType::Datagram,
        SockFlag::SOCK_CLOEXEC,
        None,
    )
    .map_err(io::Error::from)
}

/// Whether `name` fits `ifr_name` (with its NUL) and could name an interface.
pub fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() < libc::IFNAMSIZ
        && !name
            .bytes()
            .any(|b| b == 0 || b == b'/' || b.is_ascii_whitespace())
}

fn ifreq(name: &str) -> io::Result<libc::ifreq> {
    if !valid_name(name) {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "invalid interface name",
        ));
    }
    // SAFETY: `ifreq` is a C struct of a char array and a union of integers,
    // sockaddrs and raw pointers; all-zero bytes are a valid value for each.
    let mut req: libc::ifreq = unsafe { std::mem::zeroed() };
    // The name is shorter than IFNAMSIZ, so the zeroed tail terminates it.
    for (dst, src) in req.ifr_name.iter_mut().zip(name.bytes()) {
        *dst = c_char::from_ne_bytes([src]);
    }
    Ok(req)
}

fn if_ioctl(request: IfRequest, req: &mut libc::ifreq) -> io::Result<()> {
    let sock = control_socket()?;
    // SAFETY: every `IfRequest` reads and/or writes exactly one `struct ifreq`
    // through the pointer; `req` is a valid, exclusively borrowed ifreq that lives
    // until after the call, and `sock` is an open socket.
    let rc = unsafe { libc::ioctl(sock.as_raw_fd(), request.code(), std::ptr::from_mut(req)) };
    if rc < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}

fn sockaddr_v4(address: Ipv4Addr) -> libc::sockaddr {
    // sockaddr_in laid over sockaddr: 2 bytes of port (0), then the address.
    let mut sa_data = [0 as c_char; 14];
    for (dst, src) in sa_data.iter_mut().skip(2).zip(address.octets()) {
        *dst = c_char::from_ne_bytes([src]);
    }
    libc::sockaddr {
        sa_family: libc::AF_INET as libc::sa_family_t,
        sa_data,
    }
}

/// The interface's flags (IFF_*). Fails with ENODEV while the interface does not exist.
pub fn flags(name: &str) -> io::Result<libc::c_short> {
    let mut req = ifreq(name)?;
    if_ioctl(IfRequest::GetFlags, &mut req)?;
    // SAFETY: SIOCGIFFLAGS filled `ifru_flags`; any bit pattern is a valid c_short.
    Ok(unsafe { req.ifr_ifru.ifru_flags })
}

/// Sets IFF_UP if it is not set yet.
pub fn set_up(name: &str) -> io::Result<()> {
    let current = flags(name)?;
    let up = libc::IFF_UP as libc::c_short;
    if current & up != 0 {
        return Ok(());
    }
    let mut req = ifreq(name)?;
    req.ifr_ifru.ifru_flags = current | up;
    if_ioctl(IfRequest::SetFlags, &mut req)
}

/// Sets the interface's primary IPv4 address; 0.0.0.0 removes it.
pub fn set_address(name: &str, address: Ipv4Addr) -> io::Result<()> {
    let mut req = ifreq(name)?;
    req.ifr_ifru.ifru_addr = sockaddr_v4(address);
    if_ioctl(IfRequest::SetAddress, &mut req)
}

/// Sets the netmask of the interface's primary IPv4 address (the kernel then
/// replaces the prefix route and the broadcast address to match).
pub fn set_netmask(name: &str, mask: Ipv4Addr) -> io::Result<()> {
    let mut req = ifreq(name)?;
    req.ifr_ifru.ifru_netmask = sockaddr_v4(mask);
    if_ioctl(IfRequest::SetNetmask, &mut req)
}

/// The interface's Ethernet (MAC) address.
pub fn hardware_address(name: &str) -> io::Result<[u8; 6]> {
    let mut req = ifreq(name)?;
    if_ioctl(IfRequest::GetHardwareAddress, &mut req)?;
    // SAFETY: SIOCGIFHWADDR filled `ifru_hwaddr`, a plain sockaddr of integers.
    let hw = unsafe { req.ifr_ifru.ifru_hwaddr };
    if hw.sa_family != libc::ARPHRD_ETHER {
        return Err(io::Error::new(
            io::ErrorKind::Unsupported,
            format!("not an ethernet interface (hardware type {})", hw.sa_family),
        ));
    }
    let mut mac = [0u8; 6];
    for (dst, src) in mac.iter_mut().zip(hw.sa_data) {
        *dst = src.to_ne_bytes()[0];
    }
    Ok(mac)
}

fn default_route(request: RouteRequest, name: &str, gateway: Ipv4Addr) -> io::Result<()> {
    if !valid_name(name) {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "invalid interface name",
        ));
    }
    let device = CString::new(name)?;
    // SAFETY: `rtentry` is a C struct of integers, sockaddrs and one pointer;
    // all-zero bytes (a null `rt_dev`) are a valid value for each.
    let mut route: libc::rtentry = unsafe { std::mem::zeroed() };
    route.rt_dst = sockaddr_v4(Ipv4Addr::UNSPECIFIED);
    route.rt_genmask = sockaddr_v4(Ipv4Addr::UNSPECIFIED);
    route.rt_gateway = sockaddr_v4(gateway);
    route.rt_flags = libc::RTF_UP | libc::RTF_GATEWAY;
    // The kernel only reads the device name (it copies at most IFNAMSIZ bytes).
    route.rt_dev = device.as_ptr().cast_mut();
    let sock = control_socket()?;
    // SAFETY: SIOCADDRT/SIOCDELRT read one `struct rtentry` through the pointer;
    // `route` is valid and outlives the call, and `route.rt_dev` points into
    // `device`, a NUL-terminated string that is dropped only after the call.
    let rc = unsafe {
        libc::ioctl(
            sock.as_raw_fd(),
            request.code(),
            std::ptr::from_mut(&mut route),
        )
    };
    drop(device);
    if rc < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}

/// Adds `default via gateway dev name`. Fails with EEXIST if it is already there.
pub fn add_default_route(name: &str, gateway: Ipv4Addr) -> io::Result<()> {
    default_route(RouteRequest::Add, name, gateway)
}

/// Removes `default via gateway dev name`. Fails with ESRCH if it is not there.
pub fn delete_default_route(name: &str, gateway: Ipv4Addr) -> io::Result<()> {
    default_route(RouteRequest::Delete, name, gateway)
}

/// Creates a TAP interface `name` that lives while the returned descriptor is
/// open: an Ethernet device for tests to configure inside a network namespace.
#[cfg(test)]
pub fn create_tap(name: &str) -> io::Result<OwnedFd> {
    let tun = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/net/tun")?;
    let mut req = ifreq(name)?;
    req.ifr_ifru.ifru_flags = (libc::IFF_TAP | libc::IFF_NO_PI) as libc::c_short;
    // SAFETY: TUNSETIFF reads and writes one `struct ifreq` through the pointer;
    // `req` is valid, exclusively borrowed and outlives the call, and `tun` is
    // an open /dev/net/tun descriptor.
    let rc = unsafe {
        libc::ioctl(
            tun.as_raw_fd(),
            libc::TUNSETIFF,
            std::ptr::from_mut(&mut req),
        )
    };
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(OwnedFd::from(tun))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interface_names_are_checked_before_any_call() {
        assert!(valid_name("eth0"));
        assert!(valid_name("enp0s31f6"));
        assert!(!valid_name(""));
        assert!(!valid_name("a-name-far-too-long"));
        assert!(!valid_name("eth/0"));
        assert!(!valid_name("eth 0"));
        assert!(!valid_name("eth\0"));
        let err = flags("no/such").unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
        let err = add_default_route("", Ipv4Addr::LOCALHOST).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
    }

    #[test]
    fn sockaddr_carries_the_address_after_the_port() {
        let sa = sockaddr_v4(Ipv4Addr::new(10, 0, 2, 200));
        assert_eq!(i32::from(sa.sa_family), libc::AF_INET);
        let bytes: Vec<u8> = sa.sa_data.iter().map(|c| c.to_ne_bytes()[0]).collect();
        assert_eq!(&bytes[..6], &[0, 0, 10, 0, 2, 200]);
        assert!(bytes[6..].iter().all(|b| *b == 0));
    }

    #[test]
    fn loopback_flags_are_readable_and_missing_interfaces_report_enodev() {
        // Read-only calls: they work unprivileged and change nothing.
        let lo = flags("lo").unwrap();
        assert_ne!(lo & libc::IFF_LOOPBACK as libc::c_short, 0);
        let err = flags("cairnnosuch0").unwrap_err();
        assert_eq!(err.raw_os_error(), Some(libc::ENODEV));
    }

    #[test]
    fn loopback_has_no_ethernet_address() {
        let err = hardware_address("lo").unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::Unsupported);
    }
}
