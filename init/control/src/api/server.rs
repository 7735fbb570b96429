//! Accepting connections: the TLS handshake within its time, the caller's
//! identity from its certificate, HTTP/1.1 with bounded heads, and one log
//! line per request.

use std::convert::Infallible;
use std::io;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use hyper::body::Incoming;
use hyper::header::{HeaderValue, ALLOW};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use rustls::ServerConfig;
use socket2::{Domain, Socket, Type};
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio_rustls::TlsAcceptor;

use crate::names::printable;

use super::body::{self, Body};
use super::facts::Facts;
use super::identity::Identity;
use super::routes::{NoRoute, Route};
use super::{actions, logs, metrics, status, update, Context};

/// Binds `port` on every interface: IPv6 with IPv4-mapped addresses where
/// the kernel has IPv6, IPv4 alone where it does not.
pub fn bind(port: u16) -> io::Result<TcpListener> {
    let dual = || -> io::Result<Socket> {
        let socket = Socket::new(Domain::IPV6, Type::STREAM, None)?;
        socket.set_only_v6(false)?;
        socket.set_reuse_address(true)?;
        socket.bind(&SocketAddr::from((Ipv6Addr::UNSPECIFIED, port)).into())?;
        Ok(socket)
    };
    let socket = match dual() {
        Ok(socket) => socket,
        Err(_) => {
            let socket = Socket::new(Domain::IPV4, Type::STREAM, None)?;
            socket.set_reuse_address(true)?;
            socket.bind(&SocketAddr::from((Ipv4Addr::UNSPECIFIED, port)).into())?;
            socket
        }
    };
    socket.listen(128)?;
    socket.set_nonblocking(true)?;
    TcpListener::from_std(socket.into())
}

/// The server: the handlers' context and the TLS acceptor.
#[derive(Clone)]
pub struct Server {
    context: Arc<Context>,
    acceptor: TlsAcceptor,
    slots: Arc<Semaphore>,
}

impl std::fmt::Debug for Server {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Server")
            .field("context", &self.context)
            .finish_non_exhaustive()
    }
}

impl Server {
    pub fn new(context: Context, tls: ServerConfig) -> Server {
        let slots = Arc::new(Semaphore::new(context.limits.max_connections));
        Server {
            context: Arc::new(context),
            acceptor: TlsAcceptor::from(Arc::new(tls)),
            slots,
        }
    }
}

/// Serves until the task is dropped.
pub async fn serve(server: Server, listener: TcpListener) {
    loop {
        let (tcp, peer) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(e) => {
                // Out of descriptors, mostly: wait for some to close.
                crate::log!("accepting a connection: {e}");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let Ok(slot) = Arc::clone(&server.slots).try_acquire_owned() else {
            drop(tcp);
            continue;
        };
        let server = server.clone();
        tokio::spawn(async move {
            let _slot = slot;
            connection(server, tcp, peer).await;
        });
    }
}

async fn connection(server: Server, tcp: tokio::net::TcpStream, peer: SocketAddr) {
    let limits = &server.context.limits;
    let log = &server.context.log;
    let _ = tcp.set_nodelay(true);
    // A connection closed before its first byte is a port probe (PID 1's
    // health check of this service is one, every few seconds): not worth
    // a log line.
    // One deadline for the probe and the handshake together.
    let deadline = tokio::time::Instant::now() + limits.handshake_timeout;
    let mut first = [0u8; 1];
    if let Ok(Ok(0)) = tokio::time::timeout_at(deadline, tcp.peek(&mut first)).await {
        return;
    }
    let tls = match tokio::time::timeout_at(deadline, server.acceptor.accept(tcp)).await {
        Ok(Ok(tls)) => tls,
        Ok(Err(e)) => {
            log.line(&format!("{peer}: handshake refused: {e}"));
            return;
        }
        Err(_) => {
            log.line(&format!("{peer}: handshake timed out"));
            return;
        }
    };
    let identity = tls
        .get_ref()
        .1
        .peer_certificates()
        .and_then(|chain| chain.first())
        .map_or_else(Identity::unknown, |leaf| Identity::from_certificate(leaf));
    let identity = Arc::new(identity);
    let context = Arc::clone(&server.context);
    let service = service_fn(move |request| {
        let context = Arc::clone(&context);
        let identity = Arc::clone(&identity);
        async move { Ok::<_, Infallible>(logged(context, identity, request).await) }
    });
    let mut http = http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout)
        .max_buf_size(limits.max_header_bytes.max(8192))
        .max_headers(limits.max_headers)
        .keep_alive(true);
    let _ = http.serve_connection(TokioIo::new(tls), service).await;
}

/// One request, and its line in the log:
/// `alice (admin) POST /v1/update -> 200 in 9.8s`. The path is shown
/// without its query, which may hold values that are nobody's business.
async fn logged(
    context: Arc<Context>,
    identity: Arc<Identity>,
    request: Request<Incoming>,
) -> Response<Body> {
    let started = Instant::now();
    let method = printable(request.method().as_str(), 16);
    let path = printable(request.uri().path(), 200);
    let response = route(Arc::clone(&context), &identity, request).await;
    context.log.line(&format!(
        "{identity} {method} {path} -> {} in {}",
        response.status().as_u16(),
        elapsed(started.elapsed())
    ));
    response
}

fn elapsed(took: Duration) -> String {
    if took < Duration::from_secs(1) {
        format!("{}ms", took.as_millis())
    } else {
        format!("{:.1}s", took.as_secs_f64())
    }
}

async fn route(
    context: Arc<Context>,
    identity: &Identity,
    request: Request<Incoming>,
) -> Response<Body> {
    let route = match Route::find(request.method(), request.uri().path()) {
        Ok(route) => route,
        Err(NoRoute::NotFound) => return body::error(StatusCode::NOT_FOUND, "no such endpoint"),
        Err(NoRoute::Method(allowed)) => {
            let mut response =
                body::error(StatusCode::METHOD_NOT_ALLOWED, &format!("use {allowed}"));
            response
                .headers_mut()
                .insert(ALLOW, HeaderValue::from_static(allowed));
            return response;
        }
    };
    // Before anything of the body is read.
    if !route.allows(identity.role) {
        let needs = route.needs().as_str();
        return body::error(
            StatusCode::FORBIDDEN,
            &format!("this needs the {needs} role (or above); the certificate names {identity}"),
        );
    }
    let (parts, incoming) = request.into_parts();
    let query = parts.uri.query();
    match route {
        Route::Status => {
            let ctx = Arc::clone(&context);
            match tokio::task::spawn_blocking(move || {
                let facts = Facts::gather(&ctx.config);
                serde_json::to_vec(&status::build(&ctx.config, &facts))
            })
            .await
            {
                Ok(Ok(mut json)) => {
                    json.push(b'\n');
                    body::text(StatusCode::OK, "application/json", body::full(json))
                }
                _ => body::error(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "gathering the status failed",
                ),
            }
        }
        Route::Metrics => {
            let ctx = Arc::clone(&context);
            match tokio::task::spawn_blocking(move || {
                metrics::render(&ctx.config, &Facts::gather(&ctx.config))
            })
            .await
            {
                Ok(text) => body::text(StatusCode::OK, metrics::CONTENT_TYPE, body::full(text)),
                Err(_) => body::error(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "gathering the metrics failed",
                ),
            }
        }
        Route::Logs | Route::Kmsg => {
            let fixed = (route == Route::Kmsg).then_some("kernel");
            match logs::parse_query(query, fixed) {
                Ok(query) => logs::respond(context, query).await,
                Err(e) => body::error(StatusCode::BAD_REQUEST, &e),
            }
        }
        Route::Restart(app) => actions::restart(context, identity, app).await,
        Route::Reboot => actions::reboot(context, identity, &parts.headers, incoming).await,
        Route::Rollback => actions::rollback(context, identity).await,
        Route::Secret(name) => {
            actions::secret(context, identity, name, &parts.headers, incoming).await
        }
        Route::Update => update::update(context, identity, query, &parts.headers, incoming).await,
    }
}
