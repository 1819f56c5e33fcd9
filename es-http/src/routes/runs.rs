//! Runs: list, create, describe, delete, status and result (API reference §3.8–3.13).

use std::io::Read;

use anonlink_core::linkage::ResultType;
use anonlink_core::service::project::Project;
use anonlink_core::service::queue::run_with_progress;
use anonlink_core::service::run::{Run, RunState};
use anonlink_core::service::store::Tx;
use anonlink_core::service::token::{self, TokenKind};
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{Value, json};

use super::projects::{json_object, python_repr, string_field};
use super::{abort, auth_token, blocking, live_project, require_result_token, token_kind, tx};
use crate::error::{PROJECT_HAS_ERRORS, RUN_FAILED, RUN_NOT_COMPLETE, THRESHOLD_RANGE};
use crate::time::iso;
use crate::{ApiError, AppState};

pub(crate) fn router() -> Router<AppState> {
    Router::new()
        .route("/projects/{project_id}/runs", get(list).post(create))
        .route(
            "/projects/{project_id}/runs/{run_id}",
            get(describe).delete(delete),
        )
        .route("/projects/{project_id}/runs/{run_id}/status", get(status))
        .route("/projects/{project_id}/runs/{run_id}/result", get(result))
}

/// Blob keys of a run's results.
pub(crate) fn result_key(project_id: &str, run_id: &str, part: &str) -> String {
    format!("projects/{project_id}/runs/{run_id}/{part}.json")
}

/// Blob key prefix of a run's chunk candidate files.
pub(crate) fn chunks_prefix(project_id: &str, run_id: &str) -> String {
    format!("projects/{project_id}/runs/{run_id}/chunks/")
}

/// The run if it exists in a live project; 403 otherwise.
fn live_run(
    tx: &mut dyn Tx,
    project_id: &str,
    run_id: &str,
) -> Result<(Project, Run), anonlink_core::service::store::TxError<ApiError>> {
    let project = live_project(tx, project_id)?;
    match run_with_progress(tx, run_id)? {
        Some(run) if run.project_id == project_id => Ok((project, run)),
        _ => abort(ApiError::forbidden()),
    }
}

/// §3.8.
async fn list(
    State(state): State<AppState>,
    Path(project_id): Path<String>,
    headers: HeaderMap,
) -> Result<Json<Value>, ApiError> {
    let token = auth_token(&headers)?;
    let runs = blocking(&state, move |inner| {
        tx(inner, |tx| {
            live_project(tx, &project_id)?;
            require_result_token(tx, &token, &project_id)?;
            Ok(tx.runs(&project_id)?)
        })
    })
    .await?;
    Ok(Json(Value::Array(
        runs.iter()
            .map(|r| json!({"run_id": r.id, "time_added": iso(r.time_added), "state": r.state.as_str()}))
            .collect(),
    )))
}

/// §3.9.
async fn create(
    State(state): State<AppState>,
    Path(project_id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let body = json_object(&headers, &body)?;
    let threshold = match body.get("threshold") {
        None => return Err(ApiError::bad_request("'threshold' is a required property")),
        Some(Value::Number(n)) => n.as_f64().unwrap_or(f64::NAN),
        Some(other) => {
            return Err(ApiError::bad_request(format!(
                "{} is not of type 'number'",
                python_repr(other)
            )));
        }
    };
    let name = string_field(&body, "name", "")?;
    let notes = string_field(&body, "notes", "")?;
    let token = auth_token(&headers)?;
    let run = blocking(&state, move |inner| {
        tx(inner, |tx| {
            let project = live_project(tx, &project_id)?;
            require_result_token(tx, &token, &project_id)?;
            if project.in_error() {
                return abort(ApiError::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    PROJECT_HAS_ERRORS,
                ));
            }
            if !(threshold > 0.0 && threshold <= 1.0) {
                return abort(ApiError::new(StatusCode::BAD_REQUEST, THRESHOLD_RANGE));
            }
            let run = Run::new(
                token::generate(),
                &project,
                threshold,
                name.clone(),
                notes.clone(),
            );
            tx.put_run(&run)?;
            Ok(run)
        })
    })
    .await?;
    state.inner.wake.notify_one();
    Ok((
        StatusCode::CREATED,
        Json(json!({"run_id": run.id, "threshold": run.threshold, "name": run.name, "notes": run.notes})),
    )
        .into_response())
}

/// §3.10.
async fn describe(
    State(state): State<AppState>,
    Path((project_id, run_id)): Path<(String, String)>,
    headers: HeaderMap,
) -> Result<Json<Value>, ApiError> {
    let token = auth_token(&headers)?;
    let run = blocking(&state, move |inner| {
        tx(inner, |tx| {
            let (_, run) = live_run(tx, &project_id, &run_id)?;
            require_result_token(tx, &token, &project_id)?;
            Ok(run)
        })
    })
    .await?;
    Ok(Json(
        json!({"run_id": run.id, "threshold": run.threshold, "name": run.name, "notes": run.notes}),
    ))
}

/// §3.11: removes the run and its results; a worker computing it stops at its next check.
async fn delete(
    State(state): State<AppState>,
    Path((project_id, run_id)): Path<(String, String)>,
    headers: HeaderMap,
) -> Result<StatusCode, ApiError> {
    let token = auth_token(&headers)?;
    blocking(&state, move |inner| {
        tx(inner, |tx| {
            live_run(tx, &project_id, &run_id)?;
            require_result_token(tx, &token, &project_id)?;
            tx.delete_run(&run_id)?;
            Ok(())
        })?;
        inner
            .blobs
            .delete_prefix(&format!("projects/{project_id}/runs/{run_id}/"))?;
        Ok(())
    })
    .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Whether a receipt token may read run status and results of this result type.
fn receipt_allowed(result_type: ResultType) -> bool {
    matches!(result_type, ResultType::Permutations | ResultType::Groups)
}

/// §3.12.
async fn status(
    State(state): State<AppState>,
    Path((project_id, run_id)): Path<(String, String)>,
    headers: HeaderMap,
) -> Result<Json<Value>, ApiError> {
    let token = auth_token(&headers)?;
    let (project, run) = blocking(&state, move |inner| {
        tx(inner, |tx| {
            let (project, run) = live_run(tx, &project_id, &run_id)?;
            match token_kind(tx, &token, &project_id)? {
                Some(TokenKind::Result) => {}
                Some(TokenKind::Receipt { .. }) if receipt_allowed(project.result_type) => {}
                _ => return abort(ApiError::forbidden()),
            }
            Ok((project, run))
        })
    })
    .await?;
    let s = run.status(&project);
    let mut stage = json!({"number": s.stage, "description": s.stage_description});
    if let Some(p) = &s.progress {
        stage["progress"] =
            json!({"description": p.description, "absolute": p.absolute, "relative": p.relative});
    }
    let mut body = json!({
        "state": s.state.as_str(),
        "time_added": iso(s.time_added),
        "stages": s.stages,
        "current_stage": stage,
    });
    match s.state {
        RunState::Error => {
            body["message"] = json!(s.message);
        }
        RunState::Completed => {
            body["time_started"] = json!(s.time_started.map(iso));
            body["time_completed"] = json!(s.time_completed.map(iso));
            body["total_number_comparisons"] = json!(s.total_number_comparisons);
        }
        _ => {
            body["time_started"] = json!(s.time_started.map(iso));
        }
    }
    Ok(Json(body))
}

/// §3.13: the state checks come before the token check, as in the reference.
async fn result(
    State(state): State<AppState>,
    Path((project_id, run_id)): Path<(String, String)>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let token = auth_token(&headers)?;
    let document = blocking(&state, move |inner| {
        let part = tx(inner, |tx| {
            let (project, run) = live_run(tx, &project_id, &run_id)?;
            let s = run.status(&project);
            match s.state {
                RunState::Error => {
                    return abort(ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, RUN_FAILED));
                }
                RunState::Completed => {}
                _ => return abort(ApiError::new(StatusCode::NOT_FOUND, RUN_NOT_COMPLETE)),
            }
            let kind = token_kind(tx, &token, &project_id)?;
            let part = match (project.result_type, kind) {
                (ResultType::Permutations, Some(TokenKind::Result)) => "mask".to_string(),
                (ResultType::Permutations, Some(TokenKind::Receipt { party })) => {
                    format!("permutation-{party}")
                }
                (ResultType::Groups, Some(TokenKind::Receipt { .. })) => "result".to_string(),
                (_, Some(TokenKind::Result)) => "result".to_string(),
                _ => return abort(ApiError::forbidden()),
            };
            Ok(part)
        })?;
        let mut bytes = Vec::new();
        inner
            .blobs
            .open(&result_key(&project_id, &run_id, &part))?
            .read_to_end(&mut bytes)
            .map_err(ApiError::internal)?;
        Ok(bytes)
    })
    .await?;
    Ok(([(header::CONTENT_TYPE, "application/json")], document).into_response())
}
