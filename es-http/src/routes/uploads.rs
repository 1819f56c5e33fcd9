//! Uploads: `POST /projects/{id}/clks` (JSON or binary) and `POST /projects/{id}/binaryclks`
//! (API reference §3.7, §9).
//!
//! The rules (who may upload, what is refused, what is accepted, the accept transaction)
//! are the core's ([`Uploads`]); here the body is streamed to them on a blocking thread and
//! their answer written. Whatever the answer, the body is read to its end (up to the body
//! limit) before it is sent, so that clients that send the whole body before reading get
//! the answer instead of a reset connection. An admitted upload holds its party's slot in
//! this process until it ends (the [`Admitted`] is dropped).

use std::io::{self, Read};

use anonlink_core::service::upload::{Admitted, BodyTooLarge, Refusal, UploadError, Uploads};
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use futures_util::TryStreamExt;
use serde_json::json;
use tokio_util::io::{StreamReader, SyncIoBridge};

use super::{auth_token, blocking};
use crate::error::CONTENT_TYPE;
use crate::{ApiError, AppState, Inner};

pub(crate) fn router() -> Router<AppState> {
    Router::new()
        .route("/projects/{project_id}/clks", post(upload))
        .route("/projects/{project_id}/binaryclks", post(upload_binary))
}

type BodyReader = SyncIoBridge<StreamReader<BoxedStream, axum::body::Bytes>>;
type BoxedStream =
    std::pin::Pin<Box<dyn futures_util::Stream<Item = io::Result<axum::body::Bytes>> + Send>>;

/// The body as a blocking reader, for use on a blocking thread, failing with
/// [`BodyTooLarge`] past `limit` bytes.
fn body_reader(body: Body, limit: usize) -> BodyReader {
    let mut seen = 0usize;
    let stream: BoxedStream = Box::pin(body.into_data_stream().map_err(io::Error::other).and_then(
        move |chunk| {
            seen += chunk.len();
            futures_util::future::ready(if seen > limit {
                Err(BodyTooLarge { limit }.into_io())
            } else {
                Ok(chunk)
            })
        },
    ));
    SyncIoBridge::new(StreamReader::new(stream))
}

/// 413 when the declared length is already over the limit.
fn check_length(headers: &HeaderMap, limit: usize) -> Result<(), ApiError> {
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    match declared {
        Some(len) if len > limit as u64 => Err(refused(Refusal::TooLarge { limit })),
        _ => Ok(()),
    }
}

/// Reads and discards the rest of a body (up to the body limit), asynchronously.
async fn drain(body: Body, limit: usize) {
    let mut stream = body.into_data_stream();
    let mut seen = 0usize;
    while let Some(Ok(chunk)) = futures_util::StreamExt::next(&mut stream).await {
        seen += chunk.len();
        if seen > limit {
            break;
        }
    }
}

/// Reads and discards the rest of a body on a blocking thread (the reader fails past the
/// body limit).
fn drain_sync(reader: &mut dyn Read) {
    let _ = io::copy(reader, &mut io::sink());
}

/// The checks that come before reading the body; on failure the body is drained.
async fn admit(
    state: &AppState,
    project_id: &str,
    headers: &HeaderMap,
    body: Body,
) -> Result<(Admitted, Body), ApiError> {
    let limit = state.config().max_request_bytes;
    let checked = async {
        let token = auth_token(headers)?;
        check_length(headers, limit)?;
        let project_id = project_id.to_string();
        blocking(state, move |inner| {
            uploads(inner)
                .admit(&project_id, &token)
                .map_err(upload_error)
        })
        .await
    }
    .await;
    match checked {
        Ok(admitted) => Ok((admitted, body)),
        Err(e) => {
            if e.status != StatusCode::PAYLOAD_TOO_LARGE {
                drain(body, limit).await;
            }
            Err(e)
        }
    }
}

fn uploads(inner: &Inner) -> Uploads<'_> {
    Uploads::new(
        inner.meta.as_ref(),
        inner.blobs.as_ref(),
        inner.config.encoding_limits,
        &inner.upload_claims,
    )
}

/// §3.7 dispatch on the content type.
async fn upload(
    State(state): State<AppState>,
    Path(project_id): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    counted(upload_any(state, project_id, headers, body).await)
}

/// Counts an upload that was not accepted, by how it ended (accepted ones are counted
/// with their records and bytes when they are).
fn counted(result: Result<Response, ApiError>) -> Result<Response, ApiError> {
    if let Err(e) = &result {
        let outcome = if e.status.is_server_error() {
            "failed"
        } else {
            "refused"
        };
        crate::metrics::METRICS
            .uploads
            .with_label_values(&[outcome])
            .inc();
    }
    result
}

async fn upload_any(
    state: AppState,
    project_id: String,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let (admitted, body) = admit(&state, &project_id, &headers, body).await?;
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|v| {
            v.split(';')
                .next()
                .unwrap_or("")
                .trim()
                .to_ascii_lowercase()
        });
    match content_type.as_deref() {
        Some("application/json") => json_upload(state, admitted, body).await,
        Some("application/octet-stream") => binary_upload(state, admitted, &headers, body).await,
        _ => {
            drop(admitted);
            drain(body, state.config().max_request_bytes).await;
            Err(ApiError::new(StatusCode::BAD_REQUEST, CONTENT_TYPE))
        }
    }
}

/// `POST .../binaryclks` (from v1.13): the binary branch only.
async fn upload_binary(
    State(state): State<AppState>,
    Path(project_id): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    counted(
        async {
            let (admitted, body) = admit(&state, &project_id, &headers, body).await?;
            binary_upload(state.clone(), admitted, &headers, body).await
        }
        .await,
    )
}

async fn json_upload(
    state: AppState,
    admitted: Admitted,
    body: Body,
) -> Result<Response, ApiError> {
    let mut reader = body_reader(body, state.config().max_request_bytes);
    blocking(&state, move |inner| {
        let accepted = uploads(inner).accept_json(&admitted, &mut reader);
        drain_sync(&mut reader);
        answer(inner, accepted)
    })
    .await
}

async fn binary_upload(
    state: AppState,
    admitted: Admitted,
    headers: &HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let value = |name: &str| headers.get(name).map(|v| v.to_str().unwrap_or(""));
    let limit = state.config().max_request_bytes;
    let checked = uploads(&state.inner)
        .binary_header(&admitted.project, value("Hash-Count"), value("Hash-Size"))
        .and_then(|h| match h.body_len() {
            Some(len) if len <= limit as u64 => Ok(h),
            _ => Err(Refusal::TooLarge { limit }),
        });
    let header = match checked {
        Ok(h) => h,
        Err(refusal) => {
            drop(admitted);
            if !matches!(refusal, Refusal::TooLarge { .. }) {
                drain(body, limit).await;
            }
            return Err(refused(refusal));
        }
    };
    let mut reader = body_reader(body, limit);
    blocking(&state, move |inner| {
        let accepted = uploads(inner).accept_binary(&admitted, header, &mut reader);
        drain_sync(&mut reader);
        answer(inner, accepted)
    })
    .await
}

/// 201 with the receipt token, waking the workers; or the refusal.
fn answer(
    inner: &Inner,
    accepted: Result<anonlink_core::service::upload::Accepted, UploadError>,
) -> Result<Response, ApiError> {
    let m = &*crate::metrics::METRICS;
    let accepted = accepted.map_err(upload_error)?;
    let outcome = if accepted.usable {
        "accepted"
    } else {
        "unusable"
    };
    m.uploads.with_label_values(&[outcome]).inc();
    m.upload_bytes.inc_by(accepted.bytes);
    m.upload_records.inc_by(accepted.records);
    inner.wake.notify_one();
    Ok((
        StatusCode::CREATED,
        Json(json!({"message": "Updated", "receipt_token": accepted.receipt_token})),
    )
        .into_response())
}

fn upload_error(e: UploadError) -> ApiError {
    match e {
        UploadError::Refused(refusal) => refused(refusal),
        UploadError::Store(e) => ApiError::internal(e),
    }
}

/// The status of each refusal; the detail is the core's.
fn refused(refusal: Refusal) -> ApiError {
    let status = match refusal {
        Refusal::Forbidden
        | Refusal::TokenUsed
        | Refusal::ExpectingBlocks
        | Refusal::BlockingDisabled => StatusCode::FORBIDDEN,
        Refusal::TooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
        Refusal::InProgress => StatusCode::CONFLICT,
        Refusal::MissingClks
        | Refusal::InvalidJson(_)
        | Refusal::BadRecord(_)
        | Refusal::SizeMismatch { .. }
        | Refusal::HashSizeMismatch { .. }
        | Refusal::BinaryHeaders
        | Refusal::BadHashSize
        | Refusal::BadHashCount
        | Refusal::BodySizeMismatch
        | Refusal::BodyRead(_) => StatusCode::BAD_REQUEST,
    };
    ApiError::new(status, refusal.to_string())
}
