//! The one error type of the API, written as problem+json, and the reference's exact detail
//! strings (API reference §7).

use anonlink_core::service::store::StoreError;
use axum::Json;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};

/// 400: a request without the `Authorization` header.
pub const MISSING_AUTH: &str = "Missing header parameter 'Authorization'";
/// 403: any failed authorization or unknown resource (one answer for both, on purpose).
pub const INVALID_ACCESS: &str = "Invalid access token or project doesn't exist";
/// 400: more than two parties with a two-party result type.
pub const MULTI_PARTY_NEEDS_GROUPS: &str = "Multi-party linkage requires result type 'groups'.";
/// 400: a JSON upload without encodings.
pub const MISSING_CLKS: &str = "Missing CLKs information";
/// 400: binary upload without its headers.
pub const BINARY_HEADERS: &str = "Binary upload requires 'Hash-Count' and 'Hash-Size' headers";
/// 400: bad `Hash-Size`.
pub const BAD_HASH_SIZE: &str = "Invalid value for Hash-Size header";
/// 400: bad `Hash-Count`.
pub const BAD_HASH_COUNT: &str = "Invalid value for Hash-Count header";
/// 400: `Hash-Size` differs from the project's size.
pub const HASH_SIZE_MISMATCH: &str = "Upload 'Hash-Size' doesn't match project settings";
/// 400: body length differs from `Hash-Count × Hash-Size`.
pub const BODY_SIZE_MISMATCH: &str =
    "Uploaded data did not match the expected size. Check request headers are correct";
/// 400: an upload whose content type is neither JSON nor octet-stream.
pub const CONTENT_TYPE: &str = "Content Type not supported";
/// 403: a second upload with a token whose upload succeeded.
pub const TOKEN_USED: &str = "This token has already been used to upload clks.";
/// 403: a blocking project's upload without block ids (v1.13).
pub const EXPECTING_BLOCKS: &str =
    "Expecting blocking information. Either in \"blocks\" or \"clksnblocks\"";
/// 403: block ids sent to a project without blocking (v1.13).
pub const BLOCKING_DISABLED: &str =
    "Blocking has been disabled for this project, but received blocking information";
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
        ApiError::new(StatusCode::FORBIDDEN, INVALID_ACCESS)
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
