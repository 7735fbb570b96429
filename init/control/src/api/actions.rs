//! The endpoints that ask PID 1 to act: restart, reboot, rollback, secrets.
//! Each checks what it can here (names, bodies, what the status files
//! say), then carries the request to PID 1 and its answer back.

use std::sync::Arc;

use hyper::body::Incoming;
use hyper::{HeaderMap, Response, StatusCode};
use serde::{Deserialize, Serialize};

use crate::names::{is_app_name, secret_name_problem};
use crate::pid1::{self, Accepted, Pid1Error};
use crate::protocol::Pid1Request;
use crate::time::{format_rfc3339, parse_rfc3339};

use super::body::{self, Body};
use super::identity::Identity;
use super::sources;
use super::Context;

/// A secret's largest size (`docs/control-api.md`).
pub const MAX_SECRET: u64 = 64 * 1024;
/// `{"at": "..."}` needs little room.
const MAX_REBOOT_BODY: u64 = 4096;

#[derive(Serialize)]
struct Done {
    result: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    at: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    app: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    name: Option<String>,
}

impl Done {
    fn new(result: &'static str) -> Done {
        Done {
            result,
            at: None,
            app: None,
            name: None,
        }
    }
}

/// PID 1's refusal is a conflict with the system's state; not reaching it
/// is the device's fault, not the caller's.
pub fn pid1_failure(error: &Pid1Error) -> Response<Body> {
    let status = match error {
        Pid1Error::Refused(_) => StatusCode::CONFLICT,
        Pid1Error::Unreachable(_) | Pid1Error::Timeout => StatusCode::SERVICE_UNAVAILABLE,
        Pid1Error::BadReply => StatusCode::BAD_GATEWAY,
    };
    body::error(status, &error.to_string())
}

async fn ask(ctx: &Context, request: &Pid1Request<'_>) -> Result<Accepted, Response<Body>> {
    pid1::request(&ctx.config.paths.pid1_socket, request)
        .await
        .map_err(|e| pid1_failure(&e))
}

pub async fn restart(ctx: Arc<Context>, who: &Identity, app: String) -> Response<Body> {
    if !is_app_name(&app) {
        return body::error(
            StatusCode::BAD_REQUEST,
            "app names start with a lowercase letter, then up to 31 lowercase letters, digits or `-`",
        );
    }
    let status_path = ctx.config.paths.status.clone();
    let status = tokio::task::spawn_blocking(move || sources::read_status(&status_path)).await;
    if let Ok(Ok(Some(status))) = &status {
        if !status.instances.iter().any(|i| i.app == app) {
            return body::error(
                StatusCode::NOT_FOUND,
                &format!("the system has no app {app}"),
            );
        }
    }
    match ask(
        &ctx,
        &Pid1Request::Restart {
            app: &app,
            by: &who.name,
        },
    )
    .await
    {
        Ok(_) => body::json(
            StatusCode::OK,
            &Done {
                app: Some(app),
                ..Done::new("restarting")
            },
        ),
        Err(response) => response,
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RebootBody {
    #[serde(default)]
    at: Option<String>,
}

pub async fn reboot(
    ctx: Arc<Context>,
    who: &Identity,
    headers: &HeaderMap,
    incoming: Incoming,
) -> Response<Body> {
    let bytes =
        match body::read_small(headers, incoming, MAX_REBOOT_BODY, ctx.limits.body_timeout).await {
            Ok(bytes) => bytes,
            Err(e) => return e.response(),
        };
    let at =
        if bytes.iter().all(u8::is_ascii_whitespace) {
            None
        } else {
            match serde_json::from_slice::<RebootBody>(&bytes) {
                Ok(RebootBody { at: None }) => None,
                Ok(RebootBody { at: Some(text) }) => match parse_rfc3339(&text) {
                    Some(at) => Some(at),
                    None => return body::error(
                        StatusCode::BAD_REQUEST,
                        "at must be an RFC 3339 time with its offset, like 2026-12-04T23:00:00Z",
                    ),
                },
                Err(_) => {
                    return body::error(
                        StatusCode::BAD_REQUEST,
                        "the body must be {} or {\"at\": \"<RFC 3339 time>\"}",
                    )
                }
            }
        };
    match ask(&ctx, &Pid1Request::Reboot { at, by: &who.name }).await {
        Ok(accepted) => {
            let at = accepted.at.or(at);
            body::json(
                StatusCode::OK,
                &Done {
                    at: at.map(format_rfc3339),
                    ..Done::new(if at.is_some() {
                        "scheduled"
                    } else {
                        "rebooting"
                    })
                },
            )
        }
        Err(response) => response,
    }
}

pub async fn rollback(ctx: Arc<Context>, who: &Identity) -> Response<Body> {
    let system_path = ctx.config.paths.system.clone();
    let running = ctx.config.bank;
    let system = tokio::task::spawn_blocking(move || sources::read_system(&system_path)).await;
    if let Ok(Ok(Some(system))) = &system {
        if let Some(banks) = &system.banks {
            let other = match running.other() {
                cairn_update::entries::Bank::A => &banks.a,
                cairn_update::entries::Bank::B => &banks.b,
            };
            let state = other.as_ref().and_then(|b| b.state.as_deref());
            if state != Some("good") {
                return body::error(
                    StatusCode::CONFLICT,
                    &format!(
                        "bank {} holds no good version to roll back to (its state is {})",
                        running.other(),
                        state.unwrap_or("unknown")
                    ),
                );
            }
        }
    }
    match ask(&ctx, &Pid1Request::Rollback { by: &who.name }).await {
        Ok(_) => body::json(StatusCode::OK, &Done::new("rolling back")),
        Err(response) => response,
    }
}

pub async fn secret(
    ctx: Arc<Context>,
    who: &Identity,
    name: String,
    headers: &HeaderMap,
    incoming: Incoming,
) -> Response<Body> {
    if let Some(rule) = secret_name_problem(&name) {
        return body::error(StatusCode::BAD_REQUEST, rule);
    }
    let bytes = match body::read_small(headers, incoming, MAX_SECRET, ctx.limits.body_timeout).await
    {
        Ok(bytes) => bytes,
        Err(e) => return e.response(),
    };
    let request = Pid1Request::Secret {
        name: &name,
        value: &bytes,
        by: &who.name,
    };
    match ask(&ctx, &request).await {
        Ok(_) => body::json(
            StatusCode::OK,
            &Done {
                name: Some(name.clone()),
                ..Done::new("stored")
            },
        ),
        Err(response) => response,
    }
}
