//! Run workers: claim a queued run under a lease, compute it with the core engine, store the
//! result, complete the run.
//!
//! A worker renews its lease with each progress report. If the run was deleted, its project
//! deleted, or its lease taken over meanwhile, the worker stops at its next report and
//! leaves the run alone. After a crash, leases lapse (or, for the embedded store, are
//! released at start-up) and the run is computed again from the stored uploads.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anonlink_core::candidates::ProgressFn;
use anonlink_core::encoding::{Clks, SizeLimits, block_id, decode_binary};
use anonlink_core::linkage::{self, LinkSpec, Linkage, ResultType};
use anonlink_core::service::Timestamp;
use anonlink_core::service::project::{Project, UploadState};
use anonlink_core::service::run::{Run, RunState};
use anonlink_core::service::store::{MetadataStore, StoreError, TxError, claim_run, transact};
use tokio::task::JoinHandle;

use crate::AppState;
use crate::routes::result_key;

/// Message of a run whose candidates exceed the configured limit (reference v1.14+).
const TOO_MANY_CANDIDATES: &str =
    "This run has created more than the global limit of candidate pairs.";
/// How often progress is written (and the lease renewed).
const REPORT_EVERY: Duration = Duration::from_millis(400);

/// Starts the configured number of workers.
pub(crate) fn spawn(state: AppState) -> Vec<JoinHandle<()>> {
    let prefix = format!(
        "{}-{}",
        std::process::id(),
        &anonlink_core::service::token::generate()[..8]
    );
    (0..state.config().workers.max(1))
        .map(|i| tokio::spawn(work(state.clone(), format!("{prefix}-{i}"))))
        .collect()
}

/// Frees every run held by a previous process of this embedded store.
pub(crate) fn release_all_leases(meta: &dyn MetadataStore) -> Result<(), StoreError> {
    let released = transact::<_, ()>(meta, |tx| {
        let mut n = 0;
        for mut run in tx.runs_in_state(&[RunState::Running])? {
            run.lease = None;
            tx.put_run(&run)?;
            n += 1;
        }
        Ok(n)
    });
    match released {
        Ok(n) => {
            if n > 0 {
                tracing::info!(runs = n, "re-queued runs interrupted by a restart");
            }
            Ok(())
        }
        Err(TxError::Store(e)) => Err(e),
        Err(TxError::Abort(())) => Ok(()),
    }
}

async fn work(state: AppState, holder: String) {
    let lease_micros = state.config().lease_seconds as i64 * 1_000_000;
    loop {
        let meta = state.inner.meta.clone();
        let who = holder.clone();
        let claimed =
            tokio::task::spawn_blocking(move || claim_run(meta.as_ref(), &who, lease_micros)).await;
        match claimed {
            Ok(Ok(Some((run, project)))) => {
                let state = state.clone();
                let who = holder.clone();
                let run_id = run.id.clone();
                tracing::info!(run = %run_id, project = %project.id, "run started");
                let done =
                    tokio::task::spawn_blocking(move || execute(&state, run, project, &who)).await;
                if let Err(e) = done {
                    tracing::error!(run = %run_id, error = %e, "run task failed");
                }
            }
            Ok(Ok(None)) => {
                tokio::select! {
                    _ = state.inner.wake.notified() => {}
                    _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                }
            }
            Ok(Err(e)) => {
                tracing::error!(error = %e, "claiming a run failed");
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
            Err(e) => {
                tracing::error!(error = %e, "claim task failed");
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
    }
}

enum Failure {
    /// The run is no longer ours to finish (deleted, or its lease lost).
    Abandoned,
    /// The run failed; the message goes to its status.
    Failed(String),
}

fn execute(state: &AppState, run: Run, project: Project, holder: &str) {
    let started = Instant::now();
    match compute(state, &run, &project, holder) {
        Ok(()) => tracing::info!(
            run = %run.id,
            seconds = started.elapsed().as_secs_f64(),
            "run completed"
        ),
        Err(Failure::Abandoned) => tracing::info!(run = %run.id, "run abandoned"),
        Err(Failure::Failed(message)) => {
            tracing::warn!(run = %run.id, %message, "run failed");
            let failed = update_held(state, &run.id, holder, |r| {
                r.fail(Timestamp::now(), message.clone())
            });
            if let Err(e) = failed {
                tracing::error!(run = %run.id, error = %e, "recording a failed run");
            }
        }
    }
}

/// Applies `change` to the run if `holder` still holds it; returns whether it did.
fn update_held(
    state: &AppState,
    run_id: &str,
    holder: &str,
    mut change: impl FnMut(&mut Run),
) -> Result<bool, StoreError> {
    let lease_micros = state.config().lease_seconds as i64 * 1_000_000;
    let outcome = transact::<_, ()>(state.inner.meta.as_ref(), |tx| {
        let Some(mut run) = tx.run(run_id)? else {
            return Ok(false);
        };
        let live = tx.project(&run.project_id)?.is_some_and(|p| !p.deleted);
        if !live || !run.held_by(holder) {
            return Ok(false);
        }
        change(&mut run);
        if let Some(lease) = run.lease.as_mut() {
            lease.expires = Timestamp::now().plus_micros(lease_micros);
        }
        tx.put_run(&run)?;
        Ok(true)
    });
    match outcome {
        Ok(held) => Ok(held),
        Err(TxError::Store(e)) => Err(e),
        Err(TxError::Abort(())) => Ok(false),
    }
}

fn load_datasets(state: &AppState, project: &Project) -> Result<Vec<Clks>, Failure> {
    project
        .parties
        .iter()
        .enumerate()
        .map(|(i, party)| match &party.upload {
            UploadState::Ready {
                count,
                bytes_per_record,
                blob,
                ..
            } => {
                let reader =
                    state.inner.blobs.open(blob).map_err(|e| {
                        Failure::Failed(format!("party {i}: stored encodings: {e}"))
                    })?;
                decode_binary(
                    reader,
                    *count as usize,
                    *bytes_per_record,
                    &SizeLimits::any(),
                )
                .map_err(|e| Failure::Failed(format!("party {i}: stored encodings: {e}")))
            }
            _ => Err(Failure::Failed(format!("party {i} has no usable upload"))),
        })
        .collect()
}

/// Block ids of every record; an upload without them (binary) puts all its records in
/// block "1", as the reference does for records without blocking information.
fn load_blocks(
    state: &AppState,
    project: &Project,
    sizes: &[usize],
) -> Result<Vec<Vec<Vec<u64>>>, Failure> {
    project
        .parties
        .iter()
        .zip(sizes)
        .enumerate()
        .map(|(i, (party, &n))| {
            let blob = match &party.upload {
                UploadState::Ready {
                    blocks_blob: Some(blob),
                    ..
                } => blob,
                _ => return Ok(vec![vec![block_id("1")]; n]),
            };
            let reader = state
                .inner
                .blobs
                .open(blob)
                .map_err(|e| Failure::Failed(format!("party {i}: stored blocks: {e}")))?;
            let blocks: Vec<Vec<u64>> = serde_json::from_reader(reader)
                .map_err(|e| Failure::Failed(format!("party {i}: stored blocks: {e}")))?;
            Ok(blocks)
        })
        .collect()
}

fn compute(state: &AppState, run: &Run, project: &Project, holder: &str) -> Result<(), Failure> {
    let store_failure = |e: StoreError| Failure::Failed(format!("storage failed: {e}"));
    let datasets = load_datasets(state, project)?;
    let refs: Vec<&Clks> = datasets.iter().collect();
    let sizes: Vec<usize> = datasets.iter().map(Clks::len).collect();

    let done = Arc::new(AtomicU64::new(0));
    let abandoned = Arc::new(AtomicBool::new(false));
    let last_report = Arc::new(std::sync::Mutex::new(Instant::now()));
    let progress: Arc<ProgressFn> = {
        let (state, run_id, holder) = (state.clone(), run.id.clone(), holder.to_string());
        let (done, abandoned, last_report) = (done.clone(), abandoned.clone(), last_report.clone());
        Arc::new(move |n| {
            let total = done.fetch_add(n, Ordering::Relaxed) + n;
            let due = last_report.try_lock().is_ok_and(|mut last| {
                if last.elapsed() >= REPORT_EVERY {
                    *last = Instant::now();
                    true
                } else {
                    false
                }
            });
            if due {
                match update_held(&state, &run_id, &holder, |r| {
                    r.comparisons_done = r.comparisons_done.max(total)
                }) {
                    Ok(true) => {}
                    Ok(false) => abandoned.store(true, Ordering::Relaxed),
                    Err(e) => tracing::warn!(error = %e, "writing progress failed"),
                }
            }
            !abandoned.load(Ordering::Relaxed)
        })
    };
    let mut spec = LinkSpec::new(project.result_type, run.threshold);
    spec.candidates = spec.candidates.with_progress(progress);
    if project.uses_blocking {
        spec.blocks = Some(load_blocks(state, project, &sizes)?);
    }

    let pairs = match linkage::find_candidates(&refs, &spec) {
        Ok(p) => p,
        Err(anonlink_core::Error::Cancelled) => return Err(Failure::Abandoned),
        Err(e) => return Err(Failure::Failed(e.to_string())),
    };
    if pairs.len() as u64 > state.config().max_candidate_pairs {
        return Err(Failure::Failed(TOO_MANY_CANDIDATES.to_string()));
    }
    let n_candidates = pairs.len() as u64;
    let total = done.load(Ordering::Relaxed);
    let next_stage = if project.result_type == ResultType::SimilarityScores {
        2
    } else {
        3
    };
    let held = update_held(state, &run.id, holder, |r| {
        r.comparisons_done = total;
        r.stage = next_stage;
        r.candidates = Some(n_candidates);
    })
    .map_err(store_failure)?;
    if !held {
        return Err(Failure::Abandoned);
    }

    let result = linkage::solve_candidates(&pairs, &sizes, &spec)
        .map_err(|e| Failure::Failed(e.to_string()))?;
    drop(pairs);
    let documents: Vec<(String, Vec<u8>)> = match &result {
        Linkage::Permutations(p) => {
            let mut docs = vec![(
                "mask".to_string(),
                serde_json::to_vec(&serde_json::json!({"mask": p.mask})),
            )];
            for (party, perm) in [&p.permutation_a, &p.permutation_b].into_iter().enumerate() {
                docs.push((
                    format!("permutation-{party}"),
                    serde_json::to_vec(&serde_json::json!({"permutation": perm, "rows": p.rows})),
                ));
            }
            docs.into_iter()
                .map(|(k, v)| v.map(|v| (k, v)))
                .collect::<Result<_, _>>()
        }
        other => serde_json::to_vec(other).map(|v| vec![("result".to_string(), v)]),
    }
    .map_err(|e| Failure::Failed(format!("writing the result: {e}")))?;
    for (part, bytes) in &documents {
        state
            .inner
            .blobs
            .put(&result_key(&project.id, &run.id, part), &mut &bytes[..])
            .map_err(store_failure)?;
    }

    let result_type = project.result_type;
    let completed = transact::<_, ()>(state.inner.meta.as_ref(), |tx| {
        let Some(mut r) = tx.run(&run.id)? else {
            return Ok(false);
        };
        if !r.held_by(holder) || tx.project(&r.project_id)?.is_none_or(|p| p.deleted) {
            return Ok(false);
        }
        let now = Timestamp::now();
        r.complete(now, result_type);
        tx.put_run(&r)?;
        // §5.8: the rate covers solved runs only.
        if result_type != ResultType::SimilarityScores
            && let Some(started) = r.time_started
        {
            let read = |v: Option<String>| v.and_then(|s| s.parse::<f64>().ok()).unwrap_or(0.0);
            let comparisons = read(tx.setting("rate_comparisons")?) + r.total_comparisons as f64;
            let seconds = read(tx.setting("rate_seconds")?) + now.seconds_since(started);
            tx.put_setting("rate_comparisons", &comparisons.to_string())?;
            tx.put_setting("rate_seconds", &seconds.to_string())?;
            let rate = if seconds > 0.0 {
                comparisons / seconds
            } else {
                comparisons
            };
            tx.put_setting("rate", &(rate.max(1.0) as u64).to_string())?;
        }
        Ok(true)
    });
    match completed {
        Ok(true) => Ok(()),
        Ok(false) => {
            for (part, _) in &documents {
                let _ = state
                    .inner
                    .blobs
                    .delete(&result_key(&project.id, &run.id, part));
            }
            Err(Failure::Abandoned)
        }
        Err(TxError::Store(e)) => Err(store_failure(e)),
        Err(TxError::Abort(())) => Err(Failure::Abandoned),
    }
}
