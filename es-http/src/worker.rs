//! Run workers: claim work from the queue (a chunk to compare, or a run whose chunks are all
//! done to solve), compute it with the core engine, store what it produced.
//!
//! A chunk's lease is renewed with each progress report and a solver's by a heartbeat. If
//! the run was deleted or failed, its project deleted, or the lease taken over meanwhile,
//! the worker stops at its next report and leaves the run alone. After a crash, leases
//! lapse (or, for the embedded store, are released at start-up) and the interrupted chunk
//! or solve is claimed again; chunks already done are kept.

use std::io::Read;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anonlink_core::candidates::{
    self, CandidatePairs, ProgressFn, find_chunk, merge_sorted, write_file,
};
use anonlink_core::encoding::{Clks, SizeLimits, block_id, decode_binary};
use anonlink_core::linkage::{self, LinkSpec, Linkage};
use anonlink_core::service::chunk::RunChunk;
use anonlink_core::service::project::{Project, UploadState};
use anonlink_core::service::queue::{
    ChunkOutcome, Claim, QueueConfig, Work, claim_work, complete_chunk, complete_run, fail_run,
    release, renew_chunk, renew_run,
};
use anonlink_core::service::run::Run;
use anonlink_core::service::store::{MetadataStore, StoreError};
use tokio::task::JoinHandle;

use crate::AppState;
use crate::routes::{chunks_prefix, result_key};

/// Message of a run whose candidates exceed the configured limit (reference v1.14+).
const TOO_MANY_CANDIDATES: &str =
    "This run has created more than the global limit of candidate pairs.";
/// How often progress is written (and a lease renewed).
const REPORT_EVERY: Duration = Duration::from_millis(400);
/// How long an idle worker waits before looking at the queue again (unless woken).
const IDLE_POLL: Duration = Duration::from_millis(500);

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

/// Frees every lease held by a previous process of this embedded store.
pub(crate) fn release_leases(meta: &dyn MetadataStore) -> Result<(), StoreError> {
    let runs = anonlink_core::service::queue::release_leases(meta)?;
    if runs > 0 {
        tracing::info!(runs, "re-queued work interrupted by a restart");
    }
    Ok(())
}

/// Stops the workers: they claim nothing more, interrupt what they compute and give it back
/// to the queue; waits for them (at most a lease's length).
pub(crate) async fn stop(state: &AppState, workers: Vec<JoinHandle<()>>) {
    state.inner.stopping.store(true, Ordering::SeqCst);
    state.inner.wake.notify_waiters();
    let patience = Duration::from_secs(state.config().lease_seconds.max(1));
    for w in workers {
        if tokio::time::timeout(patience, w).await.is_err() {
            tracing::warn!("a worker did not stop in time; its lease will lapse");
        }
    }
}

fn stopping(state: &AppState) -> bool {
    state.inner.stopping.load(Ordering::SeqCst)
}

fn queue_config(state: &AppState) -> QueueConfig {
    QueueConfig {
        lease_micros: lease_micros(state),
        chunk_comparisons: state.config().chunk_comparisons,
    }
}

fn lease_micros(state: &AppState) -> i64 {
    (state.config().lease_seconds as i64).saturating_mul(1_000_000)
}

async fn work(state: AppState, holder: String) {
    let config = queue_config(&state);
    while !stopping(&state) {
        let meta = state.inner.meta.clone();
        let who = holder.clone();
        let claimed =
            tokio::task::spawn_blocking(move || claim_work(meta.as_ref(), &who, &config)).await;
        match claimed {
            Ok(Ok(Some(work))) => {
                // There may be more where this came from: let idle workers look too.
                state.inner.wake.notify_waiters();
                let state = state.clone();
                let who = holder.clone();
                if let Err(e) =
                    tokio::task::spawn_blocking(move || execute(&state, work, &who)).await
                {
                    tracing::error!(error = %e, "work task failed");
                }
            }
            Ok(Ok(None)) => {
                tokio::select! {
                    _ = state.inner.wake.notified() => {}
                    _ = tokio::time::sleep(IDLE_POLL) => {}
                }
            }
            Ok(Err(e)) => {
                tracing::error!(error = %e, "claiming work failed");
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
            Err(e) => {
                tracing::error!(error = %e, "claim task failed");
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
    }
}

/// Attempts at a chunk (or at solving a run) before a storage failure fails the run.
const MAX_ATTEMPTS: u32 = 3;

enum Failure {
    /// The work is no longer ours to finish (run deleted or failed, lease lost).
    Abandoned,
    /// The run failed; the message goes to its status.
    Failed(String),
    /// Storage failed; the work goes back to the queue for another attempt, and the run
    /// fails with this message only once the attempts are used up.
    Retry(String),
    /// The process is shutting down; the work goes back to the queue as it is.
    Interrupted,
}

fn store_failure(e: StoreError) -> Failure {
    Failure::Retry(format!("storage failed: {e}"))
}

fn execute(state: &AppState, work: Work, holder: &str) {
    let started = Instant::now();
    let (run, project, claim, attempts, outcome) = match work {
        Work::Compare {
            run,
            project,
            chunk,
        } => {
            let outcome = compare(state, &run, &project, &chunk, holder).map(|ready| {
                tracing::info!(
                    run = %run.id,
                    chunk = chunk.index,
                    of = run.chunks.unwrap_or(0),
                    seconds = started.elapsed().as_secs_f64(),
                    "chunk done"
                );
                if ready {
                    state.inner.wake.notify_waiters();
                }
            });
            let claim = Claim::Chunk {
                index: chunk.index,
                holder,
            };
            (run, project, claim, chunk.attempts, outcome)
        }
        Work::Solve {
            run,
            project,
            chunks,
        } => {
            tracing::info!(run = %run.id, chunks = chunks.len(), "solving");
            let outcome = solve(state, &run, &project, &chunks, holder).map(|()| {
                tracing::info!(
                    run = %run.id,
                    seconds = started.elapsed().as_secs_f64(),
                    "run completed"
                );
            });
            let attempts = run.attempts;
            (run, project, Claim::Solve { holder }, attempts, outcome)
        }
    };
    let failure = match outcome {
        Ok(()) => return,
        Err(Failure::Abandoned) => {
            tracing::info!(run = %run.id, "work abandoned");
            return;
        }
        Err(Failure::Interrupted) => {
            match release(state.inner.meta.as_ref(), &run.id, claim) {
                Ok(_) => tracing::info!(run = %run.id, "work given back at shutdown"),
                Err(e) => tracing::error!(run = %run.id, error = %e, "giving work back"),
            }
            return;
        }
        Err(Failure::Retry(message)) if attempts < MAX_ATTEMPTS => {
            tracing::warn!(run = %run.id, attempts, %message, "giving the work back to retry");
            if let Err(e) = release(state.inner.meta.as_ref(), &run.id, claim) {
                // Then its lease lapses and it is retried all the same.
                tracing::error!(run = %run.id, error = %e, "giving work back");
            }
            // Let whatever failed recover before this worker (or another) tries again.
            std::thread::sleep(Duration::from_secs(u64::from(attempts)));
            return;
        }
        Err(Failure::Failed(message) | Failure::Retry(message)) => message,
    };
    tracing::warn!(run = %run.id, message = %failure, "run failed");
    match fail_run(state.inner.meta.as_ref(), &run.id, claim, &failure) {
        Ok(true) => {
            if let Err(e) = state
                .inner
                .blobs
                .delete_prefix(&chunks_prefix(&project.id, &run.id))
            {
                tracing::warn!(run = %run.id, error = %e, "removing chunk files");
            }
        }
        Ok(false) => {}
        Err(e) => tracing::error!(run = %run.id, error = %e, "recording a failed run"),
    }
}

/// The rows `range` of party `party`'s stored encodings.
fn load_rows(
    state: &AppState,
    project: &Project,
    party: usize,
    range: [u64; 2],
) -> Result<Clks, Failure> {
    let failed = |e: &dyn std::fmt::Display| {
        Failure::Failed(format!("party {party}: stored encodings: {e}"))
    };
    let Some(UploadState::Ready {
        count,
        bytes_per_record,
        blob,
        ..
    }) = project.parties.get(party).map(|p| &p.upload)
    else {
        return Err(Failure::Failed(format!(
            "party {party} has no usable upload"
        )));
    };
    if range[1] > *count {
        return Err(failed(&format!(
            "rows {range:?} beyond its {count} records"
        )));
    }
    let width = *bytes_per_record as u64;
    let reader = state
        .inner
        .blobs
        .open_range(blob, range[0] * width, (range[1] - range[0]) * width)
        .map_err(|e| Failure::Retry(format!("party {party}: stored encodings: {e}")))?;
    let n = (range[1] - range[0]) as usize;
    decode_binary(reader, n, *bytes_per_record, &SizeLimits::any()).map_err(|e| failed(&e))
}

/// Parsed block lists of recent uploads, by blob key, so that the chunks of a blocked run
/// do not each parse a party's whole list again (blobs never change once written).
#[derive(Default)]
pub(crate) struct BlockCache {
    recent: std::sync::Mutex<std::collections::VecDeque<(String, BlockLists)>>,
}

/// Every record's block ids, for one party.
type BlockLists = Arc<Vec<Vec<u64>>>;

impl BlockCache {
    /// Lists kept: both parties of a two-party run, with room for a second run.
    const CAPACITY: usize = 4;

    fn get_or_load(
        &self,
        key: &str,
        load: impl FnOnce() -> Result<Vec<Vec<u64>>, Failure>,
    ) -> Result<BlockLists, Failure> {
        let cached = self.recent.lock().ok().and_then(|recent| {
            recent
                .iter()
                .find(|(k, _)| k == key)
                .map(|(_, v)| v.clone())
        });
        if let Some(lists) = cached {
            return Ok(lists);
        }
        let lists = Arc::new(load()?);
        if let Ok(mut recent) = self.recent.lock() {
            if recent.len() >= Self::CAPACITY {
                recent.pop_front();
            }
            recent.push_back((key.to_string(), lists.clone()));
        }
        Ok(lists)
    }
}

/// Block ids of the rows `range` of party `party`; an upload without them (binary) puts all
/// its records in block "1", as the reference does for records without blocking
/// information.
fn load_blocks(
    state: &AppState,
    project: &Project,
    party: usize,
    range: [u64; 2],
) -> Result<Vec<Vec<u64>>, Failure> {
    let rows = range[0] as usize..range[1] as usize;
    let blob = match project.parties.get(party).map(|p| &p.upload) {
        Some(UploadState::Ready {
            blocks_blob: Some(blob),
            ..
        }) => blob,
        _ => return Ok(vec![vec![block_id("1")]; rows.len()]),
    };
    let lists = state.inner.block_cache.get_or_load(blob, || {
        let reader = state
            .inner
            .blobs
            .open(blob)
            .map_err(|e| Failure::Retry(format!("party {party}: stored blocks: {e}")))?;
        serde_json::from_reader(std::io::BufReader::new(reader))
            .map_err(|e| Failure::Failed(format!("party {party}: stored blocks: {e}")))
    })?;
    lists.get(rows.clone()).map(<[_]>::to_vec).ok_or_else(|| {
        Failure::Failed(format!(
            "party {party}: stored blocks do not cover rows {rows:?}"
        ))
    })
}

/// Computes a chunk and records it; returns whether it was its run's last.
fn compare(
    state: &AppState,
    run: &Run,
    project: &Project,
    chunk: &RunChunk,
    holder: &str,
) -> Result<bool, Failure> {
    let work = &chunk.work;
    let parties = work.datasets.map(|d| d as usize);
    let a = load_rows(state, project, parties[0], work.ranges[0])?;
    let b = load_rows(state, project, parties[1], work.ranges[1])?;
    let blocks = if project.uses_blocking {
        Some([
            load_blocks(state, project, parties[0], work.ranges[0])?,
            load_blocks(state, project, parties[1], work.ranges[1])?,
        ])
    } else {
        None
    };

    let done = Arc::new(AtomicU64::new(0));
    let abandoned = Arc::new(AtomicBool::new(false));
    let last_report = Arc::new(std::sync::Mutex::new(Instant::now()));
    let progress: Arc<ProgressFn> = {
        let state = state.clone();
        let (meta, run_id, index) = (state.inner.meta.clone(), chunk.run_id.clone(), chunk.index);
        let (holder, lease) = (holder.to_string(), lease_micros(&state));
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
                match renew_chunk(meta.as_ref(), &run_id, index, &holder, total, lease) {
                    Ok(true) => {}
                    Ok(false) => abandoned.store(true, Ordering::Relaxed),
                    Err(e) => tracing::warn!(error = %e, "writing progress failed"),
                }
            }
            !abandoned.load(Ordering::Relaxed) && !stopping(&state)
        })
    };
    let config = candidates::Config::new(run.threshold).with_progress(progress);
    let block_refs = blocks.as_ref().map(|s| [&s[0][..], &s[1][..]]);
    let pairs = match find_chunk(work, [&a, &b], block_refs, &config) {
        Ok(p) => p,
        Err(anonlink_core::Error::Cancelled) if stopping(state) => {
            return Err(Failure::Interrupted);
        }
        Err(anonlink_core::Error::Cancelled) => return Err(Failure::Abandoned),
        Err(e) => return Err(Failure::Failed(e.to_string())),
    };
    drop((a, b, blocks));
    let max = state.config().max_candidate_pairs;
    // Over the limit on its own: fail before storing a file nobody can use.
    if pairs.len() as u64 > max {
        return Err(Failure::Failed(TOO_MANY_CANDIDATES.to_string()));
    }

    let key = format!(
        "{}{:06}-{holder}",
        chunks_prefix(&project.id, &chunk.run_id),
        chunk.index
    );
    let mut file = Vec::with_capacity(4 + 24 * pairs.len());
    write_file(pairs.iter(), &mut file)
        .map_err(|e| Failure::Failed(format!("writing candidates: {e}")))?;
    state
        .inner
        .blobs
        .put(&key, &mut &file[..])
        .map_err(store_failure)?;
    let outcome = complete_chunk(
        state.inner.meta.as_ref(),
        &chunk.run_id,
        chunk.index,
        holder,
        pairs.len() as u64,
        &key,
        max,
    )
    .map_err(store_failure)?;
    match outcome {
        ChunkOutcome::Recorded { run_ready } => Ok(run_ready),
        ChunkOutcome::Lost => {
            let _ = state.inner.blobs.delete(&key);
            Err(Failure::Abandoned)
        }
        ChunkOutcome::TooManyCandidates => Err(Failure::Failed(TOO_MANY_CANDIDATES.to_string())),
    }
}

/// Renews the solver's lease in the background until dropped; `lost` turns true when the
/// run is no longer ours.
struct Heartbeat {
    stop: Option<std::sync::mpsc::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
    lost: Arc<AtomicBool>,
}

impl Heartbeat {
    fn start(state: &AppState, run_id: &str, holder: &str) -> Heartbeat {
        let (stop, stopped) = std::sync::mpsc::channel::<()>();
        let lost = Arc::new(AtomicBool::new(false));
        let (meta, run_id, holder) = (
            state.inner.meta.clone(),
            run_id.to_string(),
            holder.to_string(),
        );
        let lease = lease_micros(state);
        // A third of the lease, so two renewals can fail before it lapses.
        let every = Duration::from_micros((lease / 3).max(100_000) as u64);
        let flag = lost.clone();
        let thread = std::thread::spawn(move || {
            while let Err(std::sync::mpsc::RecvTimeoutError::Timeout) = stopped.recv_timeout(every)
            {
                match renew_run(meta.as_ref(), &run_id, &holder, lease) {
                    Ok(true) => {}
                    Ok(false) => {
                        flag.store(true, Ordering::Relaxed);
                        return;
                    }
                    Err(e) => tracing::warn!(error = %e, "renewing the solver's lease failed"),
                }
            }
        });
        Heartbeat {
            stop: Some(stop),
            thread: Some(thread),
            lost,
        }
    }

    fn check(&self, state: &AppState) -> Result<(), Failure> {
        if self.lost.load(Ordering::Relaxed) {
            Err(Failure::Abandoned)
        } else if stopping(state) {
            Err(Failure::Interrupted)
        } else {
            Ok(())
        }
    }
}

impl Drop for Heartbeat {
    fn drop(&mut self) {
        drop(self.stop.take());
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Merges the chunks' candidates, solves, stores the result and completes the run.
fn solve(
    state: &AppState,
    run: &Run,
    project: &Project,
    chunks: &[RunChunk],
    holder: &str,
) -> Result<(), Failure> {
    // Chunks recorded under another process's (higher) limit can still exceed this one's.
    let total: u64 = chunks.iter().map(|c| c.candidates).sum();
    if total > state.config().max_candidate_pairs {
        return Err(Failure::Failed(TOO_MANY_CANDIDATES.to_string()));
    }
    let heartbeat = Heartbeat::start(state, &run.id, holder);
    let mut files: Vec<Box<dyn Read + Send>> = Vec::with_capacity(chunks.len());
    for chunk in chunks {
        let blob = chunk.blob.as_deref().ok_or_else(|| {
            Failure::Failed(format!(
                "chunk {} is done but has no candidates",
                chunk.index
            ))
        })?;
        files.push(state.inner.blobs.open(blob).map_err(store_failure)?);
    }
    let merge_failed = |e: anonlink_core::Error| Failure::Failed(format!("merging chunks: {e}"));
    let mut merged = Vec::with_capacity(total as usize);
    for pair in merge_sorted(files).map_err(merge_failed)? {
        merged.push(pair.map_err(merge_failed)?);
    }
    let pairs = CandidatePairs::from_sorted(merged).map_err(merge_failed)?;
    heartbeat.check(state)?;

    let spec = LinkSpec::new(project.result_type, run.threshold);
    let result = linkage::solve_candidates(&pairs, &project.sizes(), &spec)
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
    heartbeat.check(state)?;
    drop(heartbeat);

    let completed = complete_run(
        state.inner.meta.as_ref(),
        &run.id,
        holder,
        project.result_type,
    )
    .map_err(store_failure)?;
    if !completed {
        for (part, _) in &documents {
            let _ = state
                .inner
                .blobs
                .delete(&result_key(&project.id, &run.id, part));
        }
        return Err(Failure::Abandoned);
    }
    if let Err(e) = state
        .inner
        .blobs
        .delete_prefix(&chunks_prefix(&project.id, &run.id))
    {
        tracing::warn!(run = %run.id, error = %e, "removing chunk files");
    }
    Ok(())
}
