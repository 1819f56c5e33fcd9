//! `GET /metrics`: the store's view of runs and the queue, then every metric of the
//! process ([`crate::metrics`]) in the Prometheus text format.

use anonlink_core::service::chunk::ChunkState;
use anonlink_core::service::run::RunState;
use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};

use super::{blocking, tx};
use crate::{ApiError, AppState, metrics};

/// `GET /metrics`.
pub(crate) async fn scrape(State(state): State<AppState>) -> Result<Response, ApiError> {
    let (runs, chunks, rate) = blocking(&state, |inner| {
        tx(inner, |tx| {
            let states = [
                RunState::Created,
                RunState::Queued,
                RunState::Running,
                RunState::Completed,
                RunState::Error,
            ];
            let all = tx.runs_in_state(&states)?;
            let runs: Vec<(RunState, i64)> = states
                .iter()
                .map(|&s| (s, all.iter().filter(|r| r.state() == s).count() as i64))
                .collect();
            let mut chunks = [0i64; 2];
            for run in all.iter().filter(|r| r.state() == RunState::Running) {
                for c in tx.chunks(run.id())? {
                    match c.state() {
                        ChunkState::Pending => chunks[0] += 1,
                        ChunkState::Running => chunks[1] += 1,
                        ChunkState::Done => {}
                    }
                }
            }
            let rate: i64 = tx
                .setting("rate")?
                .and_then(|r| r.parse().ok())
                .unwrap_or(0);
            Ok((runs, chunks, rate))
        })
    })
    .await?;
    let body = metrics::render(&runs, chunks, rate).map_err(ApiError::internal)?;
    Ok((
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        body,
    )
        .into_response())
}
