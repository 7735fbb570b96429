//! `[services.NAME]` as written: each key, its default, and each error at
//! its exact place. Checks against apps and other services are in
//! `services_cross.rs`.

mod support;

use std::path::PathBuf;
use std::time::Duration;

use cairn_manifest::{Balance, Limits, Protocol, Selector, Slo, Start, Tls};
use support::{error, errors, help, ok};

/// An app `web` with port `http`, and `[services.web]` in front of it on
/// line 7; `extra` starts on line 11.
fn service(extra: &str) -> String {
    format!(
        "version = 1\n[apps.web]\nbundle = \"build/web\"\nexec = [\"/bin/web\"]\n[apps.web.ports]\nhttp = 8080\n\
         [services.web]\napp = \"web\"\nport = \"http\"\nlisten = 80\n{extra}"
    )
}

#[test]
fn a_service_needs_only_app_port_and_listen() {
    let m = ok(&service(""));
    let web = &m.services["web"];
    assert_eq!(web.name, "web");
    assert_eq!(
        (web.app.as_str(), web.port.as_str(), web.listen),
        ("web", "http", 80)
    );
    assert_eq!(web.protocol, Protocol::Tcp);
    assert_eq!(web.balance, Balance::LeastLoaded);
    assert_eq!(web.start, Start::Always);
    assert_eq!((web.slo, web.tls.clone()), (None, None));
    assert_eq!(web.host(), "web.service");
    assert_eq!(web.env_name(), "SERVICE_WEB");
    assert!(ok("version = 1\n").services.is_empty());
}

#[test]
fn every_key_is_read() {
    let m = ok(&service(
        "protocol = \"http\"\nbalance = \"program\"\nstart = \"on-demand\"\nidle_stop = \"90s\"\n\
         slo = { within = \"200ms\", target = \"99.9%\" }\ntls = { cert = \"tls/web.pem\", key = \"web-tls\" }\n\
         [services.web.selector]\nbundle = \"lb/pick\"\nexec = [\"/bin/pick\", \"--fast\"]\ntimeout = \"20ms\"\n\
         headers = [\"X-Tenant\", \"x-region\"]\n[services.web.selector.limits]\nmemory = \"32MiB\"\n",
    ));
    let web = &m.services["web"];
    assert_eq!(web.protocol, Protocol::Http);
    assert_eq!(
        web.balance,
        Balance::Program(Selector {
            bundle: PathBuf::from("lb/pick"),
            exec: vec!["/bin/pick".into(), "--fast".into()],
            timeout: Duration::from_millis(20),
            // Lower case, in the order written.
            headers: vec!["x-tenant".into(), "x-region".into()],
            limits: Limits {
                memory: Some(32 << 20),
                ..Limits::default()
            },
        })
    );
    assert_eq!(
        web.start,
        Start::OnDemand {
            idle_stop: Duration::from_secs(90)
        }
    );
    assert_eq!(
        web.slo,
        Some(Slo {
            within: Duration::from_millis(200),
            target_percent: 99.9
        })
    );
    assert_eq!(
        web.tls,
        Some(Tls {
            cert: PathBuf::from("tls/web.pem"),
            key: "web-tls".into()
        })
    );
}

#[test]
fn defaults_of_selector_and_on_demand() {
    let m = ok(&service(
        "balance = \"program\"\nstart = \"on-demand\"\n[services.web.selector]\nbundle = \"b\"\nexec = [\"/bin/pick\"]\n",
    ));
    let web = &m.services["web"];
    let Balance::Program(selector) = &web.balance else {
        panic!("a program balance: {:?}", web.balance)
    };
    assert_eq!(selector.timeout, Duration::from_millis(5));
    assert!(selector.headers.is_empty());
    assert_eq!(selector.limits, Limits::default());
    assert_eq!(
        web.start,
        Start::OnDemand {
            idle_stop: Duration::from_secs(600)
        }
    );
}

#[test]
fn app_port_and_listen_are_required() {
    let text = "version = 1\n[services.web]\nport = \"http\"\nlisten = 80\n";
    assert_eq!(error(text), "2:11: [services.web] has no `app`");
    let text = "version = 1\n[services.web]\napp = \"\"\nport = \"http\"\nlisten = 80\n";
    assert_eq!(error(text), "3:7: `app` in [services.web] is empty");
    let all = errors("version = 1\n[services.web]\n");
    let messages: Vec<_> = all.iter().map(|d| d.message.as_str()).collect();
    assert_eq!(
        messages,
        [
            "[services.web] has no `app`",
            "[services.web] has no `port`",
            "[services.web] has no `listen`"
        ]
    );
    assert!(all[2]
        .help
        .as_deref()
        .unwrap()
        .contains("on every interface"));
}

#[test]
fn listen_is_a_port_number() {
    let text = service("").replace("listen = 80", "listen = 0");
    assert_eq!(
        error(&text),
        "10:10: `listen` in [services.web] is 0, but must be from 1 to 65535"
    );
    let text = service("").replace("listen = 80", "listen = \"80\"");
    assert_eq!(
        error(&text),
        "10:10: `listen` in [services.web] must be an integer, not a string"
    );
    assert_eq!(help(&text), "write it without quotes: listen = 80");
}

#[test]
fn unknown_keys_and_names() {
    let text = service("protcol = \"http\"\n");
    assert_eq!(
        error(&text),
        "11:1: unknown key `protcol` in [services.web]"
    );
    assert_eq!(help(&text), "did you mean `protocol`?");
    let text = "version = 1\n[services.Web]\napp = \"x\"\nport = \"p\"\nlisten = 80\n";
    assert!(
        errors(text)
            .iter()
            .any(|d| (d.line, d.column) == (2, 11)
                && d.message == "`Web` is not a valid service name")
    );
    let text = "version = 1\n[services.cairn-lb]\napp = \"x\"\nport = \"p\"\nlisten = 80\n";
    let reserved = errors(text).remove(0);
    assert_eq!(reserved.message, "`cairn-lb` is not a valid service name");
    assert!(reserved
        .help
        .unwrap()
        .contains("reserved for the system's own services"));
}

#[test]
fn protocol_balance_and_start_are_choices() {
    let text = service("protocol = \"https\"\n");
    assert_eq!(
        error(&text),
        "11:12: `protocol` in [services.web] must be \"tcp\" or \"http\", not \"https\""
    );
    assert_eq!(help(&text), "did you mean \"http\"?");
    let text = service("balance = \"round-robbin\"\n");
    assert_eq!(
        error(&text),
        "11:11: `balance` in [services.web] must be \"round-robin\", \"least-loaded\", \"hash\" or \"program\", not \"round-robbin\""
    );
    assert_eq!(help(&text), "did you mean \"round-robin\"?");
    assert_eq!(
        ok(&service("balance = \"round-robin\"\n")).services["web"].balance,
        Balance::RoundRobin
    );
    assert_eq!(
        error(&service("start = \"lazy\"\n")),
        "11:9: `start` in [services.web] must be \"always\" or \"on-demand\", not \"lazy\""
    );
}

#[test]
fn a_selector_comes_exactly_with_balance_program() {
    let text = service("balance = \"program\"\n");
    assert_eq!(
        error(&text),
        "11:11: balance = \"program\" but [services.web] has no selector"
    );
    assert_eq!(
        help(&text),
        "add [services.web.selector] with the `bundle` and `exec` of the program that picks backends"
    );
    assert_eq!(
        error(&service(
            "balance = \"program\"\nselector = \"/bin/pick\"\n"
        )),
        "12:12: `selector` in [services.web] must be a table, not a string"
    );
    let text = service("[services.web.selector]\nbundle = \"b\"\nexec = [\"/bin/pick\"]\n");
    assert_eq!(
        error(&text),
        "11:15: `selector` in [services.web] applies to balance = \"program\" only"
    );
    assert_eq!(
        help(&text),
        "set balance = \"program\", or remove `selector`"
    );
    let text =
        service("balance = \"hash\"\nselector = { bundle = \"b\", exec = [\"/bin/pick\"] }\n");
    assert_eq!(
        error(&text),
        "12:1: `selector` in [services.web] applies to balance = \"program\" only"
    );
}

/// A program-balanced http service whose selector table starts on line 13.
fn selector(extra: &str) -> String {
    service(&format!(
        "protocol = \"http\"\nbalance = \"program\"\n[services.web.selector]\n{extra}"
    ))
}

#[test]
fn a_selector_is_a_program_like_an_app() {
    assert_eq!(
        error(&selector("exec = [\"/bin/pick\"]\n")),
        "13:15: [services.web.selector] has no `bundle`"
    );
    assert_eq!(
        error(&selector("bundle = \"b\"\n")),
        "13:15: [services.web.selector] has no `exec`"
    );
    assert_eq!(
        error(&selector("bundle = \"b\"\nexec = [\"pick\"]\n")),
        "15:9: the program `pick` is not an absolute path"
    );
    assert_eq!(
        error(&selector(
            "bundle = \"b\"\nexec = [\"/bin/pick\", \"${ports.http}\"]\n"
        )),
        "15:23: `${ports.http}`: selectors have no ports"
    );
    assert_eq!(
        error(&selector(
            "bundle = \"b\"\nexec = [\"/bin/pick\"]\nuser = \"root\"\n"
        )),
        "16:1: unknown key `user` in [services.web.selector]"
    );
    assert_eq!(
        error(&selector(
            "bundle = \"b\"\nexec = [\"/bin/pick\"]\nlimits = { memory = \"1KiB\" }\n"
        )),
        "16:21: `memory` in [services.web.selector.limits] must be at least 1MiB"
    );
}

#[test]
fn a_selector_answers_quickly() {
    let base = "bundle = \"b\"\nexec = [\"/bin/pick\"]\n";
    let text = selector(&format!("{base}timeout = \"2s\"\n"));
    assert_eq!(
        error(&text),
        "16:11: `timeout` in [services.web.selector] must be at most 1s"
    );
    assert!(help(&text).contains("default 5ms"));
    assert_eq!(
        error(&selector(&format!("{base}timeout = \"0ms\"\n"))),
        "16:11: `timeout` in [services.web.selector] must be longer than zero"
    );
    let m = ok(&selector(&format!("{base}timeout = \"1s\"\n")));
    let Balance::Program(s) = &m.services["web"].balance else {
        panic!("a program balance")
    };
    assert_eq!(s.timeout, Duration::from_secs(1));
}

#[test]
fn selector_headers_are_http_header_names_each_once() {
    let base = "bundle = \"b\"\nexec = [\"/bin/pick\"]\n";
    assert_eq!(
        error(&selector(&format!("{base}headers = [\"x tenant\"]\n"))),
        "16:12: `x tenant` is not a valid header name"
    );
    assert_eq!(
        error(&selector(&format!(
            "{base}headers = [\"x-tenant\", \"X-Tenant\"]\n"
        ))),
        "16:24: `X-Tenant` is listed twice in `headers`"
    );
    // Headers exist in http only.
    let text = service(&format!(
        "balance = \"program\"\n[services.web.selector]\n{base}headers = [\"x-tenant\"]\n"
    ));
    assert_eq!(
        error(&text),
        "15:11: `headers` in [services.web.selector] needs protocol = \"http\""
    );
    assert_eq!(
        help(&text),
        "a tcp connection carries no headers: remove it, or set protocol = \"http\""
    );
    // An empty list asks for nothing, so tcp is fine.
    let text = service(&format!(
        "balance = \"program\"\n[services.web.selector]\n{base}headers = []\n"
    ));
    ok(&text);
}

#[test]
fn hash_is_on_the_client_address_or_an_http_header() {
    let m = ok(&service("balance = \"hash\"\n"));
    assert_eq!(m.services["web"].balance, Balance::Hash { header: None });
    let m = ok(&service("balance = \"hash\"\nhash = {}\n"));
    assert_eq!(m.services["web"].balance, Balance::Hash { header: None });
    let m = ok(&service(
        "protocol = \"http\"\nbalance = \"hash\"\nhash = { header = \"X-Tenant\" }\n",
    ));
    assert_eq!(
        m.services["web"].balance,
        Balance::Hash {
            header: Some("x-tenant".into())
        }
    );
    assert_eq!(
        error(&service(
            "balance = \"hash\"\nhash = { header = \"x-tenant\" }\n"
        )),
        "12:19: `header` in [services.web.hash] needs protocol = \"http\""
    );
    assert_eq!(
        error(&service(
            "balance = \"hash\"\nhash = { header = \"a:b\" }\n"
        )),
        "12:19: `a:b` is not a valid header name"
    );
    assert_eq!(
        error(&service("balance = \"hash\"\nhash = { cookie = \"id\" }\n")),
        "12:10: unknown key `cookie` in [services.web.hash]"
    );
    let text = service("hash = { header = \"x-tenant\" }\n");
    assert_eq!(
        error(&text),
        "11:1: `hash` in [services.web] applies to balance = \"hash\" only"
    );
    assert_eq!(help(&text), "set balance = \"hash\", or remove `hash`");
}

#[test]
fn idle_stop_goes_with_on_demand_only() {
    let text = service("idle_stop = \"10m\"\n");
    assert_eq!(
        error(&text),
        "11:1: `idle_stop` in [services.web] applies to start = \"on-demand\" only"
    );
    assert!(help(&text).starts_with("an app started at boot is never stopped for being idle"));
    let text = service("start = \"always\"\nidle_stop = \"10m\"\n");
    assert_eq!(
        error(&text),
        "12:1: `idle_stop` in [services.web] applies to start = \"on-demand\" only"
    );
    assert_eq!(
        error(&service("start = \"on-demand\"\nidle_stop = \"0s\"\n")),
        "12:13: `idle_stop` in [services.web] must be longer than zero"
    );
}

#[test]
fn an_slo_is_a_latency_and_a_percentage() {
    let text = service("slo = { within = \"200ms\" }\n");
    assert_eq!(error(&text), "11:1: [services.web.slo] has no `target`");
    assert_eq!(
        help(&text),
        "write slo = { within = \"200ms\", target = \"99%\" }"
    );
    assert_eq!(
        error(&service("slo = { target = \"99%\" }\n")),
        "11:1: [services.web.slo] has no `within`"
    );
    let text = service("slo = { within = \"200ms\", target = 99 }\n");
    assert_eq!(
        error(&text),
        "11:36: `target` in [services.web.slo] must be a string, not an integer"
    );
    assert_eq!(
        help(&text),
        "write a percentage in quotes, like target = \"99%\""
    );
    let text = service("slo = { within = \"200ms\", target = \"0.99\" }\n");
    assert_eq!(
        error(&text),
        "11:36: `target` in [services.web.slo] is not a valid percentage"
    );
    assert!(
        help(&text).starts_with("`0.99` has no `%`"),
        "{}",
        help(&text)
    );
    assert_eq!(
        error(&service(
            "slo = { within = \"200ms\", target = \"120%\" }\n"
        )),
        "11:36: `target` in [services.web.slo] is not a valid percentage"
    );
    assert_eq!(
        error(&service("slo = { within = \"0s\", target = \"99%\" }\n")),
        "11:18: `within` in [services.web.slo] must be longer than zero"
    );
    // The table form reads the same.
    let m = ok(&service(
        "[services.web.slo]\nwithin = \"1s\"\ntarget = \"100%\"\n",
    ));
    assert_eq!(
        m.services["web"].slo,
        Some(Slo {
            within: Duration::from_secs(1),
            target_percent: 100.0
        })
    );
}

#[test]
fn tls_takes_a_certificate_file_and_a_secret_for_the_key() {
    assert_eq!(
        error(&service("tls = { key = \"web-tls\" }\n")),
        "11:1: [services.web.tls] has no `cert`"
    );
    assert_eq!(
        error(&service("tls = { cert = \"tls/web.pem\" }\n")),
        "11:1: [services.web.tls] has no `key`"
    );
    assert_eq!(
        error(&service("tls = { cert = \"\", key = \"web-tls\" }\n")),
        "11:16: `cert` in [services.web.tls] is empty"
    );
    let text = service("tls = { cert = \"tls/web.pem\", key = \"tls/web.key\" }\n");
    assert_eq!(
        error(&text),
        "11:37: `tls/web.key` is not a valid secret name"
    );
    assert!(help(&text).starts_with("`key` names a secret stored on the device, never a file"));
    let text = service("tls = { cert = \"tls/web.pem\", key = \"Web_TLS\" }\n");
    assert_eq!(error(&text), "11:37: `Web_TLS` is not a valid secret name");
    assert!(help(&text).starts_with("secret names are 1 to 64"));
}
