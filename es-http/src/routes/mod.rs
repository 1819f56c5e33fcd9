//! Routes, one module per resource, and the helpers they share: running store work off the
//! async threads, and authorization.

mod json;
pub(crate) mod metrics;
mod projects;
mod runs;
mod status;
mod uploads;

use anonlink_core::service::access::{self, Action};
use anonlink_core::service::project::Project;
use anonlink_core::service::store::{Tx, TxError, transact};
use anonlink_core::service::token::{TokenHash, TokenKind};
use axum::Router;
use axum::http::HeaderMap;

use crate::error::{ApiError, MISSING_AUTH};
use crate::{AppState, Inner};

pub(crate) fn router() -> Router<AppState> {
    Router::new()
        .merge(status::router())
        .merge(projects::router())
        .merge(uploads::router())
        .merge(runs::router())
        .fallback(crate::error::not_found)
        .method_not_allowed_fallback(crate::error::method_not_allowed)
}

/// Runs `f` on a blocking thread: storage and CPU work stay off the async threads.
pub(crate) async fn blocking<T: Send + 'static>(
    state: &AppState,
    f: impl FnOnce(&Inner) -> Result<T, ApiError> + Send + 'static,
) -> Result<T, ApiError> {
    let state = state.clone();
    tokio::task::spawn_blocking(move || f(&state.inner))
        .await
        .map_err(ApiError::internal)?
}

/// One metadata transaction; an [`ApiError`] from `f` rolls it back and is returned.
pub(crate) fn tx<T>(
    inner: &Inner,
    f: impl FnMut(&mut dyn Tx) -> Result<T, TxError<ApiError>>,
) -> Result<T, ApiError> {
    match transact(inner.meta.as_ref(), f) {
        Ok(v) => Ok(v),
        Err(TxError::Abort(e)) => Err(e),
        Err(TxError::Store(e)) => Err(ApiError::internal(e)),
    }
}

/// The hash of the `Authorization` header's token (sent verbatim, no scheme).
pub(crate) fn auth_token(headers: &HeaderMap) -> Result<TokenHash, ApiError> {
    let value = headers
        .get(axum::http::header::AUTHORIZATION)
        .ok_or_else(|| ApiError::bad_request(MISSING_AUTH))?;
    // A token that is not even text cannot match; it is refused like any wrong token.
    let text = value.to_str().unwrap_or("");
    Ok(TokenHash::of(text.trim()))
}

/// The project if it exists and is not deleted; 403 otherwise.
pub(crate) fn live_project(tx: &mut dyn Tx, id: &str) -> Result<Project, TxError<ApiError>> {
    match tx.project(id)? {
        Some(p) if !p.is_deleted() => Ok(p),
        _ => Err(TxError::Abort(ApiError::forbidden())),
    }
}

/// 403 unless `token` may do `action` in `project` (the core's permission matrix);
/// returns what the token is.
pub(crate) fn authorize(
    tx: &mut dyn Tx,
    token: &TokenHash,
    project: &Project,
    action: Action,
) -> Result<TokenKind, TxError<ApiError>> {
    let kind = access::token_kind(tx, token, project.id())?;
    match kind {
        Some(kind) if access::may(Some(&kind), action, project.result_type()) => Ok(kind),
        _ => Err(TxError::Abort(ApiError::forbidden())),
    }
}

/// Shorthand for a domain refusal inside a transaction.
pub(crate) fn abort<T>(e: ApiError) -> Result<T, TxError<ApiError>> {
    Err(TxError::Abort(e))
}
