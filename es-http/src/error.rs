//! The one error type of the API, written as problem+json.

use axum::Json;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};

/// An error answer: status, title and detail, as the reference writes them
/// (`{"type": "about:blank", "title": ..., "detail": ..., "status": ...}`).
#[derive(Debug, thiserror::Error)]
#[error("{status}: {detail}")]
pub struct ApiError {
    /// HTTP status.
    pub status: StatusCode,
    /// `title`: `null` for the app's own checks, the reason phrase for routing errors.
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
