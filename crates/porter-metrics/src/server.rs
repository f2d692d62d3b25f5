//! The HTTP endpoint: `/metrics` (OpenMetrics text), `/healthz` (liveness), `/readyz`
//! (readiness).
//!
//! Plain HTTP/1.1 on hyper, the stack the workspace already has; three fixed routes need no
//! framework. Every answer is small and built in memory; each connection has its own task and
//! a header read timeout, so a stuck client holds nothing but its socket.

use std::fmt;
use std::net::SocketAddr;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{Method, Request, Response, StatusCode, header};
use http_body_util::Full;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use prometheus_client::registry::Registry;
use tokio::net::TcpListener;

use crate::Health;

/// The content type of the OpenMetrics text format, which Prometheus scrapes natively.
pub const OPENMETRICS: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// Where to serve, or nowhere: a socket address, or `off` (or an empty value) to serve
/// nothing, for a process whose operator scrapes nothing and probes nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ListenAddress(pub Option<SocketAddr>);

impl FromStr for ListenAddress {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        if s.is_empty() || s.eq_ignore_ascii_case("off") {
            return Ok(Self(None));
        }
        s.parse::<SocketAddr>().map(|a| Self(Some(a))).map_err(|_| {
            format!(
                "{s:?} is not an address and port (such as 0.0.0.0:7578 or [::]:7578), nor \"off\""
            )
        })
    }
}

impl fmt::Display for ListenAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Some(address) => write!(f, "{address}"),
            None => f.write_str("off"),
        }
    }
}

/// The endpoint could not listen.
#[derive(Debug, thiserror::Error)]
#[error("cannot serve metrics and health on {address}")]
pub struct BindError {
    /// The address asked for.
    pub address: SocketAddr,
    /// Why not (in use, not an address of this host, a privileged port).
    #[source]
    pub source: std::io::Error,
}

/// A bound endpoint, not yet serving.
#[derive(Debug)]
pub struct Server {
    listener: TcpListener,
    registry: Arc<Registry>,
    health: Health,
}

impl Server {
    /// Listens on `address` (port 0: any free port; see [`Server::local_addr`]).
    pub async fn bind(
        address: SocketAddr,
        registry: Registry,
        health: Health,
    ) -> Result<Self, BindError> {
        let listener = TcpListener::bind(address)
            .await
            .map_err(|source| BindError { address, source })?;
        Ok(Self {
            listener,
            registry: Arc::new(registry),
            health,
        })
    }

    /// The address it listens on.
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Serves until the future is dropped.
    pub async fn run(self) {
        let Self {
            listener,
            registry,
            health,
        } = self;
        loop {
            let stream = match listener.accept().await {
                Ok((stream, _)) => stream,
                Err(error) => {
                    // Out of file descriptors, say: wait a little rather than spin.
                    tracing::warn!(%error, "metrics endpoint cannot accept a connection");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            };
            let (registry, health) = (registry.clone(), health.clone());
            tokio::spawn(async move {
                let service = service_fn(move |request: Request<hyper::body::Incoming>| {
                    let response = respond(&request, &registry, &health);
                    async move { Ok::<_, std::convert::Infallible>(response) }
                });
                let _ = http1::Builder::new()
                    .timer(TokioTimer::new())
                    .header_read_timeout(Duration::from_secs(10))
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    }
}

/// The answer to one request.
fn respond<B>(request: &Request<B>, registry: &Registry, health: &Health) -> Response<Full<Bytes>> {
    if request.method() != Method::GET && request.method() != Method::HEAD {
        return text(
            StatusCode::METHOD_NOT_ALLOWED,
            "only GET and HEAD are served\n".to_owned(),
        );
    }
    match request.uri().path() {
        "/metrics" => {
            let mut response = Response::new(Full::new(Bytes::from(crate::encode(registry))));
            response.headers_mut().insert(
                header::CONTENT_TYPE,
                header::HeaderValue::from_static(OPENMETRICS),
            );
            response
        }
        "/healthz" => probe(health.liveness()),
        "/readyz" => probe(health.readiness()),
        _ => text(
            StatusCode::NOT_FOUND,
            "not found: this endpoint serves /metrics, /healthz and /readyz\n".to_owned(),
        ),
    }
}

/// 200 `ok`, or 503 with the one-line reason.
fn probe(result: Result<(), String>) -> Response<Full<Bytes>> {
    match result {
        Ok(()) => text(StatusCode::OK, "ok\n".to_owned()),
        Err(reason) => text(StatusCode::SERVICE_UNAVAILABLE, format!("{reason}\n")),
    }
}

fn text(status: StatusCode, body: String) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response
}
