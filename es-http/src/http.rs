//! The HTTP side that is not an endpoint: accepting connections with read timeouts, a
//! shutdown with a deadline, error bodies that are always problem+json, refusing declared
//! oversized bodies at once, CORS, and an optional per-client request rate limit.

use std::convert::Infallible;
use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tower::{Service, ServiceExt};

use crate::ApiError;

/// Settings of the HTTP server itself.
#[derive(Debug, Clone)]
pub struct HttpSettings {
    /// A connection that has not sent a request's headers within this long is closed
    /// (also an idle keep-alive connection).
    pub header_read_timeout: Duration,
    /// A request body that sends nothing for this long fails (the client is gone).
    pub body_idle_timeout: Duration,
    /// After a shutdown signal, requests in flight get this long to finish; then open
    /// connections are dropped.
    pub shutdown_grace: Duration,
    /// Origins allowed to call the API from a browser (CORS); none by default.
    pub cors_origins: Vec<String>,
    /// Whether `GET /projects` lists every project to anyone (the reference's clients
    /// expect it; it tells who uses the service, nothing more).
    pub list_projects: bool,
    /// Requests per second allowed to one client address, if limited (bursts of twice
    /// that); over it, 429.
    pub rate_limit: Option<NonZeroU32>,
    /// Whether the API port answers `GET /metrics` (off when metrics have a port of their
    /// own, [`crate::serve_metrics`]).
    pub metrics_on_api: bool,
}

impl Default for HttpSettings {
    fn default() -> Self {
        HttpSettings {
            header_read_timeout: Duration::from_secs(30),
            body_idle_timeout: Duration::from_secs(60),
            shutdown_grace: Duration::from_secs(10),
            cors_origins: Vec::new(),
            metrics_on_api: true,
            list_projects: true,
            rate_limit: None,
        }
    }
}

/// Serves `service` on `listener` until `shutdown` completes: then stops accepting, lets
/// requests in flight finish for the shutdown grace, and drops what is still open.
pub(crate) async fn serve_connections<S>(
    listener: tokio::net::TcpListener,
    service: S,
    settings: &HttpSettings,
    shutdown: impl Future<Output = ()>,
) -> std::io::Result<()>
where
    S: Service<Request<hyper::body::Incoming>, Response = Response, Error = Infallible>
        + Clone
        + Send
        + 'static,
    S::Future: Send + 'static,
{
    let graceful = GracefulShutdown::new();
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(settings.header_read_timeout);
    tokio::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    // Out of file descriptors and the like: wait, rather than spin.
                    tracing::warn!(error = %e, "accepting a connection failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let service = service.clone().map_request(move |mut request: Request<_>| {
            request.extensions_mut().insert(ConnectInfo(peer));
            request
        });
        let connection = builder
            .serve_connection_with_upgrades(TokioIo::new(stream), TowerToHyperService::new(service))
            .into_owned();
        let watched = graceful.watch(connection);
        tokio::spawn(async move {
            if let Err(e) = watched.await {
                tracing::debug!(error = %e, "connection closed");
            }
        });
    }
    drop(listener);
    tokio::select! {
        () = graceful.shutdown() => {}
        () = tokio::time::sleep(settings.shutdown_grace) => {
            tracing::warn!(
                seconds = settings.shutdown_grace.as_secs_f64(),
                "connections still open after the shutdown grace: dropping them"
            );
        }
    }
    Ok(())
}

/// Every error answer carries the usual problem+json body: answers made outside the
/// handlers (rejected paths, bodies over the limit, timeouts) are rewritten into it.
pub(crate) async fn problem_json(request: Request, next: Next) -> Response {
    let response = next.run(request).await;
    let status = response.status();
    let is_problem = response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/problem+json"));
    if !(status.is_client_error() || status.is_server_error()) || is_problem {
        return response;
    }
    let text = axum::body::to_bytes(response.into_body(), 64 << 10)
        .await
        .map(|b| String::from_utf8_lossy(&b).trim().to_string())
        .unwrap_or_default();
    let detail = if status == StatusCode::PAYLOAD_TOO_LARGE {
        "Request body is larger than the limit this service accepts".to_string()
    } else if text.is_empty() {
        status.canonical_reason().unwrap_or("Error").to_string()
    } else {
        text
    };
    ApiError {
        status,
        title: status.canonical_reason(),
        detail,
    }
    .into_response()
}

/// 413 at once for a body whose declared length is over `limit`, on every route, before
/// a byte of it is read.
pub(crate) async fn refuse_declared_oversize(
    State(limit): State<usize>,
    request: Request,
    next: Next,
) -> Response {
    let declared = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    if declared.is_some_and(|len| len > limit as u64) {
        let mut response = ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("Request body is larger than the limit of {limit} bytes"),
        )
        .into_response();
        // The body is not read: the connection cannot be reused.
        response
            .headers_mut()
            .insert(header::CONNECTION, HeaderValue::from_static("close"));
        return response;
    }
    next.run(request).await
}

/// The CORS layer for the configured origins (`*` allows any).
pub(crate) fn cors(origins: &[String]) -> tower_http::cors::CorsLayer {
    use tower_http::cors::{AllowOrigin, CorsLayer};
    let allow = if origins.iter().any(|o| o == "*") {
        AllowOrigin::any()
    } else {
        AllowOrigin::list(
            origins
                .iter()
                .filter_map(|o| HeaderValue::from_str(o).ok())
                .collect::<Vec<_>>(),
        )
    };
    CorsLayer::new()
        .allow_origin(allow)
        .allow_methods([Method::GET, Method::POST, Method::DELETE, Method::OPTIONS])
        .allow_headers([
            header::AUTHORIZATION,
            header::CONTENT_TYPE,
            header::HeaderName::from_static("hash-count"),
            header::HeaderName::from_static("hash-size"),
        ])
}

/// Requests per client address, counted by a keyed token bucket.
pub(crate) type ClientLimiter = governor::DefaultKeyedRateLimiter<IpAddr>;

/// A limiter of `per_second` requests per client address, bursts of twice that.
pub(crate) fn limiter(per_second: NonZeroU32) -> Arc<ClientLimiter> {
    let burst = per_second.saturating_mul(NonZeroU32::new(2).unwrap_or(NonZeroU32::MIN));
    Arc::new(governor::RateLimiter::keyed(
        governor::Quota::per_second(per_second).allow_burst(burst),
    ))
}

/// 429 for a client over its rate.
pub(crate) async fn rate_limit(
    State(limiter): State<Arc<ClientLimiter>>,
    request: Request,
    next: Next,
) -> Response {
    let peer = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip());
    if let Some(ip) = peer
        && limiter.check_key(&ip).is_err()
    {
        let mut response = ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "Too many requests from this client; slow down",
        )
        .into_response();
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        return response;
    }
    next.run(request).await
}
