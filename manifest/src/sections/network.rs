//! `[network.interfaces.NAME]`: DHCP or a static IPv4 address per interface.

use std::net::{IpAddr, Ipv4Addr};

use crate::model::{Interface, Network};
use crate::names;
use crate::reader::{find, Ctx, Field, Section};

const INTERFACE_KEYS: &[&str] = &["dhcp", "address", "gateway", "dns"];

pub(crate) fn read(ctx: &mut Ctx<'_>, root: &Section<'_>) -> Network {
    let mut network = Network::default();
    let Some(section) = ctx.table(root, "network", &["interfaces"]) else {
        return network;
    };
    for (name, table) in ctx.named_tables(&section, "interfaces", INTERFACE_KEYS) {
        if let Some(rule) = names::interface_name_problem(name) {
            let message = format!("`{name}` is not a valid interface name");
            ctx.error_at_key(&table.path, message, Some(rule.to_owned()));
        } else if name == "lo" {
            let message =
                "the loopback interface `lo` is always up and cannot be configured".to_owned();
            ctx.error_at_key(&table.path, message, None);
        }
        if let Some(interface) = interface(ctx, &table) {
            network.interfaces.insert(name.to_owned(), interface);
        }
    }
    network
}

fn interface(ctx: &mut Ctx<'_>, table: &Section<'_>) -> Option<Interface> {
    let dhcp = ctx.boolean(table, "dhcp");
    let address = ctx.string(table, "address");
    let gateway = ctx.string(table, "gateway");
    let dns = ctx.strings(table, "dns");
    let dhcp_on = dhcp.as_ref().is_some_and(|d| d.value);

    if dhcp_on {
        for (key, present) in [
            ("address", address.is_some()),
            ("gateway", gateway.is_some()),
            ("dns", dns.is_some()),
        ] {
            if present {
                let path = table.path.key(key);
                let message = format!("{} is set together with dhcp = true", path.describe());
                let help = "choose one: dhcp = true, or a static `address` (with optional `gateway` and `dns`)".to_owned();
                ctx.error_at_path(&path, message, Some(help));
            }
        }
        return Some(Interface::Dhcp);
    }
    let Some(address) = address else {
        if dhcp.is_none() && find(table, "dhcp").is_some() {
            return None; // `dhcp` has the wrong type, which is reported already.
        }
        let message = format!(
            "{} has neither dhcp = true nor an `address`",
            table.path.table_name()
        );
        let help = "write dhcp = true, or address = \"192.168.1.10/24\"".to_owned();
        ctx.error(&table.key_span, message, Some(help));
        return None;
    };
    let (ip, prefix_len) = cidr(ctx, &address)?;
    let gateway = gateway.and_then(|g| gateway_in_subnet(ctx, &g, ip, prefix_len));
    let dns = dns.map(|list| dns_servers(ctx, &list)).unwrap_or_default();
    Some(Interface::Static {
        address: ip,
        prefix_len,
        gateway,
        dns,
    })
}

/// "a.b.c.d/len", a host address (not the network or broadcast address).
fn cidr(ctx: &mut Ctx<'_>, field: &Field<'_, &str>) -> Option<(Ipv4Addr, u8)> {
    let help =
        || Some("write an IPv4 address and prefix length, like \"192.168.1.10/24\"".to_owned());
    let parsed = field.value.split_once('/').and_then(|(ip, len)| {
        let ip = ip.parse::<Ipv4Addr>().ok()?;
        let len = len.parse::<u8>().ok().filter(|l| (1..=32).contains(l))?;
        Some((ip, len))
    });
    let Some((ip, len)) = parsed else {
        let message = format!("`{}` is not an address with a prefix length", field.value);
        ctx.error(field.span(), message, help());
        return None;
    };
    if len <= 30 {
        let host_bits = u32::from(ip) & !mask(len);
        if host_bits == 0 || host_bits == !mask(len) {
            let which = if host_bits == 0 {
                "network"
            } else {
                "broadcast"
            };
            let message = format!(
                "`{}` is the {which} address of its subnet, not a host address",
                field.value
            );
            ctx.error(field.span(), message, help());
            return None;
        }
    }
    Some((ip, len))
}

fn gateway_in_subnet(
    ctx: &mut Ctx<'_>,
    field: &Field<'_, &str>,
    ip: Ipv4Addr,
    len: u8,
) -> Option<Ipv4Addr> {
    let Ok(gateway) = field.value.parse::<Ipv4Addr>() else {
        let message = format!("`{}` is not an IPv4 address", field.value);
        ctx.error(
            field.span(),
            message,
            Some("write it like \"192.168.1.1\"".to_owned()),
        );
        return None;
    };
    let subnet = u32::from(ip) & mask(len);
    if u32::from(gateway) & mask(len) != subnet {
        let message = format!(
            "gateway {gateway} is not in the interface's subnet {}/{len}",
            Ipv4Addr::from(subnet)
        );
        ctx.error(
            field.span(),
            message,
            Some("the gateway must be reachable directly on this interface".to_owned()),
        );
        return None;
    }
    if gateway == ip {
        let message = format!("gateway {gateway} is the interface's own address");
        ctx.error(field.span(), message, None);
        return None;
    }
    Some(gateway)
}

fn dns_servers(ctx: &mut Ctx<'_>, list: &Field<'_, Vec<Field<'_, &str>>>) -> Vec<IpAddr> {
    let mut servers = Vec::new();
    for item in &list.value {
        match item.value.parse::<IpAddr>() {
            Ok(ip) => servers.push(ip),
            Err(_) => {
                let message = format!("dns server `{}` is not an IP address", item.value);
                ctx.error(
                    item.span(),
                    message,
                    Some("write addresses, not names, like \"192.168.1.1\"".to_owned()),
                );
            }
        }
    }
    servers
}

fn mask(len: u8) -> u32 {
    u32::MAX.checked_shl(32 - u32::from(len)).unwrap_or(0)
}
