//! `--to HOST[:PORT]`: where a device's control API is, and the name its
//! certificate must carry.
//!
//! A device's certificate names its hostname and `cairn.local`. Reached by
//! a DNS name, the certificate must name that; reached by an IP address or
//! `localhost` (a forwarded port of `cairn run`, a box on the bench), it
//! must name `cairn.local`, which every device of the project has. Either
//! way it must be signed by the project's CA, which is what tells one
//! project's devices from anyone else's.

use std::fmt;
use std::net::IpAddr;

use crate::keys::DEVICE_NAME;

/// The control API's port when `--to` names none.
pub const DEFAULT_PORT: u16 = cairn_manifest::DEFAULT_CONTROL_PORT;

/// A device to talk to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// As given, without brackets for an IPv6 address.
    pub host: String,
    pub port: u16,
    /// The name checked in the device's certificate.
    pub tls_name: String,
}

impl Target {
    /// Parses `HOST`, `HOST:PORT`, `[V6]`, `[V6]:PORT` or a bare IPv6 address.
    pub fn parse(text: &str) -> Result<Target, String> {
        let text = text.trim();
        let bad = |why: &str| {
            format!("--to {text:?}: {why}; write HOST or HOST:PORT (e.g. edge-01, 10.0.0.7:7443, [::1]:17443)")
        };
        let (host, port) = if let Some(rest) = text.strip_prefix('[') {
            let (host, after) = rest
                .split_once(']')
                .ok_or_else(|| bad("an IPv6 address in brackets needs its ']'"))?;
            match after.strip_prefix(':') {
                Some(port) => (host, Some(port)),
                None if after.is_empty() => (host, None),
                None => return Err(bad("unexpected text after ']'")),
            }
        } else if text.parse::<std::net::Ipv6Addr>().is_ok() {
            (text, None)
        } else {
            match text.rsplit_once(':') {
                Some((host, port)) => (host, Some(port)),
                None => (text, None),
            }
        };
        if host.is_empty() {
            return Err(bad("no host"));
        }
        let port = match port {
            Some(p) => p
                .parse::<u16>()
                .ok()
                .filter(|p| *p > 0)
                .ok_or_else(|| bad("the port is not a number from 1 to 65535"))?,
            None => DEFAULT_PORT,
        };
        let by_address = host.parse::<IpAddr>().is_ok() || host.eq_ignore_ascii_case("localhost");
        let tls_name = if by_address {
            DEVICE_NAME.to_owned()
        } else {
            host.to_ascii_lowercase()
        };
        Ok(Target {
            host: host.to_owned(),
            port,
            tls_name,
        })
    }

    /// `host:port` as a `Host` header and a message write it.
    pub fn authority(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.authority())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_addresses_and_ports() {
        let t = Target::parse("edge-01").unwrap();
        assert_eq!(
            (t.host.as_str(), t.port, t.tls_name.as_str()),
            ("edge-01", 7443, "edge-01")
        );
        let t = Target::parse("Edge-01.example.net:8443").unwrap();
        assert_eq!((t.port, t.tls_name.as_str()), (8443, "edge-01.example.net"));
        let t = Target::parse("127.0.0.1:17443").unwrap();
        assert_eq!((t.port, t.tls_name.as_str()), (17443, DEVICE_NAME));
        let t = Target::parse("localhost").unwrap();
        assert_eq!(t.tls_name, DEVICE_NAME);
        let t = Target::parse("[::1]:9").unwrap();
        assert_eq!(
            (t.host.as_str(), t.port, t.authority().as_str()),
            ("::1", 9, "[::1]:9")
        );
        let t = Target::parse("fe80::1").unwrap();
        assert_eq!((t.port, t.tls_name.as_str()), (7443, DEVICE_NAME));
        for bad in ["", ":7443", "edge:0", "edge:x", "[::1", "[::1]x"] {
            assert!(Target::parse(bad).is_err(), "{bad}");
        }
    }
}
