//! An interface configured from the manifest: address/prefix, an optional
//! gateway (the default route) and DNS servers.

use std::net::{IpAddr, Ipv4Addr};
use std::time::Instant;

use tracing::warn;

use super::addr::{self, Source};
use super::{link, resolv, NetError};

/// A static configuration, checked before anything touches the interface.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StaticConfig<'a> {
    pub address: Ipv4Addr,
    pub prefix_len: u8,
    pub gateway: Option<Ipv4Addr>,
    pub dns: &'a [IpAddr],
}

impl StaticConfig<'_> {
    /// Errors the kernel would report less clearly.
    pub fn check(&self, iface: &str) -> Result<(), NetError> {
        if self.prefix_len > 32 {
            return Err(NetError::InvalidPrefix {
                iface: iface.to_owned(),
                prefix_len: self.prefix_len,
            });
        }
        if let Some(gateway) = self.gateway {
            if !addr::same_subnet(self.address, self.prefix_len, gateway) {
                return Err(NetError::GatewayOutsideSubnet {
                    iface: iface.to_owned(),
                    gateway,
                    address: self.address,
                    prefix_len: self.prefix_len,
                });
            }
        }
        Ok(())
    }

    pub fn describe(&self) -> String {
        addr::describe(
            self.address,
            self.prefix_len,
            self.gateway,
            self.dns,
            Source::Static,
        )
    }
}

/// Configures `iface` once it exists (waiting until `appear_by`); returns its summary.
pub fn configure(
    iface: &str,
    config: &StaticConfig,
    appear_by: Instant,
) -> Result<String, NetError> {
    config.check(iface)?;
    link::wait_for(iface, appear_by)?;
    link::bring_up(iface)?;
    link::set_ipv4(iface, config.address, config.prefix_len)?;
    if let Some(gateway) = config.gateway {
        link::add_default_route(iface, gateway)?;
    }
    // The interface works without a resolver file; say so and carry on.
    if let Err(e) = resolv::set_servers(iface, config.dns) {
        warn!("{iface}: {e}");
    }
    Ok(config.describe())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(gateway: Option<Ipv4Addr>, prefix_len: u8) -> StaticConfig<'static> {
        StaticConfig {
            address: Ipv4Addr::new(192, 168, 1, 10),
            prefix_len,
            gateway,
            dns: &[],
        }
    }

    #[test]
    fn a_gateway_must_be_on_the_subnet() {
        config(Some(Ipv4Addr::new(192, 168, 1, 1)), 24)
            .check("eth0")
            .unwrap();
        let err = config(Some(Ipv4Addr::new(192, 168, 2, 1)), 24)
            .check("eth0")
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "eth0: gateway 192.168.2.1 is outside 192.168.1.10/24"
        );
        config(None, 32).check("eth0").unwrap();
    }

    #[test]
    fn an_impossible_prefix_is_refused() {
        let err = config(None, 40).check("eth0").unwrap_err();
        assert_eq!(err.to_string(), "eth0: invalid prefix length /40");
    }

    #[test]
    fn describes_itself() {
        let dns = [IpAddr::V4(Ipv4Addr::new(192, 168, 1, 1))];
        let config = StaticConfig {
            dns: &dns,
            ..config(Some(Ipv4Addr::new(192, 168, 1, 1)), 24)
        };
        assert_eq!(
            config.describe(),
            "192.168.1.10/24 via 192.168.1.1, dns 192.168.1.1 (static)"
        );
    }

    #[test]
    fn a_missing_interface_fails_without_touching_anything() {
        let err = configure("cairnnosuch0", &config(None, 24), Instant::now()).unwrap_err();
        assert!(matches!(err, NetError::NotFound { .. }), "{err}");
    }
}
