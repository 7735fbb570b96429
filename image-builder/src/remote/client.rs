//! The control API's calls, one function each.

use std::fs::File;
use std::io::Read;
use std::path::Path;
use std::time::Duration;

use serde::Deserialize;

use super::http::{self, Body, Response, Timeouts};
use super::identity::Identity;
use super::status::Status;
use super::target::Target;
use super::RemoteError;

/// Most answers come at once.
const QUICK: Timeouts = Timeouts {
    connect: Duration::from_secs(10),
    io: Some(Duration::from_secs(30)),
};
/// After the last byte of a bundle, the device still checks and writes it.
const UPDATE: Timeouts = Timeouts {
    connect: Duration::from_secs(10),
    io: Some(Duration::from_secs(900)),
};
/// The control API's bound on a secret.
pub const MAX_SECRET: u64 = 64 * 1024;

/// `POST /v1/update`'s answer.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Written {
    #[serde(default)]
    pub result: String,
    #[serde(default)]
    pub version: String,
    #[serde(default)]
    pub build: u64,
    #[serde(default)]
    pub reboot: String,
}

/// A device and who talks to it.
#[derive(Debug, Clone)]
pub struct Client {
    pub target: Target,
    pub identity: Identity,
    /// For polls: a device that is rebooting should not hold a poll long.
    pub poll_timeouts: Timeouts,
}

impl Client {
    pub fn new(target: Target, identity: Identity) -> Client {
        Client {
            target,
            identity,
            poll_timeouts: Timeouts {
                connect: Duration::from_secs(5),
                io: Some(Duration::from_secs(10)),
            },
        }
    }

    fn call(
        &self,
        method: &str,
        path: &str,
        body: Body<'_>,
        timeouts: Timeouts,
    ) -> Result<Response, RemoteError> {
        let response = http::exchange(&self.target, &self.identity, method, path, body, timeouts)?;
        if (200..300).contains(&response.status) {
            return Ok(response);
        }
        let status = response.status;
        let text = response.text().unwrap_or_default();
        Err(RemoteError::Refused {
            target: self.target.authority(),
            status,
            message: error_message(&text, status),
        })
    }

    fn json<T: for<'de> Deserialize<'de>>(&self, response: Response) -> Result<T, RemoteError> {
        let text = response.text()?;
        serde_json::from_str(&text).map_err(|e| {
            RemoteError::Protocol(format!(
                "{} answered JSON this cairn does not understand ({e})",
                self.target.authority()
            ))
        })
    }

    /// `GET /v1/status`, as the device sent it.
    pub fn status_text(&self) -> Result<String, RemoteError> {
        self.call("GET", "/v1/status", Body::Empty, QUICK)?.text()
    }

    /// `GET /v1/status`.
    pub fn status(&self) -> Result<Status, RemoteError> {
        let response = self.call("GET", "/v1/status", Body::Empty, QUICK)?;
        self.json(response)
    }

    /// `GET /v1/status` with the short timeouts of a poll.
    pub fn poll_status(&self) -> Result<Status, RemoteError> {
        let response = self.call("GET", "/v1/status", Body::Empty, self.poll_timeouts)?;
        self.json(response)
    }

    /// `GET /v1/logs`: the body, to be read as it comes.
    pub fn logs(
        &self,
        app: Option<&str>,
        lines: Option<u32>,
        follow: bool,
    ) -> Result<Response, RemoteError> {
        let mut query = Vec::new();
        if let Some(app) = app {
            query.push(format!("app={}", encode(app)));
        }
        if let Some(lines) = lines {
            query.push(format!("lines={lines}"));
        }
        if follow {
            query.push("follow=true".to_owned());
        }
        let path = if query.is_empty() {
            "/v1/logs".to_owned()
        } else {
            format!("/v1/logs?{}", query.join("&"))
        };
        let timeouts = if follow {
            Timeouts { io: None, ..QUICK }
        } else {
            QUICK
        };
        self.call("GET", &path, Body::Empty, timeouts)
    }

    /// `POST /v1/update`: streams the bundle at `path`, telling `progress`
    /// the bytes sent so far.
    pub fn update(
        &self,
        path: &Path,
        query: &str,
        progress: &mut dyn FnMut(u64),
    ) -> Result<Written, RemoteError> {
        let io = |error| RemoteError::Io {
            context: format!("cannot read {}", path.display()),
            error,
        };
        let mut file = File::open(path).map_err(io)?;
        let len = file.metadata().map_err(io)?.len();
        let response = self.call(
            "POST",
            &format!("/v1/update{query}"),
            Body::Stream {
                len,
                reader: &mut file,
                content_type: "application/octet-stream",
                progress,
            },
            UPDATE,
        )?;
        self.json(response)
    }

    /// `POST /v1/rollback`.
    pub fn rollback(&self) -> Result<String, RemoteError> {
        self.post_json("/v1/rollback", "{}")
    }

    /// `POST /v1/reboot`, now or at an RFC 3339 time.
    pub fn reboot(&self, at: Option<&str>) -> Result<String, RemoteError> {
        let body = match at {
            Some(at) => serde_json::json!({ "at": at }).to_string(),
            None => "{}".to_owned(),
        };
        self.post_json("/v1/reboot", &body)
    }

    /// `POST /v1/apps/NAME/restart`.
    pub fn restart(&self, app: &str) -> Result<String, RemoteError> {
        self.post_json(&format!("/v1/apps/{}/restart", encode(app)), "{}")
    }

    /// `PUT /v1/secrets/NAME` with the content of `file`.
    pub fn put_secret(&self, name: &str, file: &Path) -> Result<String, RemoteError> {
        let io = |error| RemoteError::Io {
            context: format!("cannot read {}", file.display()),
            error,
        };
        let mut bytes = Vec::new();
        File::open(file)
            .map_err(io)?
            .take(MAX_SECRET + 1)
            .read_to_end(&mut bytes)
            .map_err(io)?;
        if bytes.len() as u64 > MAX_SECRET {
            return Err(RemoteError::Protocol(format!(
                "{} is larger than a secret may be (64 KiB)",
                file.display()
            )));
        }
        let response = self.call(
            "PUT",
            &format!("/v1/secrets/{}", encode(name)),
            Body::Bytes {
                bytes: &bytes,
                content_type: "application/octet-stream",
            },
            QUICK,
        );
        // The secret's bytes go no further than the request.
        bytes.fill(0);
        response?.text()
    }

    fn post_json(&self, path: &str, body: &str) -> Result<String, RemoteError> {
        self.call(
            "POST",
            path,
            Body::Bytes {
                bytes: body.as_bytes(),
                content_type: "application/json",
            },
            QUICK,
        )?
        .text()
    }
}

/// The `error` of a JSON error body, else the body, else the status.
fn error_message(text: &str, status: u16) -> String {
    serde_json::from_str::<serde_json::Value>(text)
        .ok()
        .and_then(|v| v.get("error").and_then(|e| e.as_str()).map(str::to_owned))
        .or_else(|| Some(text.trim().to_owned()).filter(|t| !t.is_empty()))
        .unwrap_or_else(|| format!("HTTP {status}"))
}

/// Percent-encodes all but the unreserved characters of a path segment or
/// query value.
fn encode(text: &str) -> String {
    text.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_and_encoding() {
        assert_eq!(
            error_message(r#"{"error":"another board"}"#, 409),
            "another board"
        );
        assert_eq!(error_message("plain", 500), "plain");
        assert_eq!(error_message("", 404), "HTTP 404");
        assert_eq!(encode("web-1.x"), "web-1.x");
        assert_eq!(encode("a b/c"), "a%20b%2Fc");
    }
}
