//! `POST /v1/update`: the request body goes to the update writer's socket
//! as it arrives (never held whole), the writer's outcome comes back, and on
//! success PID 1 is asked to reboot into the new version.

use std::sync::Arc;
use std::time::Duration;

use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper::{HeaderMap, Response, StatusCode};
use serde::Serialize;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::unix::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::UnixStream;

use crate::pid1;
use crate::protocol::{Pid1Request, Problem, UpdateRequest, WriterEvent};
use crate::time::{format_rfc3339, parse_rfc3339};

use super::actions::pid1_failure;
use super::body::{self, declared_length, Body, BodyError};
use super::identity::Identity;
use super::query;
use super::Context;

const MAX_EVENT_LINE: u64 = 64 * 1024;
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// When to reboot into the new version.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reboot {
    Now,
    No,
    At(i64),
}

impl Reboot {
    pub fn parse(value: Option<&String>) -> Result<Reboot, String> {
        match value.map(String::as_str) {
            None | Some("now") => Ok(Reboot::Now),
            Some("no") => Ok(Reboot::No),
            Some(time) => parse_rfc3339(time).map(Reboot::At).ok_or_else(|| {
                "reboot must be now, no, or an RFC 3339 time with its offset".to_owned()
            }),
        }
    }

    fn shown(self) -> String {
        match self {
            Reboot::Now => "now".into(),
            Reboot::No => "no".into(),
            Reboot::At(at) => format_rfc3339(at),
        }
    }
}

#[derive(Serialize)]
struct Written<'a> {
    result: &'static str,
    version: &'a str,
    build: u64,
    entry: &'a str,
    reboot: String,
}

pub async fn update(
    ctx: Arc<Context>,
    who: &Identity,
    raw_query: Option<&str>,
    headers: &HeaderMap,
    incoming: Incoming,
) -> Response<Body> {
    let params = match query::parse(raw_query, &["allow_downgrade", "reboot"]) {
        Ok(params) => params,
        Err(e) => return body::error(StatusCode::BAD_REQUEST, &e.to_string()),
    };
    let allow_downgrade = match query::flag(params.get("allow_downgrade"), "allow_downgrade") {
        Ok(flag) => flag,
        Err(e) => return body::error(StatusCode::BAD_REQUEST, &e),
    };
    let reboot = match Reboot::parse(params.get("reboot")) {
        Ok(reboot) => reboot,
        Err(e) => return body::error(StatusCode::BAD_REQUEST, &e),
    };
    let max = ctx.config.control.max_bundle_bytes;
    let length = match declared_length(headers) {
        Ok(Some(len)) if len > max => return BodyError::TooLarge { limit: max }.response(),
        Ok(length) => length,
        Err(e) => return e.response(),
    };

    let socket = &ctx.config.paths.update_socket;
    let stream = match tokio::time::timeout(CONNECT_TIMEOUT, UnixStream::connect(socket)).await {
        Ok(Ok(stream)) => stream,
        _ => {
            return body::error(
                StatusCode::SERVICE_UNAVAILABLE,
                "the update writer is not running; try again shortly",
            )
        }
    };
    let (reader, mut writer) = stream.into_split();
    let request = UpdateRequest {
        allow_downgrade,
        length,
    };
    let mut line = serde_json::to_vec(&request).unwrap_or_default();
    line.push(b'\n');
    let mut outcome = tokio::spawn(read_outcome(reader));
    if writer.write_all(&line).await.is_err() {
        // Refused before it read a word (another update runs), or gone.
        let event = tokio::time::timeout(CONNECT_TIMEOUT, outcome).await;
        return relay(&ctx, who, reboot, event.ok().and_then(Result::ok).flatten()).await;
    }
    let pump = pump(incoming, writer, max, ctx.limits.body_timeout);
    tokio::pin!(pump);
    let pumped = tokio::select! {
        pumped = &mut pump => pumped,
        // The writer answered before the body ended: a refusal, or a
        // failure it found on its own.
        finished = &mut outcome => return relay(&ctx, who, reboot, finished.ok().flatten()).await,
    };
    let finished = tokio::time::timeout(ctx.limits.writer_timeout, outcome).await;
    let event = match finished {
        Ok(Ok(event)) => event,
        _ => None,
    };
    match pumped {
        Ok(()) | Err(Pump::WriterGone) => relay(&ctx, who, reboot, event).await,
        Err(Pump::Client(e)) => e.response(),
    }
}

enum Pump {
    Client(BodyError),
    WriterGone,
}

/// Copies the body into the writer's socket, then closes the socket's
/// sending side so the writer sees where the bundle ends.
async fn pump(
    mut incoming: Incoming,
    mut writer: OwnedWriteHalf,
    max: u64,
    idle: Duration,
) -> Result<(), Pump> {
    let mut total = 0u64;
    loop {
        let frame = match tokio::time::timeout(idle, incoming.frame()).await {
            Err(_) => return Err(Pump::Client(BodyError::Timeout)),
            Ok(None) => break,
            Ok(Some(Err(_))) => return Err(Pump::Client(BodyError::Broken)),
            Ok(Some(Ok(frame))) => frame,
        };
        let Ok(data) = frame.into_data() else {
            continue;
        };
        total = total.saturating_add(data.len() as u64);
        if total > max {
            return Err(Pump::Client(BodyError::TooLarge { limit: max }));
        }
        if writer.write_all(&data).await.is_err() {
            return Err(Pump::WriterGone);
        }
    }
    writer.shutdown().await.map_err(|_| Pump::WriterGone)
}

/// The writer's final event; `None` if it ended without one.
async fn read_outcome(reader: OwnedReadHalf) -> Option<WriterEvent> {
    let mut reader = BufReader::new(reader);
    loop {
        let mut line = Vec::new();
        let n = (&mut reader)
            .take(MAX_EVENT_LINE)
            .read_until(b'\n', &mut line)
            .await
            .ok()?;
        if n == 0 || line.last() != Some(&b'\n') {
            return None;
        }
        let event: WriterEvent = serde_json::from_slice(&line).ok()?;
        if event.is_final() {
            return Some(event);
        }
    }
}

fn status_of(problem: Problem) -> StatusCode {
    match problem {
        Problem::Busy | Problem::Policy | Problem::Space => StatusCode::CONFLICT,
        Problem::Bundle | Problem::Request => StatusCode::BAD_REQUEST,
        Problem::System => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

async fn relay(
    ctx: &Context,
    who: &Identity,
    reboot: Reboot,
    event: Option<WriterEvent>,
) -> Response<Body> {
    match event {
        Some(WriterEvent::Done {
            version,
            build,
            entry,
        }) => {
            let at = match reboot {
                Reboot::No => None,
                Reboot::Now => Some(None),
                Reboot::At(at) => Some(Some(at)),
            };
            if let Some(at) = at {
                let request = Pid1Request::UpdateReboot { at, by: &who.name };
                if let Err(e) = pid1::request(&ctx.config.paths.pid1_socket, &request).await {
                    let mut response = pid1_failure(&e);
                    let message = format!(
                        "version {version} (build {build}) is written and boots at the next reboot, \
                         but PID 1 did not take the reboot: {e}"
                    );
                    *response.body_mut() = body::error(response.status(), &message).into_body();
                    return response;
                }
            }
            body::json(
                StatusCode::OK,
                &Written {
                    result: "written",
                    version: &version,
                    build,
                    entry: &entry,
                    reboot: reboot.shown(),
                },
            )
        }
        Some(WriterEvent::Refused { error, problem }) => body::error(status_of(problem), &error),
        Some(WriterEvent::Failed { error, problem }) => body::error(
            status_of(problem),
            &format!("{error}; nothing boots the partly written version"),
        ),
        _ => body::error(
            StatusCode::BAD_GATEWAY,
            "the update writer ended without an answer; nothing boots what it may have written",
        ),
    }
}
