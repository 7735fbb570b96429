//! IPv4 address arithmetic and the one-line description of a configured interface.

use std::net::{IpAddr, Ipv4Addr};

/// The netmask of a prefix length: 24 -> 255.255.255.0. `None` above 32.
pub fn netmask(prefix_len: u8) -> Option<Ipv4Addr> {
    if prefix_len > 32 {
        return None;
    }
    let bits = u32::MAX
        .checked_shl(32 - u32::from(prefix_len))
        .unwrap_or(0);
    Some(Ipv4Addr::from(bits))
}

/// The prefix length of a netmask: 255.255.255.0 -> 24. `None` when the mask's
/// ones are not contiguous from the top (such a mask cannot be expressed as a prefix).
pub fn prefix_len(mask: Ipv4Addr) -> Option<u8> {
    let bits = u32::from(mask);
    let ones = bits.leading_ones();
    // Everything after the leading ones must be zero.
    if bits.checked_shl(ones).unwrap_or(0) != 0 {
        return None;
    }
    u8::try_from(ones).ok()
}

/// The pre-CIDR class mask of an address, for a DHCP server that leaves out the
/// subnet mask option (RFC 2131 leaves the client to choose a default).
pub fn classful_prefix_len(address: Ipv4Addr) -> u8 {
    match address.octets()[0] {
        0..=127 => 8,
        128..=191 => 16,
        _ => 24,
    }
}

/// Whether `other` lies in `address/prefix_len`.
pub fn same_subnet(address: Ipv4Addr, prefix_len: u8, other: Ipv4Addr) -> bool {
    let mask = netmask(prefix_len).map_or(0, u32::from);
    u32::from(address) & mask == u32::from(other) & mask
}

/// How an interface got its configuration, for the summary line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    Static,
    /// A DHCP lease of this many seconds; `None` for an infinite lease.
    Dhcp {
        lease_secs: Option<u32>,
    },
}

/// The summary of a configured interface, e.g.
/// `10.0.2.15/24 via 10.0.2.2, dns 10.0.2.3 (dhcp, lease 86400s)`.
pub fn describe(
    address: Ipv4Addr,
    prefix_len: u8,
    gateway: Option<Ipv4Addr>,
    dns: &[IpAddr],
    source: Source,
) -> String {
    let mut text = format!("{address}/{prefix_len}");
    if let Some(gateway) = gateway {
        text.push_str(&format!(" via {gateway}"));
    }
    if !dns.is_empty() {
        let servers: Vec<String> = dns.iter().map(ToString::to_string).collect();
        text.push_str(&format!(", dns {}", servers.join(" ")));
    }
    match source {
        Source::Static => text.push_str(" (static)"),
        Source::Dhcp {
            lease_secs: Some(secs),
        } => text.push_str(&format!(" (dhcp, lease {secs}s)")),
        Source::Dhcp { lease_secs: None } => text.push_str(" (dhcp, lease infinite)"),
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn netmask_from_prefix() {
        assert_eq!(netmask(0), Some(Ipv4Addr::new(0, 0, 0, 0)));
        assert_eq!(netmask(8), Some(Ipv4Addr::new(255, 0, 0, 0)));
        assert_eq!(netmask(20), Some(Ipv4Addr::new(255, 255, 240, 0)));
        assert_eq!(netmask(24), Some(Ipv4Addr::new(255, 255, 255, 0)));
        assert_eq!(netmask(31), Some(Ipv4Addr::new(255, 255, 255, 254)));
        assert_eq!(netmask(32), Some(Ipv4Addr::new(255, 255, 255, 255)));
        assert_eq!(netmask(33), None);
    }

    #[test]
    fn prefix_from_netmask_round_trips() {
        for len in 0..=32 {
            let mask = netmask(len).unwrap();
            assert_eq!(prefix_len(mask), Some(len), "{mask}");
        }
    }

    #[test]
    fn non_contiguous_masks_have_no_prefix() {
        assert_eq!(prefix_len(Ipv4Addr::new(255, 0, 255, 0)), None);
        assert_eq!(prefix_len(Ipv4Addr::new(0, 0, 0, 255)), None);
        assert_eq!(prefix_len(Ipv4Addr::new(255, 255, 255, 253)), None);
    }

    #[test]
    fn classful_defaults() {
        assert_eq!(classful_prefix_len(Ipv4Addr::new(10, 0, 2, 15)), 8);
        assert_eq!(classful_prefix_len(Ipv4Addr::new(172, 16, 0, 1)), 16);
        assert_eq!(classful_prefix_len(Ipv4Addr::new(192, 168, 1, 1)), 24);
    }

    #[test]
    fn subnet_membership() {
        let addr = Ipv4Addr::new(10, 0, 2, 15);
        assert!(same_subnet(addr, 24, Ipv4Addr::new(10, 0, 2, 2)));
        assert!(!same_subnet(addr, 24, Ipv4Addr::new(10, 0, 3, 2)));
        assert!(same_subnet(addr, 16, Ipv4Addr::new(10, 0, 3, 2)));
        assert!(same_subnet(addr, 0, Ipv4Addr::new(192, 168, 0, 1)));
    }

    #[test]
    fn describes_a_dhcp_lease() {
        let text = describe(
            Ipv4Addr::new(10, 0, 2, 15),
            24,
            Some(Ipv4Addr::new(10, 0, 2, 2)),
            &[IpAddr::V4(Ipv4Addr::new(10, 0, 2, 3))],
            Source::Dhcp {
                lease_secs: Some(86400),
            },
        );
        assert_eq!(
            text,
            "10.0.2.15/24 via 10.0.2.2, dns 10.0.2.3 (dhcp, lease 86400s)"
        );
    }

    #[test]
    fn describes_a_bare_static_address_and_several_servers() {
        let bare = describe(
            Ipv4Addr::new(192, 168, 1, 10),
            24,
            None,
            &[],
            Source::Static,
        );
        assert_eq!(bare, "192.168.1.10/24 (static)");
        let dns = [
            IpAddr::V4(Ipv4Addr::new(1, 1, 1, 1)),
            "2606:4700::1111".parse().unwrap(),
        ];
        let full = describe(
            Ipv4Addr::new(192, 168, 1, 10),
            24,
            None,
            &dns,
            Source::Static,
        );
        assert_eq!(
            full,
            "192.168.1.10/24, dns 1.1.1.1 2606:4700::1111 (static)"
        );
        let infinite = describe(
            Ipv4Addr::new(10, 1, 1, 1),
            8,
            None,
            &[],
            Source::Dhcp { lease_secs: None },
        );
        assert_eq!(infinite, "10.1.1.1/8 (dhcp, lease infinite)");
    }
}
