//! `[logging]`: console level, per-app log files, remote syslog.

use std::net::Ipv6Addr;
use std::path::PathBuf;

use crate::model::{FileSink, LogLevel, Logging, RemoteSink, SyslogTransport};
use crate::names;
use crate::reader::{find, Ctx, Field, Section};
use crate::tree::Kind;

pub(crate) const DEFAULT_MAX_SIZE: u64 = 10 << 20;
pub(crate) const DEFAULT_KEEP: u32 = 5;
/// Lines per second an app may log before lines are dropped (and counted).
pub const DEFAULT_RATE_LIMIT: u32 = 20_000;
const MIN_MAX_SIZE: u64 = 64 << 10;

pub(crate) fn read(ctx: &mut Ctx<'_>, root: &Section<'_>) -> Logging {
    let mut logging = Logging {
        console: LogLevel::Info,
        file: FileSink {
            max_size: DEFAULT_MAX_SIZE,
            keep: DEFAULT_KEEP,
        },
        remote: Vec::new(),
        rate_limit: DEFAULT_RATE_LIMIT,
    };
    let Some(section) = ctx.table(
        root,
        "logging",
        &["console", "file", "remote", "rate_limit"],
    ) else {
        return logging;
    };
    let levels = [
        ("error", LogLevel::Error),
        ("warn", LogLevel::Warn),
        ("info", LogLevel::Info),
        ("debug", LogLevel::Debug),
        ("trace", LogLevel::Trace),
    ];
    if let Some(level) = ctx.choice(&section, "console", &levels) {
        logging.console = level.value;
    }
    if let Some(file) = ctx.table(&section, "file", &["max_size", "keep"]) {
        if let Some(size) = ctx.size(&file, "max_size") {
            if size.value < MIN_MAX_SIZE {
                let message = format!("{} must be at least 64KiB", size.path.describe());
                ctx.error(
                    size.span(),
                    message,
                    Some("smaller files would rotate all the time".to_owned()),
                );
            } else {
                logging.file.max_size = size.value;
            }
        }
        let keep_help =
            "keep is how many rotated files to keep besides the current one, at least 1";
        if let Some(keep) = ctx.integer_in(&file, "keep", 1..=1000, keep_help) {
            logging.file.keep = u32::try_from(keep.value).unwrap_or(DEFAULT_KEEP);
        }
    }
    let rate_help = "rate_limit is how many lines per second each app may log, 100 to 1000000";
    if let Some(rate) = ctx.integer_in(&section, "rate_limit", 100..=1_000_000, rate_help) {
        logging.rate_limit = u32::try_from(rate.value).unwrap_or(DEFAULT_RATE_LIMIT);
    }
    logging.remote = remotes(ctx, &section);
    logging
}

fn remotes(ctx: &mut Ctx<'_>, logging: &Section<'_>) -> Vec<RemoteSink> {
    let Some(entry) = find(logging, "remote") else {
        return Vec::new();
    };
    let path = logging.path.key("remote");
    let Kind::Array(items) = &entry.value.kind else {
        let help = "write each server as its own [[logging.remote]] table with a `url`".to_owned();
        ctx.wrong_type(&entry.value, &path, "an array of tables", Some(help));
        return Vec::new();
    };
    let mut sinks = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let item_path = path.index(i);
        let Some(entries) = item.entries() else {
            ctx.wrong_type(item, &item_path, "a table", None);
            continue;
        };
        let table = Section {
            path: item_path,
            entries,
            key_span: item.span.clone(),
        };
        ctx.check_keys(&table, &["url", "ca"]);
        let ca = ca(ctx, &table);
        if find(&table, "url").is_none() {
            let help = "add url = \"syslog+tls://logs.example.net:6514\"".to_owned();
            ctx.missing(&table, "url", Some(help));
            continue;
        }
        let Some(url) = ctx.string(&table, "url") else {
            continue;
        };
        let Some(mut sink) = remote_url(ctx, &url) else {
            continue;
        };
        if let Some(ca) = ca {
            if sink.transport == SyslogTransport::Tls {
                sink.ca = Some(PathBuf::from(ca));
            } else if let Some(entry) = find(&table, "ca") {
                let message = format!(
                    "{} applies to syslog+tls only",
                    table.path.key("ca").describe()
                );
                let help = "a CA file checks a TLS collector's certificate: remove `ca`, or send \
                            over syslog+tls://"
                    .to_owned();
                ctx.error(&entry.key_span, message, Some(help));
            }
        }
        sinks.push(sink);
    }
    sinks
}

/// `ca`, a host path like `bundle`: read here, checked against the URL's
/// transport by the caller and against the building host by `cairn build`.
fn ca<'n>(ctx: &mut Ctx<'_>, table: &Section<'n>) -> Option<&'n str> {
    let ca = ctx.string(table, "ca")?;
    if ca.value.is_empty() {
        let message = format!("{} is empty", ca.path.describe());
        let help = "give the host path of a PEM file of CA certificates, relative to this \
                    manifest"
            .to_owned();
        ctx.error(ca.span(), message, Some(help));
        return None;
    }
    Some(ca.value)
}

const URL_HELP: &str =
    "write syslog+udp://HOST[:PORT], syslog+tcp://HOST[:PORT] or syslog+tls://HOST[:PORT]";

/// `syslog+udp://host[:port]`, `syslog+tcp://...`, `syslog+tls://...`; IPv6
/// hosts in brackets.
fn remote_url(ctx: &mut Ctx<'_>, url: &Field<'_, &str>) -> Option<RemoteSink> {
    match parse_remote_url(url.value) {
        Ok(sink) => Some(sink),
        Err((offset, message)) => {
            let span = ctx.span_in_string(url.node, offset);
            ctx.error(&span, message, Some(URL_HELP.to_owned()));
            None
        }
    }
}

/// The error is the byte offset in `url` it concerns, and the message.
fn parse_remote_url(url: &str) -> Result<RemoteSink, (usize, String)> {
    let Some((scheme, rest)) = url.split_once("://") else {
        return Err((0, format!("`{url}` is not a syslog URL")));
    };
    let (transport, default_port) = match scheme {
        "syslog+udp" => (SyslogTransport::Udp, 514),
        "syslog+tcp" => (SyslogTransport::Tcp, 514),
        "syslog+tls" => (SyslogTransport::Tls, 6514),
        _ => return Err((0, format!("unknown log transport `{scheme}`"))),
    };
    let host_at = scheme.len() + 3;
    let rest = rest.strip_suffix('/').unwrap_or(rest);
    let (host, port_text) = if let Some(bracketed) = rest.strip_prefix('[') {
        let Some((inside, after)) = bracketed.split_once(']') else {
            return Err((host_at, "the IPv6 address has no closing `]`".to_owned()));
        };
        if inside.parse::<Ipv6Addr>().is_err() {
            return Err((host_at, format!("`{inside}` is not an IPv6 address")));
        }
        match after.strip_prefix(':') {
            Some(port) => (inside, Some(port)),
            None if after.is_empty() => (inside, None),
            None => {
                return Err((
                    host_at + inside.len() + 2,
                    format!("unexpected `{after}` after the host"),
                ))
            }
        }
    } else {
        match rest.split_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (rest, None),
        }
    };
    if host.is_empty() {
        return Err((host_at, format!("`{url}` has no host")));
    }
    if !rest.starts_with('[')
        && !names::is_dns_name(host)
        && host.parse::<std::net::Ipv4Addr>().is_err()
    {
        return Err((
            host_at,
            format!("`{host}` is not a valid host name or address"),
        ));
    }
    let port = match port_text {
        None => default_port,
        Some(text) => match text.parse::<u16>() {
            Ok(port) if port > 0 => port,
            _ => {
                let at = url.rfind(':').map_or(host_at, |colon| colon + 1);
                return Err((at, format!("`{text}` is not a port number (1 to 65535)")));
            }
        },
    };
    Ok(RemoteSink {
        transport,
        host: host.to_owned(),
        port,
        ca: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sink(url: &str) -> RemoteSink {
        parse_remote_url(url).unwrap()
    }

    #[test]
    fn urls_and_default_ports() {
        let tls = sink("syslog+tls://logs.example.net:6514");
        assert_eq!(
            (tls.transport, tls.host.as_str(), tls.port),
            (SyslogTransport::Tls, "logs.example.net", 6514)
        );
        assert_eq!(sink("syslog+tls://logs.example.net").port, 6514);
        assert_eq!(sink("syslog+udp://10.0.0.5").port, 514);
        assert_eq!(sink("syslog+tcp://10.0.0.5:1514/").port, 1514);
        let v6 = sink("syslog+udp://[fd00::1]:5514");
        assert_eq!((v6.host.as_str(), v6.port), ("fd00::1", 5514));
    }

    #[test]
    fn bad_urls_point_at_the_problem() {
        let err = |u| parse_remote_url(u).unwrap_err();
        assert_eq!(
            err("syslog+http://x"),
            (0, "unknown log transport `syslog+http`".to_owned())
        );
        assert_eq!(
            err("syslog+udp://"),
            (13, "`syslog+udp://` has no host".to_owned())
        );
        assert_eq!(err("syslog+udp://:514").0, 13);
        assert_eq!(
            err("syslog+udp://host:0"),
            (18, "`0` is not a port number (1 to 65535)".to_owned())
        );
        assert_eq!(err("syslog+udp://host:99999").0, 18);
        assert!(err("logs.example.net").1.contains("not a syslog URL"));
        assert!(err("syslog+udp://bad_host").1.contains("not a valid host"));
        assert!(err("syslog+udp://[fd00::1").1.contains("closing"));
        assert!(err("syslog+udp://h/path").1.contains("not a valid host"));
    }
}
