/*!
The Anonlink Entity Service REST API (reference: v1.12) over `anonlink-core`.

This crate builds the HTTP application: [`app`] gives the router, [`serve`] runs it on a
listener until a shutdown signal. Paths are served under `/api/v1`, with repeated slashes
collapsed first (the reference's clients send `/api/v1//projects`, which its nginx merged).

Served so far: `GET /status` and `GET /version`; unknown paths and methods get the
reference's problem+json errors. Projects, uploads and runs come with the storage layer.
*/
#![deny(missing_docs)]
#![forbid(unsafe_code)]

mod error;
mod routes;

pub use error::ApiError;

use std::future::Future;

use axum::Router;
use axum::ServiceExt;
use axum::extract::Request;
use tower::Layer;

/// Settings of the service.
#[derive(Debug, Clone, Default)]
pub struct ServiceConfig {}

/// Shared state of the handlers.
#[derive(Debug, Clone)]
pub struct AppState {
    /// The service's settings.
    pub config: ServiceConfig,
}

/// The application: every route under `/api/v1`, with problem+json fallbacks.
pub fn app(state: AppState) -> Router {
    Router::new()
        .nest("/api/v1", routes::router())
        .fallback(error::not_found)
        .with_state(state)
}

/// Collapses runs of `/` in the request path, keeping the query.
fn collapse_slashes(mut request: Request) -> Request {
    let uri = request.uri();
    if uri.path().contains("//") {
        let mut path = String::with_capacity(uri.path().len());
        for c in uri.path().chars() {
            if !(c == '/' && path.ends_with('/')) {
                path.push(c);
            }
        }
        let path_and_query = match uri.query() {
            Some(q) => format!("{path}?{q}"),
            None => path,
        };
        let mut parts = uri.clone().into_parts();
        if let Ok(pq) = path_and_query.parse() {
            parts.path_and_query = Some(pq);
            if let Ok(new_uri) = axum::http::Uri::from_parts(parts) {
                *request.uri_mut() = new_uri;
            }
        }
    }
    request
}

/// Serves the application on `listener` until `shutdown` completes.
///
/// # Errors
/// When the server fails to accept connections.
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let router = app(state);
    // Rewriting must happen before routing, so it wraps the router instead of being one of
    // its layers.
    let service = tower::util::MapRequestLayer::new(collapse_slashes).layer(router);
    axum::serve(listener, ServiceExt::<Request>::into_make_service(service))
        .with_graceful_shutdown(shutdown)
        .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn collapses_repeated_slashes() {
        let req = Request::builder()
            .uri("http://h/api/v1//projects///x?a=1")
            .body(axum::body::Body::empty())
            .unwrap();
        assert_eq!(collapse_slashes(req).uri().path(), "/api/v1/projects/x");
    }
}
