//! Runs: list, create, describe, delete, status and result (API reference §3.8–3.13).

use std::io::Read;

use anonlink_core::candidates::Threshold;
use anonlink_core::service::Timestamp;
use anonlink_core::service::access::{self, Action};
use anonlink_core::service::keys;
use anonlink_core::service::project::Project;
use anonlink_core::service::queue::run_with_progress;
use anonlink_core::service::run::{Run, RunSolver, RunState};
use anonlink_core::service::store::Tx;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{Value, json};

use super::json::{JsonFields, not_of_type};
use super::{abort, auth_token, authorize, blocking, live_project, tx};
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
        .route(
            "/projects/{project_id}/runs/{run_id}/estimate",
            get(estimate),
        )
}

/// The run if it exists in a live project; 403 otherwise.
fn live_run(
    tx: &mut dyn Tx,
    project_id: &str,
    run_id: &str,
) -> Result<(Project, Run), anonlink_core::service::store::TxError<ApiError>> {
    let project = live_project(tx, project_id)?;
    match run_with_progress(tx, run_id)? {
        Some(run) if run.project_id() == project_id => Ok((project, run)),
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
            let project = live_project(tx, &project_id)?;
            authorize(tx, &token, &project, Action::ListRuns)?;
            Ok(tx.runs(&project_id)?)
        })
    })
    .await?;
    Ok(Json(Value::Array(
        runs.iter()
            .map(|r| json!({"run_id": r.id(), "time_added": iso(r.time_added()), "state": r.state().as_str()}))
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
    let body = JsonFields::parse(&headers, &body)?;
    // An extension no v1 client sends: `"threshold": "auto"`, chosen from the data.
    let threshold = match body.required("threshold")? {
        Value::Number(n) => Some(n.as_f64().unwrap_or(f64::NAN)),
        Value::String(s) if s == "auto" => None,
        other => return Err(not_of_type(other, "number")),
    };
    let solver = match body.get("solver") {
        None | Some(Value::Null) => None,
        Some(Value::String(name)) => Some(RunSolver::parse(name).ok_or_else(|| {
            ApiError::new(
                StatusCode::BAD_REQUEST,
                format!("unknown solver {name:?} (expected greedy, probabilistic or bayes)"),
            )
        })?),
        Some(other) => return Err(not_of_type(other, "string")),
    };
    let name = body.string("name", "")?;
    let notes = body.string("notes", "")?;
    let token = auth_token(&headers)?;
    let run = blocking(&state, move |inner| {
        tx(inner, |tx| {
            let project = live_project(tx, &project_id)?;
            authorize(tx, &token, &project, Action::CreateRun)?;
            if project.in_error() {
                return abort(ApiError::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    PROJECT_HAS_ERRORS,
                ));
            }
            let run = match threshold {
                None => Run::create_auto(
                    &project,
                    solver,
                    name.clone(),
                    notes.clone(),
                    Timestamp::now(),
                ),
                Some(threshold) => {
                    let Ok(threshold) = Threshold::positive(threshold) else {
                        return abort(ApiError::new(StatusCode::BAD_REQUEST, THRESHOLD_RANGE));
                    };
                    Run::create(
                        &project,
                        threshold,
                        name.clone(),
                        notes.clone(),
                        Timestamp::now(),
                    )
                    .with_solver(solver)
                }
            };
            tx.put_run(&run)?;
            Ok(run)
        })
    })
    .await?;
    state.inner.wake.notify_one();
    Ok((StatusCode::CREATED, Json(describe_run(&run))).into_response())
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
            let (project, run) = live_run(tx, &project_id, &run_id)?;
            authorize(tx, &token, &project, Action::DescribeRun)?;
            Ok(run)
        })
    })
    .await?;
    Ok(Json(describe_run(&run)))
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
            let (project, _) = live_run(tx, &project_id, &run_id)?;
            authorize(tx, &token, &project, Action::DeleteRun)?;
            tx.delete_run(&run_id)?;
            Ok(())
        })?;
        inner
            .blobs
            .delete_prefix(&keys::run_prefix(&project_id, &run_id))?;
        Ok(())
    })
    .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// §3.10: what describes a run (and answers its creation); an auto run or one with a
/// solver asked for also says so (`"auto"`, `"solver"`), and its threshold is the one
/// chosen (`"auto"` until it is).
fn describe_run(run: &Run) -> Value {
    let mut body = json!({"run_id": run.id(), "threshold": shown_threshold(run), "name": run.name(), "notes": run.notes()});
    add_choice(run, &mut body);
    body
}

fn shown_threshold(run: &Run) -> Value {
    run.shown_threshold().map_or(json!("auto"), |t| json!(t))
}

/// The extension fields of runs that use them: nothing for a reference run.
fn add_choice(run: &Run, body: &mut Value) {
    if run.is_auto() {
        body["auto"] = json!(true);
    }
    if run.is_auto() || run.solver_asked().is_some() {
        body["solver"] = json!(run.solver().solver().name());
    }
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
            authorize(tx, &token, &project, Action::RunStatus)?;
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
    if run.is_auto() {
        body["threshold"] = shown_threshold(&run);
        add_choice(&run, &mut body);
    }
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

/// The score model's estimate of a completed auto or Bayes run (an extension, for the
/// result token's holder): the suggested threshold, the estimated precision, recall and
/// F1 over thresholds, the fitted distributions.
async fn estimate(
    State(state): State<AppState>,
    Path((project_id, run_id)): Path<(String, String)>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let token = auth_token(&headers)?;
    let document = blocking(&state, move |inner| {
        tx(inner, |tx| {
            let (project, run) = live_run(tx, &project_id, &run_id)?;
            authorize(tx, &token, &project, Action::RunEstimate)?;
            match run.status(&project).state {
                RunState::Error => {
                    abort(ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, RUN_FAILED))
                }
                RunState::Completed if run.is_auto() || run.solver() == RunSolver::Bayes => Ok(()),
                RunState::Completed => abort(ApiError::new(
                    StatusCode::NOT_FOUND,
                    "run has no estimate: only runs with threshold auto or the bayes solver do",
                )),
                _ => abort(ApiError::new(StatusCode::NOT_FOUND, RUN_NOT_COMPLETE)),
            }
        })?;
        read_blob(inner, &keys::estimate(&project_id, &run_id))
    })
    .await?;
    Ok(([(header::CONTENT_TYPE, "application/json")], document).into_response())
}

/// A stored JSON document, whole.
fn read_blob(inner: &crate::Inner, key: &str) -> Result<Vec<u8>, ApiError> {
    let mut bytes = Vec::new();
    inner
        .blobs
        .open(key)?
        .read_to_end(&mut bytes)
        .map_err(ApiError::internal)?;
    Ok(bytes)
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
            let kind = access::token_kind(tx, &token, &project_id)?;
            match access::result_part(kind.as_ref(), project.result_type()) {
                Some(part) => Ok(part),
                None => abort(ApiError::forbidden()),
            }
        })?;
        read_blob(inner, &keys::result(&project_id, &run_id, &part))
    })
    .await?;
    Ok(([(header::CONTENT_TYPE, "application/json")], document).into_response())
}
