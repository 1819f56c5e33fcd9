//! Projects: list, create, describe, delete (API reference §3.3–3.6).

use anonlink_core::linkage::ResultType;
use anonlink_core::service::Timestamp;
use anonlink_core::service::access::Action;
use anonlink_core::service::keys;
use anonlink_core::service::project::{NewProject, Project, ProjectRefusal};
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{Value, json};

use super::json::{JsonFields, not_of_type};
use super::{auth_token, authorize, blocking, live_project, tx};
use crate::time::iso;
use crate::{ApiError, AppState};

pub(crate) fn router() -> Router<AppState> {
    Router::new()
        .route("/projects", get(list).post(create))
        .route("/projects/{project_id}", get(describe).delete(delete))
}

/// §3.3: every project ever created, with its creation time.
async fn list(State(state): State<AppState>) -> Result<Json<Value>, ApiError> {
    if !state.config().http.list_projects {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "Listing projects is disabled on this service",
        ));
    }
    let projects = blocking(&state, |inner| tx(inner, |tx| Ok(tx.projects()?))).await?;
    Ok(Json(Value::Array(
        projects
            .into_iter()
            .map(|(id, t)| json!({"project_id": id, "time_added": iso(t)}))
            .collect(),
    )))
}

/// §3.4.
async fn create(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let body = JsonFields::parse(&headers, &body)?;
    let schema = match body.required("schema")? {
        Value::Object(o) => Value::Object(o.clone()),
        other => return Err(not_of_type(other, "object")),
    };
    let result_type = match body.required("result_type")? {
        Value::String(s) => s.parse::<ResultType>().map_err(|_| {
            ApiError::bad_request(format!(
                "'{s}' is not one of ['groups', 'mapping', 'permutations', 'similarity_scores']"
            ))
        })?,
        other => return Err(not_of_type(other, "string")),
    };
    let number_parties = match body.get("number_parties") {
        None => 2,
        Some(Value::Number(n)) => {
            let value = n.as_f64().unwrap_or(f64::NAN);
            if value < 2.0 {
                return Err(ApiError::bad_request(format!(
                    "{n} is less than the minimum of 2"
                )));
            }
            if value.fract() != 0.0 || value > f64::from(u32::MAX) {
                return Err(ApiError::bad_request(format!(
                    "{n} is not a whole number of parties"
                )));
            }
            value as u32
        }
        Some(other) => return Err(not_of_type(other, "number")),
    };
    let spec = NewProject {
        result_type,
        number_parties,
        schema,
        name: body.string("name", "")?,
        notes: body.string("notes", "")?,
        uses_blocking: body.boolean("uses_blocking", false)?,
    };
    let (project, credentials) =
        Project::create_checked(spec, state.config().max_parties, Timestamp::now()).map_err(
            |refusal| match refusal {
                ProjectRefusal::TooFewParties(_) => ApiError::bad_request(refusal.to_string()),
                _ => ApiError::new(StatusCode::BAD_REQUEST, refusal.to_string()),
            },
        )?;
    let answer = json!({
        "project_id": credentials.project_id,
        "update_tokens": credentials.update_tokens,
        "result_token": credentials.result_token,
    });
    blocking(&state, move |inner| {
        tx(inner, |tx| {
            tx.put_project(&project)?;
            for token in credentials.tokens() {
                tx.put_token(&token)?;
            }
            Ok(())
        })
    })
    .await?;
    Ok((StatusCode::CREATED, Json(answer)).into_response())
}

/// §3.5: the result token, or for permutations projects a receipt token of the project.
async fn describe(
    State(state): State<AppState>,
    Path(project_id): Path<String>,
    headers: HeaderMap,
) -> Result<Json<Value>, ApiError> {
    let token = auth_token(&headers)?;
    let project = blocking(&state, move |inner| {
        tx(inner, |tx| {
            let project = live_project(tx, &project_id)?;
            authorize(tx, &token, &project, Action::DescribeProject)?;
            Ok(project)
        })
    })
    .await?;
    Ok(Json(json!({
        "project_id": project.id(),
        "name": project.name(),
        "notes": project.notes(),
        "result_type": project.result_type().as_str(),
        "number_parties": project.number_parties(),
        "schema": project.schema(),
        "parties_contributed": project.parties_contributed(),
        "error": project.in_error(),
        "uses_blocking": project.uses_blocking(),
    })))
}

/// §3.6: marks the project deleted at once, then removes its encodings and results.
async fn delete(
    State(state): State<AppState>,
    Path(project_id): Path<String>,
    headers: HeaderMap,
) -> Result<StatusCode, ApiError> {
    let token = auth_token(&headers)?;
    blocking(&state, move |inner| {
        tx(inner, |tx| {
            let mut project = live_project(tx, &project_id)?;
            authorize(tx, &token, &project, Action::DeleteProject)?;
            project.delete();
            tx.put_project(&project)?;
            for run in tx.runs(&project_id)? {
                tx.delete_run(run.id())?;
            }
            Ok(())
        })?;
        inner
            .blobs
            .delete_prefix(&keys::project_prefix(&project_id))?;
        Ok(())
    })
    .await?;
    Ok(StatusCode::NO_CONTENT)
}
