//! Projects: list, create, describe, delete (API reference §3.3–3.6).

use anonlink_core::linkage::ResultType;
use anonlink_core::service::project::Project;
use anonlink_core::service::token::{self, Token, TokenHash, TokenKind};
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{Map, Value, json};

use super::{abort, auth_token, blocking, live_project, require_result_token, token_kind, tx};
use crate::error::MULTI_PARTY_NEEDS_GROUPS;
use crate::time::iso;
use crate::{ApiError, AppState};

pub(crate) fn router() -> Router<AppState> {
    Router::new()
        .route("/projects", get(list).post(create))
        .route("/projects/{project_id}", get(describe).delete(delete))
}

/// §3.3: every project ever created, with its creation time.
async fn list(State(state): State<AppState>) -> Result<Json<Value>, ApiError> {
    let projects = blocking(&state, |inner| tx(inner, |tx| Ok(tx.projects()?))).await?;
    Ok(Json(Value::Array(
        projects
            .into_iter()
            .map(|(id, t)| json!({"project_id": id, "time_added": iso(t)}))
            .collect(),
    )))
}

/// The request validation of the reference's JSON endpoints (§1.5): content type first,
/// then an object body.
pub(crate) fn json_object(
    headers: &HeaderMap,
    body: &Bytes,
) -> Result<Map<String, Value>, ApiError> {
    if body.is_empty() {
        return Err(ApiError::bad_request("None is not of type 'object'"));
    }
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let mime = content_type.split(';').next().unwrap_or("").trim();
    if !(mime == "application/json" || mime.ends_with("+json")) {
        return Err(ApiError {
            status: StatusCode::UNSUPPORTED_MEDIA_TYPE,
            title: Some("Unsupported Media Type"),
            detail: format!("Invalid Content-type ({content_type}), expected JSON data"),
        });
    }
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(other) => Err(ApiError::bad_request(format!(
            "{other} is not of type 'object'"
        ))),
        Err(e) => Err(ApiError::bad_request(format!(
            "Request body is not valid JSON: {e}"
        ))),
    }
}

/// A string property: default when absent, 400 when not a string.
pub(crate) fn string_field(
    body: &Map<String, Value>,
    key: &str,
    default: &str,
) -> Result<String, ApiError> {
    match body.get(key) {
        None => Ok(default.to_string()),
        Some(Value::String(s)) => Ok(s.clone()),
        Some(other) => Err(ApiError::bad_request(format!(
            "{} is not of type 'string'",
            python_repr(other)
        ))),
    }
}

/// How jsonschema messages print a value.
pub(crate) fn python_repr(v: &Value) -> String {
    match v {
        Value::Null => "None".into(),
        Value::Bool(true) => "True".into(),
        Value::Bool(false) => "False".into(),
        Value::String(s) => format!("'{s}'"),
        other => other.to_string(),
    }
}

/// §3.4.
async fn create(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let body = json_object(&headers, &body)?;
    let schema = match body.get("schema") {
        None => return Err(ApiError::bad_request("'schema' is a required property")),
        Some(Value::Object(o)) => Value::Object(o.clone()),
        Some(other) => {
            return Err(ApiError::bad_request(format!(
                "{} is not of type 'object'",
                python_repr(other)
            )));
        }
    };
    let result_type = match body.get("result_type") {
        None => {
            return Err(ApiError::bad_request(
                "'result_type' is a required property",
            ));
        }
        Some(Value::String(s)) => s.parse::<ResultType>().map_err(|_| {
            ApiError::bad_request(format!(
                "'{s}' is not one of ['groups', 'mapping', 'permutations', 'similarity_scores']"
            ))
        })?,
        Some(other) => {
            return Err(ApiError::bad_request(format!(
                "{} is not of type 'string'",
                python_repr(other)
            )));
        }
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
            if value.fract() != 0.0 || value > 1_000_000.0 {
                return Err(ApiError::bad_request(format!(
                    "{n} is not a whole number of parties"
                )));
            }
            value as u32
        }
        Some(other) => {
            return Err(ApiError::bad_request(format!(
                "{} is not of type 'number'",
                python_repr(other)
            )));
        }
    };
    let uses_blocking = match body.get("uses_blocking") {
        None => false,
        Some(Value::Bool(b)) => *b,
        Some(other) => {
            return Err(ApiError::bad_request(format!(
                "{} is not of type 'boolean'",
                python_repr(other)
            )));
        }
    };
    let name = string_field(&body, "name", "")?;
    let notes = string_field(&body, "notes", "")?;
    if number_parties > 2 && result_type != ResultType::Groups {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            MULTI_PARTY_NEEDS_GROUPS,
        ));
    }

    let project = Project::new(
        token::generate(),
        result_type,
        number_parties,
        schema,
        name,
        notes,
        uses_blocking,
    );
    let result_token = token::generate();
    let update_tokens: Vec<String> = (0..number_parties).map(|_| token::generate()).collect();
    let answer = json!({
        "project_id": project.id,
        "update_tokens": update_tokens,
        "result_token": result_token,
    });
    blocking(&state, move |inner| {
        tx(inner, |tx| {
            tx.put_project(&project)?;
            tx.put_token(&Token {
                hash: TokenHash::of(&result_token),
                project_id: project.id.clone(),
                kind: TokenKind::Result,
            })?;
            for (party, t) in update_tokens.iter().enumerate() {
                tx.put_token(&Token {
                    hash: TokenHash::of(t),
                    project_id: project.id.clone(),
                    kind: TokenKind::Update {
                        party: party as u32,
                    },
                })?;
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
            match token_kind(tx, &token, &project_id)? {
                Some(TokenKind::Result) => {}
                Some(TokenKind::Receipt { .. })
                    if project.result_type == ResultType::Permutations => {}
                _ => return abort(ApiError::forbidden()),
            }
            Ok(project)
        })
    })
    .await?;
    Ok(Json(json!({
        "project_id": project.id,
        "name": project.name,
        "notes": project.notes,
        "result_type": project.result_type.as_str(),
        "number_parties": project.number_parties(),
        "schema": project.schema,
        "parties_contributed": project.parties_contributed(),
        "error": project.in_error(),
        "uses_blocking": project.uses_blocking,
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
            require_result_token(tx, &token, &project_id)?;
            project.deleted = true;
            tx.put_project(&project)?;
            for run in tx.runs(&project_id)? {
                tx.delete_run(&run.id)?;
            }
            Ok(())
        })?;
        inner
            .blobs
            .delete_prefix(&format!("projects/{project_id}/"))?;
        Ok(())
    })
    .await?;
    Ok(StatusCode::NO_CONTENT)
}
