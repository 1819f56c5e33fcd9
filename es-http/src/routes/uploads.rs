//! Uploads: `POST /projects/{id}/clks` (JSON or binary) and `POST /projects/{id}/binaryclks`
//! (API reference §3.7, §9).
//!
//! Bodies are streamed: JSON is decoded record by record as it arrives, binary bodies go
//! straight to the blob store. The encodings are stored (and synced) before the upload is
//! recorded, and the 201 is sent only after that commit: an acknowledged upload survives a
//! crash. A refused upload (4xx) stores nothing and leaves the token usable.

use std::io::{self, Read};

use anonlink_core::Error as CoreError;
use anonlink_core::encoding::{SizeLimits, UploadForm, decode_upload, encode_binary};
use anonlink_core::service::project::{Project, UploadState};
use anonlink_core::service::queue::queue_waiting_runs;
use anonlink_core::service::token::{self, Token, TokenHash, TokenKind};
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use futures_util::TryStreamExt;
use serde_json::json;
use tokio_util::io::{StreamReader, SyncIoBridge};

use super::{abort, auth_token, blocking, live_project, token_kind, tx};
use crate::error::{
    BAD_HASH_COUNT, BAD_HASH_SIZE, BINARY_HEADERS, BLOCKING_DISABLED, BODY_SIZE_MISMATCH,
    CONTENT_TYPE, EXPECTING_BLOCKS, HASH_SIZE_MISMATCH, MISSING_CLKS, TOKEN_USED,
};
use crate::{ApiError, AppState, Inner};

pub(crate) fn router() -> Router<AppState> {
    Router::new()
        .route("/projects/{project_id}/clks", post(upload))
        .route("/projects/{project_id}/binaryclks", post(upload_binary))
}

type BodyReader = SyncIoBridge<StreamReader<BoxedStream, axum::body::Bytes>>;
type BoxedStream =
    std::pin::Pin<Box<dyn futures_util::Stream<Item = io::Result<axum::body::Bytes>> + Send>>;

/// The body as a blocking reader, for use on a blocking thread, failing with "length limit
/// exceeded" past `limit` bytes.
fn body_reader(body: Body, limit: usize) -> BodyReader {
    let mut seen = 0usize;
    let stream: BoxedStream = Box::pin(body.into_data_stream().map_err(io::Error::other).and_then(
        move |chunk| {
            seen += chunk.len();
            futures_util::future::ready(if seen > limit {
                Err(io::Error::other("length limit exceeded"))
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
        Some(len) if len > limit as u64 => Err(ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("Request body is larger than the limit of {limit} bytes"),
        )),
        _ => Ok(()),
    }
}

/// Reads and discards the rest of a refused upload (up to the body limit), so the client,
/// still sending, gets the refusal instead of a reset connection.
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

/// The checks that come before reading the body; on failure the body is drained.
async fn admit(
    state: &AppState,
    project_id: &str,
    headers: &HeaderMap,
    body: Body,
) -> Result<(usize, Project, Body), ApiError> {
    let limit = state.config().max_request_bytes;
    let checked = async {
        let token = auth_token(headers)?;
        let admitted = check_uploader(state, project_id, token).await?;
        check_length(headers, limit)?;
        Ok::<_, ApiError>(admitted)
    }
    .await;
    match checked {
        Ok((party, project)) => Ok((party, project, body)),
        Err(e) => {
            if e.status != StatusCode::PAYLOAD_TOO_LARGE {
                drain(body, limit).await;
            }
            Err(e)
        }
    }
}

/// §3.7 dispatch on the content type.
async fn upload(
    State(state): State<AppState>,
    Path(project_id): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let (party, project, body) = admit(&state, &project_id, &headers, body).await?;
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
        Some("application/json") => json_upload(state, project, party, body).await,
        Some("application/octet-stream") => {
            binary_upload(state, project, party, &headers, body).await
        }
        _ => {
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
    let (party, project, body) = admit(&state, &project_id, &headers, body).await?;
    binary_upload(state, project, party, &headers, body).await
}

/// The project is live and the token is one of its update tokens whose party has not
/// uploaded yet; returns the party.
async fn check_uploader(
    state: &AppState,
    project_id: &str,
    token: TokenHash,
) -> Result<(usize, Project), ApiError> {
    let project_id = project_id.to_string();
    blocking(state, move |inner| {
        tx(inner, |tx| {
            let project = live_project(tx, &project_id)?;
            let Some(TokenKind::Update { party }) = token_kind(tx, &token, &project_id)? else {
                return abort(ApiError::forbidden());
            };
            let party = party as usize;
            if party >= project.number_parties() {
                return abort(ApiError::forbidden());
            }
            if project.parties[party].upload.is_accepted() {
                return abort(ApiError::new(StatusCode::FORBIDDEN, TOKEN_USED));
            }
            Ok((party, project.clone()))
        })
    })
    .await
}

fn blob_key(project_id: &str, party: usize) -> String {
    format!(
        "projects/{project_id}/uploads/party-{party}-{}.bin",
        token::generate()
    )
}

fn too_large(reason: &str, limit: usize) -> Option<ApiError> {
    reason.contains("length limit exceeded").then(|| {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("Request body is larger than the limit of {limit} bytes"),
        )
    })
}

async fn json_upload(
    state: AppState,
    project: Project,
    party: usize,
    body: Body,
) -> Result<Response, ApiError> {
    let reader = body_reader(body, state.config().max_request_bytes);
    blocking(&state, move |inner| {
        let limits = SizeLimits {
            min_bytes: inner.config.encoding_limits.min_bytes,
            max_bytes: inner.config.encoding_limits.max_bytes,
        };
        let outcome = match decode_upload(reader, &limits) {
            Ok(upload) => {
                let has_blocks = upload.blocks.is_some() || upload.form == UploadForm::ClksAndBlocks;
                if project.uses_blocking && !has_blocks {
                    return Err(ApiError::new(StatusCode::FORBIDDEN, EXPECTING_BLOCKS));
                }
                if !project.uses_blocking && has_blocks {
                    return Err(ApiError::new(StatusCode::FORBIDDEN, BLOCKING_DISABLED));
                }
                let clks = upload.clks;
                let size = clks.bytes_per_record();
                match project.expected_size() {
                    Some(expected) if expected != size => UploadState::Error {
                        message: format!(
                            "party {party} uploaded encodings of {size} bytes, but the project expects {expected} bytes"
                        ),
                    },
                    _ => {
                        let key = blob_key(&project.id, party);
                        let mut bytes = Vec::with_capacity(clks.len() * size);
                        encode_binary(&clks, &mut bytes).map_err(ApiError::internal)?;
                        drop(clks);
                        inner.blobs.put(&key, &mut &bytes[..])?;
                        let blocks_blob = match &upload.blocks {
                            Some(blocks) => {
                                let blocks_key = format!("{key}.blocks.json");
                                let doc = serde_json::to_vec(blocks).map_err(ApiError::internal)?;
                                inner.blobs.put(&blocks_key, &mut &doc[..])?;
                                Some(blocks_key)
                            }
                            None => None,
                        };
                        UploadState::Ready {
                            count: (bytes.len() / size) as u64,
                            bytes_per_record: size,
                            blob: key,
                            blocks_blob,
                        }
                    }
                }
            }
            Err(CoreError::NoEncodings) => {
                return Err(ApiError::new(StatusCode::BAD_REQUEST, MISSING_CLKS));
            }
            Err(CoreError::Json { reason }) => {
                return Err(too_large(&reason, inner.config.max_request_bytes).unwrap_or_else(
                    || ApiError::new(StatusCode::BAD_REQUEST, format!("Invalid JSON upload: {reason}")),
                ));
            }
            // Well-formed documents with unusable records are accepted and flag the upload,
            // as the reference does (its tests expect 201 here, and the error later).
            Err(e) if e.record_index().is_some() => UploadState::Error {
                message: format!("party {party}: {e}"),
            },
            Err(e) => return Err(ApiError::internal(e)),
        };
        record_upload(inner, &project.id, party, outcome)
    })
    .await
}

async fn binary_upload(
    state: AppState,
    project: Project,
    party: usize,
    headers: &HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let header = |name: &str| {
        headers
            .get(name)
            .map(|v| v.to_str().unwrap_or("").trim().to_string())
    };
    let limits = state.config().encoding_limits;
    let parsed = (|| {
        let (Some(count), Some(size)) = (header("Hash-Count"), header("Hash-Size")) else {
            return Err(ApiError::new(StatusCode::BAD_REQUEST, BINARY_HEADERS));
        };
        let size: usize = match size.parse() {
            Ok(s) if s >= limits.min_bytes && s <= limits.max_bytes => s,
            _ => return Err(ApiError::new(StatusCode::BAD_REQUEST, BAD_HASH_SIZE)),
        };
        let count: u64 = match count.parse() {
            Ok(c) if c >= 1 => c,
            _ => return Err(ApiError::new(StatusCode::BAD_REQUEST, BAD_HASH_COUNT)),
        };
        if project.expected_size().is_some_and(|e| e != size) {
            return Err(ApiError::new(StatusCode::BAD_REQUEST, HASH_SIZE_MISMATCH));
        }
        Ok((count, size))
    })();
    let (count, size) = match parsed {
        Ok(v) => v,
        Err(e) => {
            drain(body, state.config().max_request_bytes).await;
            return Err(e);
        }
    };
    let limit = state.config().max_request_bytes;
    let expected_len = count
        .checked_mul(size as u64)
        .filter(|len| *len <= limit as u64)
        .ok_or_else(|| {
            ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                format!("Request body is larger than the limit of {limit} bytes"),
            )
        })?;
    let reader = body_reader(body, limit);
    blocking(&state, move |inner| {
        let key = blob_key(&project.id, party);
        // Read one byte past the declared length, so a longer body is noticed.
        let mut limited = Counting {
            inner: reader.take(expected_len + 1),
            count: 0,
        };
        let stored = inner.blobs.put(&key, &mut limited);
        let got = limited.count;
        if let Err(e) = stored {
            let _ = inner.blobs.delete(&key);
            if let Some(err) = too_large(&e.to_string(), inner.config.max_request_bytes) {
                return Err(err);
            }
            return Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                format!("Upload failed while reading the body: {e}"),
            ));
        }
        if got != expected_len {
            inner.blobs.delete(&key)?;
            return Err(ApiError::new(StatusCode::BAD_REQUEST, BODY_SIZE_MISMATCH));
        }
        let outcome = if !size.is_multiple_of(8) {
            inner.blobs.delete(&key)?;
            UploadState::Error {
                message: format!(
                    "party {party}: encodings of {size} bytes are not a multiple of 8 bytes"
                ),
            }
        } else {
            UploadState::Ready {
                count,
                bytes_per_record: size,
                blob: key,
                blocks_blob: None,
            }
        };
        record_upload(inner, &project.id, party, outcome)
    })
    .await
}

/// Counts what passes through.
struct Counting<R> {
    inner: R,
    count: u64,
}

impl<R: Read> Read for Counting<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.count += n as u64;
        Ok(n)
    }
}

/// Commits an accepted upload: the party's state, a receipt token, the project check of
/// §5.4 and the queueing of waiting runs, in one transaction. Then wakes the workers.
fn record_upload(
    inner: &Inner,
    project_id: &str,
    party: usize,
    outcome: UploadState,
) -> Result<Response, ApiError> {
    let receipt = token::generate();
    let blob = match &outcome {
        UploadState::Ready { blob, .. } => Some(blob.clone()),
        _ => None,
    };
    let limits = inner.config.encoding_limits;
    let committed = tx(inner, |tx| {
        let mut project = live_project(tx, project_id)?;
        if project.parties[party].upload.is_accepted() {
            // Another upload with the same token won the race.
            return abort(ApiError::new(StatusCode::FORBIDDEN, TOKEN_USED));
        }
        project.accept_upload(party, outcome.clone(), &limits);
        tx.put_project(&project)?;
        tx.put_token(&Token {
            hash: TokenHash::of(&receipt),
            project_id: project_id.to_string(),
            kind: TokenKind::Receipt {
                party: party as u32,
            },
        })?;
        queue_waiting_runs(tx, &project)?;
        Ok(())
    });
    if let Err(e) = committed {
        if let Some(blob) = blob {
            let _ = inner.blobs.delete(&blob);
        }
        return Err(e);
    }
    inner.wake.notify_one();
    Ok((
        StatusCode::CREATED,
        Json(json!({"message": "Updated", "receipt_token": receipt})),
    )
        .into_response())
}
