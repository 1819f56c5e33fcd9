//! The one error type of the API, written as problem+json, and the reference's exact detail
//! strings (API reference §7) of the checks made here; the upload refusals' details are the
//! core's ([`Refusal`]).

use anonlink_core::service::store::StoreError;
use anonlink_core::service::upload::Refusal;
use axum::Json;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};

/// 400: a request without the `Authorization` header.
pub const MISSING_AUTH: &str = "Missing header parameter 'Authorization'";
/// 400: an upload whose content type is neither JSON nor octet-stream.
pub const CONTENT_TYPE: &str = "Content Type not supported";
/// 500: a run posted while the project is in error.
pub const PROJECT_HAS_ERRORS: &str = "Can't post run as project has errors";
/// 400: threshold outside (0, 1].
pub const THRESHOLD_RANGE: &str = "Threshold parameter out of range";
/// 404: result of a run that is not complete.
pub const RUN_NOT_COMPLETE: &str = "run is not complete";
/// 500: result of a failed run.
pub const RUN_FAILED: &str = "Error during computation of run";

/// An error answer: status, title and detail, as the reference writes them
/// (`{"type": "about:blank", "title": ..., "detail": ..., "status": ...}`).
#[derive(Debug, thiserror::Error)]
#[error("{status}: {detail}")]
pub struct ApiError {
    /// HTTP status.
    pub status: StatusCode,
    /// `title`: `null` for the app's own checks, the reason phrase for routing and
    /// validation errors.
    pub title: Option<&'static str>,
    /// `detail`: what went wrong.
    pub detail: String,
}

impl ApiError {
    /// An error raised by the app's own checks (`title: null`).
    pub fn new(status: StatusCode, detail: impl Into<String>) -> Self {
        ApiError {
            status,
            title: None,
            detail: detail.into(),
        }
    }

    /// 400 from request validation (`title: "Bad Request"`).
    pub fn bad_request(detail: impl Into<String>) -> Self {
        ApiError {
            status: StatusCode::BAD_REQUEST,
            title: Some("Bad Request"),
            detail: detail.into(),
        }
    }

    /// 403 with the one detail used for every refusal.
    pub fn forbidden() -> Self {
        ApiError::new(StatusCode::FORBIDDEN, Refusal::Forbidden.to_string())
    }

    /// 500 for a failure of ours; the cause is logged, not sent.
    pub fn internal(cause: impl std::fmt::Display) -> Self {
        tracing::error!(%cause, "internal error");
        ApiError {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            title: Some("Internal Server Error"),
            detail: "Sorry, the server couldn't handle that request".into(),
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        ApiError::internal(e)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = serde_json::json!({
            "type": "about:blank",
            "title": self.title,
            "detail": self.detail,
            "status": self.status.as_u16(),
        });
        (
            self.status,
            [(header::CONTENT_TYPE, "application/problem+json")],
            Json(body),
        )
            .into_response()
    }
}

/// Fallback for unknown paths.
pub(crate) async fn not_found() -> ApiError {
    ApiError {
        status: StatusCode::NOT_FOUND,
        title: Some("Not Found"),
        detail: "The requested URL was not found on the server. If you entered the URL manually please check your spelling and try again.".into(),
    }
}

/// Fallback for known paths with another method.
pub(crate) async fn method_not_allowed() -> ApiError {
    ApiError {
        status: StatusCode::METHOD_NOT_ALLOWED,
        title: Some("Method Not Allowed"),
        detail: "The method is not allowed for the requested URL.".into(),
    }
}
