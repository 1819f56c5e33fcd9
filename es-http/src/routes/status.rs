//! `GET /status` and `GET /version` (API reference §3.1, §3.2).

use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{Value, json};

use super::{blocking, tx};
use crate::{ApiError, AppState};

pub(crate) fn router() -> Router<AppState> {
    Router::new()
        .route("/status", get(status))
        .route("/version", get(version))
}

/// §3.1: every project ever created (deleted ones too) and the comparison rate of §5.8.
async fn status(State(state): State<AppState>) -> Result<Json<Value>, ApiError> {
    let (count, rate) = blocking(&state, |inner| {
        tx(inner, |tx| {
            let count = tx.projects()?.len();
            let rate: u64 = tx
                .setting("rate")?
                .and_then(|r| r.parse().ok())
                .unwrap_or(1);
            Ok((count, rate))
        })
    })
    .await?;
    Ok(Json(
        json!({"status": "ok", "project_count": count, "rate": rate}),
    ))
}

/// §3.2: versions as strings; `anonlink` names the engine that does the linkage here.
async fn version() -> Json<Value> {
    Json(json!({
        "anonlink": format!("anonlink-core {}", env!("CARGO_PKG_VERSION")),
        "entityservice": format!("v{}", env!("CARGO_PKG_VERSION")),
        "python": "none (Rust)",
    }))
}
