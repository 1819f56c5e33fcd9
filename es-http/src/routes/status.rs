//! `GET /status` and `GET /version` (API reference §3.1, §3.2).

use axum::routing::get;
use axum::{Json, Router};
use serde_json::{Value, json};

use crate::AppState;

pub(crate) fn router() -> Router<AppState> {
    Router::new()
        .route("/status", get(status))
        .route("/version", get(version))
}

/// §3.1: `project_count` and the comparison `rate` (1 until a run has completed).
async fn status() -> Json<Value> {
    Json(json!({"status": "ok", "project_count": 0, "rate": 1}))
}

/// §3.2: versions as strings; `anonlink` names the engine that does the linkage here.
async fn version() -> Json<Value> {
    Json(json!({
        "anonlink": format!("anonlink-core {}", env!("CARGO_PKG_VERSION")),
        "entityservice": format!("v{}", env!("CARGO_PKG_VERSION")),
        "python": "none (Rust)",
    }))
}
