//! `GET /v1/logs` and `GET /v1/kmsg`: the last lines of one source or of
//! all of them in time order, then, with `follow=true`, new lines as they
//! are written.

mod files;
mod follow;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use hyper::{Response, StatusCode};

use crate::names::is_log_source;

use super::body::{self, Body, ChannelBody};
use super::query;
use super::Context;

pub use files::{tail, MAX_BYTES};
pub use follow::Follower;

const DEFAULT_LINES: usize = 200;
pub const MAX_LINES: usize = 10_000;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogQuery {
    /// `None`: every source.
    pub source: Option<String>,
    pub lines: usize,
    pub follow: bool,
}

/// Reads `app`, `lines` and `follow`; `fixed` is the source of an
/// endpoint that names it (`/v1/kmsg`).
pub fn parse_query(raw: Option<&str>, fixed: Option<&str>) -> Result<LogQuery, String> {
    let known: &[&str] = if fixed.is_some() {
        &["lines", "follow"]
    } else {
        &["app", "lines", "follow"]
    };
    let params = query::parse(raw, known).map_err(|e| e.to_string())?;
    let source =
        match (fixed, params.get("app")) {
            (Some(fixed), _) => Some(fixed.to_owned()),
            (None, Some(app)) if is_log_source(app) => Some(app.clone()),
            (None, Some(_)) => return Err(
                "app must be an app or job name, `cairn` or `kernel` (a lowercase letter, then \
                 lowercase letters, digits or `-`)"
                    .into(),
            ),
            (None, None) => None,
        };
    let lines = match params.get("lines") {
        None => DEFAULT_LINES,
        Some(n) => match n.parse::<usize>() {
            Ok(n) if n <= MAX_LINES => n,
            _ => return Err(format!("lines must be a number from 0 to {MAX_LINES}")),
        },
    };
    let follow = query::flag(params.get("follow"), "follow")?;
    Ok(LogQuery {
        source,
        lines,
        follow,
    })
}

pub const CONTENT_TYPE: &str = "text/plain; charset=utf-8";

pub async fn respond(ctx: Arc<Context>, query: LogQuery) -> Response<Body> {
    let logs = ctx.config.paths.logs.clone();
    if let Some(source) = &query.source {
        if !logs.join(source).is_dir() {
            return body::error(StatusCode::NOT_FOUND, &format!("no logs for {source}"));
        }
    }
    let follow = query.follow;
    let poll = ctx.limits.follow_poll;
    let started = tokio::task::spawn_blocking(move || start(&logs, &query)).await;
    let (followers, first) = match started {
        Ok(Ok(started)) => started,
        Ok(Err(e)) => {
            return body::error(
                StatusCode::INTERNAL_SERVER_ERROR,
                &format!("reading logs: {e}"),
            )
        }
        Err(_) => return body::error(StatusCode::INTERNAL_SERVER_ERROR, "reading logs failed"),
    };
    if !follow {
        return body::text(StatusCode::OK, CONTENT_TYPE, body::full(first));
    }
    let (sender, stream) = ChannelBody::channel(16);
    let _ = sender.try_send(Bytes::from(first));
    let logs = ctx.config.paths.logs.clone();
    tokio::spawn(follow_loop(sender, followers, logs, poll));
    body::text(StatusCode::OK, CONTENT_TYPE, stream)
}

/// What one request follows: one source, or every source (new ones join
/// as their directories appear).
struct Following {
    followers: Vec<Follower>,
    every_source: bool,
}

fn start(logs: &Path, query: &LogQuery) -> std::io::Result<(Following, Vec<u8>)> {
    let every_source = query.source.is_none();
    let sources = match &query.source {
        Some(source) => vec![source.clone()],
        None => files::sources(logs),
    };
    let mut followers = Vec::new();
    let mut lines: Vec<Vec<u8>> = Vec::new();
    let mut budget = MAX_BYTES;
    for source in sources {
        let dir = logs.join(&source);
        let (follower, start) = Follower::new(source, dir.clone());
        let end = if query.follow {
            start.or(Some(0))
        } else {
            None
        };
        lines.extend(tail(&dir, query.lines, end, &mut budget)?);
        followers.push(follower);
    }
    if every_source {
        // Each source's lines are in order already; a stable sort by time
        // interleaves them.
        lines.sort_by(|a, b| files::time_of(a).cmp(files::time_of(b)));
    }
    let skip = lines.len().saturating_sub(query.lines);
    Ok((
        Following {
            followers,
            every_source,
        },
        text_of(&lines[skip..]),
    ))
}

/// Lines as UTF-8 text: bytes that are not become U+FFFD.
fn text_of(lines: &[Vec<u8>]) -> Vec<u8> {
    let mut out = Vec::new();
    for line in lines {
        out.extend_from_slice(String::from_utf8_lossy(line).as_bytes());
    }
    out
}

fn poll_all(logs: &Path, following: &mut Following) -> Vec<u8> {
    if following.every_source {
        for source in files::sources(logs) {
            if !following.followers.iter().any(|f| f.source == source) {
                let dir: PathBuf = logs.join(&source);
                // A source that appears while following is new: all of its
                // lines are new too.
                let (mut follower, _) = Follower::new(source, dir);
                follower.rewind();
                following.followers.push(follower);
            }
        }
    }
    let mut lines: Vec<Vec<u8>> = Vec::new();
    for follower in &mut following.followers {
        if let Ok(mut new) = follower.poll() {
            lines.append(&mut new);
        }
    }
    if following.every_source {
        lines.sort_by(|a, b| files::time_of(a).cmp(files::time_of(b)));
    }
    text_of(&lines)
}

async fn follow_loop(
    sender: tokio::sync::mpsc::Sender<Bytes>,
    mut following: Following,
    logs: PathBuf,
    poll: Duration,
) {
    loop {
        tokio::time::sleep(poll).await;
        if sender.is_closed() {
            return;
        }
        let logs = logs.clone();
        let polled = tokio::task::spawn_blocking(move || {
            let text = poll_all(&logs, &mut following);
            (following, text)
        })
        .await;
        let Ok((back, text)) = polled else {
            return;
        };
        following = back;
        if !text.is_empty() && sender.send(Bytes::from(text)).await.is_err() {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queries() {
        assert_eq!(
            parse_query(None, None).unwrap(),
            LogQuery {
                source: None,
                lines: 200,
                follow: false
            }
        );
        let q = parse_query(Some("app=web&lines=5&follow=true"), None).unwrap();
        assert_eq!(
            (q.source.as_deref(), q.lines, q.follow),
            (Some("web"), 5, true)
        );
        assert_eq!(
            parse_query(Some("lines=3"), Some("kernel"))
                .unwrap()
                .source
                .as_deref(),
            Some("kernel")
        );
        for bad in [
            "app=..",
            "app=%2e%2e",
            "app=a/b",
            "lines=-1",
            "lines=10001",
            "lines=x",
            "follow=maybe",
            "other=1",
        ] {
            assert!(parse_query(Some(bad), None).is_err(), "{bad}");
        }
        assert!(parse_query(Some("app=web"), Some("kernel")).is_err());
    }
}
