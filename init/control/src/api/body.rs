//! Responses, and reading request bodies within bounds: a length above the
//! limit is refused from its header alone, a body that grows past it or
//! stalls is cut off.

use std::convert::Infallible;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http_body::{Body as HttpBody, Frame};
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::header::{HeaderValue, CACHE_CONTROL, CONTENT_LENGTH, CONTENT_TYPE};
use hyper::{HeaderMap, Response, StatusCode};
use serde::Serialize;
use tokio::sync::mpsc;
use zeroize::Zeroizing;

/// Every response body.
pub type Body = BoxBody<Bytes, Infallible>;

pub fn full(bytes: impl Into<Bytes>) -> Body {
    Full::new(bytes.into()).boxed()
}

fn with_type(status: StatusCode, content_type: &'static str, body: Body) -> Response<Body> {
    let mut response = Response::new(body);
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

pub fn json(status: StatusCode, value: &impl Serialize) -> Response<Body> {
    match serde_json::to_vec(value) {
        Ok(mut bytes) => {
            bytes.push(b'\n');
            with_type(status, "application/json", full(bytes))
        }
        Err(_) => error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "encoding the answer failed",
        ),
    }
}

/// `{"error": "..."}`.
pub fn error(status: StatusCode, message: &str) -> Response<Body> {
    #[derive(Serialize)]
    struct Error<'a> {
        error: &'a str,
    }
    match serde_json::to_vec(&Error { error: message }) {
        Ok(mut bytes) => {
            bytes.push(b'\n');
            with_type(status, "application/json", full(bytes))
        }
        Err(_) => with_type(status, "application/json", full("{}\n")),
    }
}

pub fn text(status: StatusCode, content_type: &'static str, body: Body) -> Response<Body> {
    with_type(status, content_type, body)
}

/// A body fed from a channel: the log follower sends lines into it, and
/// notices the client left when the channel closes.
#[derive(Debug)]
pub struct ChannelBody {
    receiver: mpsc::Receiver<Bytes>,
}

impl ChannelBody {
    pub fn channel(capacity: usize) -> (mpsc::Sender<Bytes>, Body) {
        let (sender, receiver) = mpsc::channel(capacity);
        (sender, ChannelBody { receiver }.boxed())
    }
}

impl HttpBody for ChannelBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        self.receiver
            .poll_recv(cx)
            .map(|chunk| chunk.map(|bytes| Ok(Frame::data(bytes))))
    }
}

/// Why a body was not read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BodyError {
    #[error("the body is larger than {limit} bytes")]
    TooLarge { limit: u64 },
    #[error("the body did not arrive in time")]
    Timeout,
    #[error("reading the body failed")]
    Broken,
    #[error("the Content-Length header is not a number")]
    BadLength,
}

impl BodyError {
    pub fn status(&self) -> StatusCode {
        match self {
            BodyError::TooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            BodyError::Timeout => StatusCode::REQUEST_TIMEOUT,
            BodyError::Broken | BodyError::BadLength => StatusCode::BAD_REQUEST,
        }
    }

    pub fn response(&self) -> Response<Body> {
        error(self.status(), &self.to_string())
    }
}

/// The `Content-Length` the client declared, if any.
pub fn declared_length(headers: &HeaderMap) -> Result<Option<u64>, BodyError> {
    match headers.get(CONTENT_LENGTH) {
        None => Ok(None),
        Some(value) => value
            .to_str()
            .ok()
            .and_then(|v| v.parse::<u64>().ok())
            .map(Some)
            .ok_or(BodyError::BadLength),
    }
}

/// Reads a whole small body, at most `limit` bytes, within `deadline`. The
/// buffer is wiped when dropped: a body may be a secret.
pub async fn read_small(
    headers: &HeaderMap,
    body: Incoming,
    limit: u64,
    deadline: Duration,
) -> Result<Zeroizing<Vec<u8>>, BodyError> {
    if declared_length(headers)?.is_some_and(|len| len > limit) {
        return Err(BodyError::TooLarge { limit });
    }
    match tokio::time::timeout(deadline, collect(body, limit)).await {
        Ok(result) => result,
        Err(_) => Err(BodyError::Timeout),
    }
}

async fn collect(mut body: Incoming, limit: u64) -> Result<Zeroizing<Vec<u8>>, BodyError> {
    let mut out = Zeroizing::new(Vec::new());
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|_| BodyError::Broken)?;
        if let Ok(data) = frame.into_data() {
            if out.len() as u64 + data.len() as u64 > limit {
                return Err(BodyError::TooLarge { limit });
            }
            // Grow by hand: a reallocation would leave a copy unwiped.
            if out.capacity() < out.len() + data.len() {
                let mut bigger = Zeroizing::new(Vec::with_capacity(
                    (out.len() + data.len()).max(out.capacity() * 2),
                ));
                bigger.extend_from_slice(&out);
                out = bigger;
            }
            out.extend_from_slice(&data);
        }
    }
    Ok(out)
}
