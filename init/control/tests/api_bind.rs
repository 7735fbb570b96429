//! The listener the API binds itself: every interface, IPv4 and IPv6.

mod common;

use std::net::SocketAddr;

use cairn_control::api::{self, Context, Server};

use common::certs::{self, Ca};
use common::client::{self, test_limits};
use common::device::Device;

#[tokio::test]
async fn binds_every_interface_for_ipv4_and_ipv6() {
    let device = Device::new();
    let ca = Ca::new("Cairn test CA");
    certs::install(&device.root().join("tls"), &ca);
    let config = device.config.clone();
    let tls = api::tls::server_config(
        &config.control.ca,
        &config.control.cert,
        &config.control.key,
    )
    .unwrap();
    let listener = api::bind(0).unwrap();
    let port = listener.local_addr().unwrap().port();
    let mut context = Context::new(config);
    context.limits = test_limits();
    tokio::spawn(api::serve(Server::new(context, tls), listener));

    let alice = ca.client("alice", Some("reader"));
    let mut addrs: Vec<SocketAddr> = vec![([127, 0, 0, 1], port).into()];
    if std::net::TcpListener::bind("[::1]:0").is_ok() {
        addrs.push((std::net::Ipv6Addr::LOCALHOST, port).into());
    }
    for addr in addrs {
        let tls = client::connect(addr, &ca, Some(&alice)).await.unwrap();
        let reply = client::send(tls, "GET", "/v1/status", b"").await;
        assert_eq!(reply.status, 200, "{addr}");
    }
}
