//! Errors in `[network]` and `[logging]`, each at its exact place.

mod support;

use std::path::Path;

use cairn_manifest::{Interface, LogLevel, SyslogTransport};
use support::{error, errors, help, ok};

fn interface(body: &str) -> String {
    format!("version = 1\n[network.interfaces.eth0]\n{body}\n")
}

#[test]
fn dhcp_or_a_static_address_not_both() {
    assert_eq!(
        ok(&interface("dhcp = true")).network.interfaces["eth0"],
        Interface::Dhcp
    );
    assert_eq!(
        error(&interface("dhcp = true\naddress = \"10.0.0.2/24\"")),
        "4:11: `address` in [network.interfaces.eth0] is set together with dhcp = true"
    );
    assert_eq!(
        error(&interface("dhcp = false")),
        "2:21: [network.interfaces.eth0] has neither dhcp = true nor an `address`"
    );
    assert_eq!(
        error(&interface("dhcp = \"yes\"")),
        "3:8: `dhcp` in [network.interfaces.eth0] must be true or false, not a string"
    );
    assert_eq!(
        error("version = 1\n[network.interfaces.lo]\ndhcp = true\n"),
        "2:21: the loopback interface `lo` is always up and cannot be configured"
    );
}

#[test]
fn static_addresses() {
    let m = ok(&interface(
        "address = \"10.0.0.2/8\"\ngateway = \"10.200.0.1\"\ndns = [\"1.1.1.1\"]",
    ));
    assert_eq!(
        m.network.interfaces["eth0"],
        Interface::Static {
            address: "10.0.0.2".parse().unwrap(),
            prefix_len: 8,
            gateway: Some("10.200.0.1".parse().unwrap()),
            dns: vec!["1.1.1.1".parse().unwrap()],
        }
    );
    assert_eq!(
        error(&interface("address = \"10.0.0.2\"")),
        "3:11: `10.0.0.2` is not an address with a prefix length"
    );
    assert_eq!(
        error(&interface("address = \"10.0.0.2/33\"")),
        "3:11: `10.0.0.2/33` is not an address with a prefix length"
    );
    assert_eq!(
        error(&interface("address = \"10.0.0.255/24\"")),
        "3:11: `10.0.0.255/24` is the broadcast address of its subnet, not a host address"
    );
    assert_eq!(
        error(&interface(
            "address = \"10.0.0.2/24\"\ngateway = \"10.0.1.1\""
        )),
        "4:11: gateway 10.0.1.1 is not in the interface's subnet 10.0.0.0/24"
    );
    assert_eq!(
        error(&interface(
            "address = \"10.0.0.2/24\"\ngateway = \"10.0.0.2\""
        )),
        "4:11: gateway 10.0.0.2 is the interface's own address"
    );
    assert_eq!(
        error(&interface(
            "address = \"10.0.0.2/24\"\ndns = [\"1.1.1.1\", \"dns.example\"]"
        )),
        "4:19: dns server `dns.example` is not an IP address"
    );
    ok(&interface("address = \"10.0.0.2/32\""));
}

#[test]
fn logging_levels_and_files() {
    let m = ok("version = 1\n[logging]\nconsole = \"debug\"\n[logging.file]\nmax_size = \"64KiB\"\nkeep = 1\n");
    assert_eq!(m.logging.console, LogLevel::Debug);
    assert_eq!(
        (m.logging.file.max_size, m.logging.file.keep),
        (64 << 10, 1)
    );
    assert_eq!(
        error("version = 1\n[logging]\nconsole = \"verbose\"\n"),
        "3:11: `console` in [logging] must be \"error\", \"warn\", \"info\", \"debug\" or \"trace\", not \"verbose\""
    );
    assert_eq!(
        error("version = 1\n[logging.file]\nmax_size = \"63KiB\"\n"),
        "3:12: `max_size` in [logging.file] must be at least 64KiB"
    );
    assert_eq!(
        error("version = 1\n[logging.file]\nkeep = 0\n"),
        "3:8: `keep` in [logging.file] is 0, but must be from 1 to 1000"
    );
}

#[test]
fn the_per_app_rate_limit() {
    assert_eq!(ok("version = 1\n").logging.rate_limit, 20_000);
    let m = ok("version = 1\n[logging]\nrate_limit = 500\n");
    assert_eq!(m.logging.rate_limit, 500);
    assert_eq!(
        error("version = 1\n[logging]\nrate_limit = 5\n"),
        "3:14: `rate_limit` in [logging] is 5, but must be from 100 to 1000000"
    );
    assert!(error("version = 1\n[logging]\nrate_limit = \"fast\"\n").contains("must be an integer"));
}

#[test]
fn remote_syslog_urls() {
    let m = ok("version = 1\n[[logging.remote]]\nurl = \"syslog+tcp://logs.example.net\"\n[[logging.remote]]\nurl = \"syslog+tls://[fd00::1]\"\n");
    let got: Vec<_> = m
        .logging
        .remote
        .iter()
        .map(|r| (r.transport, r.host.as_str(), r.port))
        .collect();
    assert_eq!(
        got,
        [
            (SyslogTransport::Tcp, "logs.example.net", 514),
            (SyslogTransport::Tls, "fd00::1", 6514)
        ]
    );
    let remote = |url: &str| format!("version = 1\n[[logging.remote]]\nurl = \"{url}\"\n");
    assert_eq!(
        error(&remote("syslog+https://logs")),
        "3:8: unknown log transport `syslog+https`"
    );
    assert_eq!(
        help(&remote("syslog+https://logs")),
        "write syslog+udp://HOST[:PORT], syslog+tcp://HOST[:PORT] or syslog+tls://HOST[:PORT]"
    );
    assert_eq!(
        error(&remote("syslog+udp://")),
        "3:21: `syslog+udp://` has no host"
    );
    assert_eq!(
        error(&remote("syslog+udp://logs:x")),
        "3:26: `x` is not a port number (1 to 65535)"
    );
    let both = errors("version = 1\n[[logging.remote]]\nhost = \"x\"\n");
    let both: Vec<String> = both
        .iter()
        .map(|d| format!("{}:{}: {}", d.line, d.column, d.message))
        .collect();
    assert_eq!(
        both,
        [
            "2:1: [[logging.remote]] #1 has no `url`",
            "3:1: unknown key `host` in [[logging.remote]] #1"
        ]
    );
    assert_eq!(
        error("version = 1\n[logging]\nremote = \"syslog+udp://x\"\n"),
        "3:10: `remote` in [logging] must be an array of tables, not a string"
    );
}

#[test]
fn remote_ca_files_are_for_tls_only() {
    let remote =
        |url: &str, ca: &str| format!("version = 1\n[[logging.remote]]\nurl = \"{url}\"\n{ca}\n");
    let m = ok(&remote(
        "syslog+tls://logs.example.net",
        "ca = \"certs/logs-ca.pem\"",
    ));
    assert_eq!(
        m.logging.remote[0].ca.as_deref(),
        Some(Path::new("certs/logs-ca.pem"))
    );
    // Without `ca`, the builder picks the default.
    let m = ok(&remote("syslog+tls://logs.example.net", ""));
    assert_eq!(m.logging.remote[0].ca, None);
    assert_eq!(
        m.location("logging.remote.0.url")
            .map(|l| (l.line, l.column)),
        Some((3, 7))
    );

    for url in ["syslog+tcp://logs.example.net", "syslog+udp://10.0.0.5"] {
        let text = remote(url, "ca = \"certs/logs-ca.pem\"");
        assert_eq!(
            error(&text),
            "4:1: `ca` in [[logging.remote]] #1 applies to syslog+tls only"
        );
        assert_eq!(
            help(&text),
            "a CA file checks a TLS collector's certificate: remove `ca`, or send over syslog+tls://"
        );
    }
    // The second table is the one blamed, at its own `ca`.
    let two = "version = 1\n[[logging.remote]]\nurl = \"syslog+tls://a.example\"\nca = \"a.pem\"\n\
               [[logging.remote]]\nurl = \"syslog+tcp://b.example\"\n  ca = \"b.pem\"\n";
    assert_eq!(
        error(two),
        "7:3: `ca` in [[logging.remote]] #2 applies to syslog+tls only"
    );
    assert_eq!(
        error(&remote("syslog+tls://logs.example.net", "ca = \"\"")),
        "4:6: `ca` in [[logging.remote]] #1 is empty"
    );
    assert_eq!(
        error(&remote("syslog+tls://logs.example.net", "ca = 1")),
        "4:6: `ca` in [[logging.remote]] #1 must be a string, not an integer"
    );
    // A bad URL is reported once; its `ca` is not judged against it.
    assert_eq!(
        error(&remote("syslog+http://logs", "ca = \"a.pem\"")),
        "3:8: unknown log transport `syslog+http`"
    );
}
