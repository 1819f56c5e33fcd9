//! The work queue: runs split into chunks that any number of workers claim under leases,
//! then merged and solved by one of them.
//!
//! A run's life on the queue:
//!
//! 1. Queued → a worker *plans* it: its comparison space is split into chunks of about
//!    [`QueueConfig::chunk_comparisons`] comparisons ([`split_to_chunks`]), stored as
//!    pending [`RunChunk`]s; the run is running, stage 2, held by nobody.
//! 2. Workers claim chunks ([`Work::Compare`]), renew their leases while computing
//!    ([`renew_chunk`]), store a sorted candidate file and record it ([`complete_chunk`]).
//!    Only the lease holder records a chunk, once; a lapsed lease makes the chunk claimable
//!    again.
//! 3. When every chunk is done, one worker claims the run under a lease ([`Work::Solve`]),
//!    merges the chunks' files, solves, stores the result and completes the run
//!    ([`complete_run`]). If it dies, the lease lapses and another worker solves again.
//!
//! Every step is one transaction over [`MetadataStore`]; the functions here hold the rules
//! and are written once for every backend.

use super::Timestamp;
use super::chunk::{ChunkState, RunChunk};
use super::project::Project;
use super::run::{Run, RunState};
use super::store::{MetadataStore, StoreError, Tx, TxError, transact};
use crate::candidates::{split_to_chunks, total_comparisons};
use crate::linkage::ResultType;

/// Settings of the queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QueueConfig {
    /// How long a claim lasts without renewal, in microseconds.
    pub lease_micros: i64,
    /// Target number of comparisons per chunk.
    pub chunk_comparisons: u64,
}

/// What a worker claimed.
#[derive(Debug, Clone, PartialEq)]
pub enum Work {
    /// Compute one chunk's candidates.
    Compare {
        /// The chunk's run.
        run: Run,
        /// The run's project.
        project: Project,
        /// The chunk, now held by the worker.
        chunk: RunChunk,
    },
    /// Merge the candidates of every chunk (all done), solve, store the result.
    Solve {
        /// The run, now held by the worker.
        run: Run,
        /// The run's project.
        project: Project,
        /// Its chunks, in index order.
        chunks: Vec<RunChunk>,
    },
}

/// Who claims to act on a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Claim<'a> {
    /// The holder of one of its chunks.
    Chunk {
        /// The chunk's index.
        index: u32,
        /// The worker.
        holder: &'a str,
    },
    /// The holder of the run (its solver).
    Solve {
        /// The worker.
        holder: &'a str,
    },
}

/// Queues every `created` run of a project that has become ready (§5.5).
///
/// # Errors
/// Storage failures.
pub fn queue_waiting_runs(tx: &mut dyn Tx, project: &Project) -> Result<(), StoreError> {
    if !project.ready() {
        return Ok(());
    }
    for mut run in tx.runs(&project.id)? {
        if run.state == RunState::Created {
            run.state = RunState::Queued;
            tx.put_run(&run)?;
        }
    }
    Ok(())
}

/// Claims the next piece of work for `holder`, oldest run first: a run whose chunks are all
/// done (to solve), else a claimable chunk, else a queued run (planned, and its first chunk
/// claimed). Runs whose project is deleted or in error are failed on the way.
///
/// # Errors
/// Storage failures.
pub fn claim_work(
    store: &dyn MetadataStore,
    holder: &str,
    config: &QueueConfig,
) -> Result<Option<Work>, StoreError> {
    run_tx(store, |tx| claim_in(tx, holder, config))
}

fn claim_in(
    tx: &mut dyn Tx,
    holder: &str,
    config: &QueueConfig,
) -> Result<Option<Work>, StoreError> {
    let now = Timestamp::now();
    let mut to_plan: Option<(Run, Project)> = None;
    for mut run in tx.runs_in_state(&[RunState::Queued, RunState::Running])? {
        if !run.is_claimable(now) {
            continue;
        }
        let Some(project) = usable_project(tx, &mut run, now)? else {
            continue;
        };
        let Some(planned) = run.chunks.filter(|_| run.state == RunState::Running) else {
            // Queued, or running under a version that did not plan chunks: plan it afresh.
            to_plan.get_or_insert((run, project));
            continue;
        };
        let chunks = tx.chunks(&run.id)?;
        if ready_to_solve(planned, &chunks) {
            let candidates = chunks.iter().map(|c| c.candidates).sum();
            run.start_solving(
                holder,
                now,
                config.lease_micros,
                project.result_type,
                candidates,
            );
            tx.put_run(&run)?;
            return Ok(Some(Work::Solve {
                run,
                project,
                chunks,
            }));
        }
    }

    while let Some(mut chunk) = tx.next_claimable_chunk(now)? {
        let run = tx
            .run(&chunk.run_id)?
            .filter(|r| r.state == RunState::Running && r.chunks.is_some());
        let Some(mut run) = run else {
            // A chunk of a run that is gone or over: nothing will ever need it.
            tx.delete_chunks(&chunk.run_id)?;
            continue;
        };
        let Some(project) = usable_project(tx, &mut run, now)? else {
            continue;
        };
        chunk.claim(holder, now, config.lease_micros);
        tx.put_chunk(&chunk)?;
        return Ok(Some(Work::Compare {
            run,
            project,
            chunk,
        }));
    }

    let Some((mut run, project)) = to_plan else {
        return Ok(None);
    };
    tx.delete_chunks(&run.id)?;
    let sizes = project.sizes();
    let sizes64: Vec<u64> = sizes.iter().map(|&n| n as u64).collect();
    let plan = split_to_chunks(config.chunk_comparisons.max(1) as f64, &sizes64);
    run.start_comparing(now, total_comparisons(&sizes), plan.len() as u32);
    if plan.is_empty() {
        // Nothing to compare (an empty party): straight to the output.
        run.start_solving(holder, now, config.lease_micros, project.result_type, 0);
        tx.put_run(&run)?;
        return Ok(Some(Work::Solve {
            run,
            project,
            chunks: Vec::new(),
        }));
    }
    tx.put_run(&run)?;
    let mut first = None;
    for (index, work) in plan.into_iter().enumerate() {
        let mut chunk = RunChunk::new(&run.id, index as u32, work);
        if index == 0 {
            chunk.claim(holder, now, config.lease_micros);
            first = Some(chunk.clone());
        }
        tx.put_chunk(&chunk)?;
    }
    Ok(first.map(|chunk| Work::Compare {
        run,
        project,
        chunk,
    }))
}

/// Whether a run planned into `planned` chunks has every one of them done.
fn ready_to_solve(planned: u32, chunks: &[RunChunk]) -> bool {
    chunks.len() == planned as usize && chunks.iter().all(|c| c.state == ChunkState::Done)
}

/// The run's project if the run can go on; otherwise fails (or, without a project, removes)
/// the run and returns `None`.
fn usable_project(
    tx: &mut dyn Tx,
    run: &mut Run,
    now: Timestamp,
) -> Result<Option<Project>, StoreError> {
    let Some(project) = tx.project(&run.project_id)? else {
        tx.delete_run(&run.id)?;
        return Ok(None);
    };
    let message = if project.deleted {
        "The project was deleted.".to_string()
    } else if project.in_error() {
        project
            .error_message()
            .unwrap_or("The project has an upload in error.")
            .to_string()
    } else {
        return Ok(Some(project));
    };
    run.fail(now, message);
    tx.put_run(run)?;
    tx.delete_chunks(&run.id)?;
    Ok(None)
}

/// Whether the run is still running and its project usable.
fn run_is_live(tx: &mut dyn Tx, run_id: &str) -> Result<Option<Run>, StoreError> {
    let Some(run) = tx.run(run_id)? else {
        return Ok(None);
    };
    if run.state != RunState::Running {
        return Ok(None);
    }
    let live = tx
        .project(&run.project_id)?
        .is_some_and(|p| !p.deleted && !p.in_error());
    Ok(live.then_some(run))
}

/// Renews `holder`'s lease on a chunk and records its progress. Returns `false` when the
/// chunk is no longer the holder's to compute (taken over, run deleted or failed): the
/// worker should stop.
///
/// # Errors
/// Storage failures.
pub fn renew_chunk(
    store: &dyn MetadataStore,
    run_id: &str,
    index: u32,
    holder: &str,
    comparisons_done: u64,
    lease_micros: i64,
) -> Result<bool, StoreError> {
    run_tx(store, |tx| {
        let Some(mut chunk) = tx.chunk(run_id, index)? else {
            return Ok(false);
        };
        if !chunk.held_by(holder) || run_is_live(tx, run_id)?.is_none() {
            return Ok(false);
        }
        chunk.comparisons_done = chunk.comparisons_done.max(comparisons_done);
        if let Some(lease) = chunk.lease.as_mut() {
            lease.expires = Timestamp::now().plus_micros(lease_micros);
        }
        tx.put_chunk(&chunk)?;
        Ok(true)
    })
}

/// What recording a chunk led to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChunkOutcome {
    /// Recorded; `run_ready` when it was the run's last chunk.
    Recorded {
        /// Every chunk of the run is done: the run can be solved.
        run_ready: bool,
    },
    /// Not recorded: the chunk is no longer the holder's (its blob should be removed).
    Lost,
    /// Not recorded: with it, the run's chunks would have found more than the allowed
    /// number of candidate pairs. The holder still holds the chunk and should fail the run
    /// ([`fail_run`]).
    TooManyCandidates,
}

/// Records a chunk computed by `holder`: `candidates` pairs stored in `blob`. Only the
/// chunk's holder records it, and only once.
///
/// # Errors
/// Storage failures.
pub fn complete_chunk(
    store: &dyn MetadataStore,
    run_id: &str,
    index: u32,
    holder: &str,
    candidates: u64,
    blob: &str,
    max_candidates: u64,
) -> Result<ChunkOutcome, StoreError> {
    run_tx(store, |tx| {
        let Some(mut chunk) = tx.chunk(run_id, index)? else {
            return Ok(ChunkOutcome::Lost);
        };
        if !chunk.held_by(holder) {
            return Ok(ChunkOutcome::Lost);
        }
        let Some(run) = run_is_live(tx, run_id)? else {
            return Ok(ChunkOutcome::Lost);
        };
        let mut chunks = tx.chunks(run_id)?;
        let found: u64 = chunks
            .iter()
            .filter(|c| c.index != index && c.state == ChunkState::Done)
            .map(|c| c.candidates)
            .sum();
        if found.saturating_add(candidates) > max_candidates {
            // Not recorded: the holder still holds the chunk, and with it the right to fail
            // the run.
            return Ok(ChunkOutcome::TooManyCandidates);
        }
        chunk.finish(candidates, blob.to_string());
        tx.put_chunk(&chunk)?;
        if let Some(mine) = chunks.iter_mut().find(|c| c.index == index) {
            *mine = chunk;
        }
        let run_ready = run
            .chunks
            .is_some_and(|planned| ready_to_solve(planned, &chunks));
        Ok(ChunkOutcome::Recorded { run_ready })
    })
}

/// Renews the solver's lease on a run. Returns `false` when the run is no longer
/// `holder`'s (deleted, failed, taken over).
///
/// # Errors
/// Storage failures.
pub fn renew_run(
    store: &dyn MetadataStore,
    run_id: &str,
    holder: &str,
    lease_micros: i64,
) -> Result<bool, StoreError> {
    run_tx(store, |tx| {
        let Some(mut run) = run_is_live(tx, run_id)?.filter(|r| r.held_by(holder)) else {
            return Ok(false);
        };
        if let Some(lease) = run.lease.as_mut() {
            lease.expires = Timestamp::now().plus_micros(lease_micros);
        }
        tx.put_run(&run)?;
        Ok(true)
    })
}

/// Fails a running run with `message` for its status, if `claim` still stands (the chunk
/// or the run is held by that worker), and drops its chunks. Returns whether it did.
///
/// # Errors
/// Storage failures.
pub fn fail_run(
    store: &dyn MetadataStore,
    run_id: &str,
    claim: Claim<'_>,
    message: &str,
) -> Result<bool, StoreError> {
    run_tx(store, |tx| {
        let Some(mut run) = tx.run(run_id)? else {
            return Ok(false);
        };
        let holds = match claim {
            Claim::Chunk { index, holder } => {
                run.state == RunState::Running
                    && tx.chunk(run_id, index)?.is_some_and(|c| c.held_by(holder))
            }
            Claim::Solve { holder } => run.held_by(holder),
        };
        if !holds {
            return Ok(false);
        }
        run.fail(Timestamp::now(), message);
        tx.put_run(&run)?;
        tx.delete_chunks(run_id)?;
        Ok(true)
    })
}

/// Gives work back without recording anything, if `claim` still stands: the chunk becomes
/// pending again, or the run unheld (all its chunks done) — for another attempt, by any
/// worker, after a failure that may not recur (storage unreachable). Returns whether it did.
///
/// # Errors
/// Storage failures.
pub fn release(
    store: &dyn MetadataStore,
    run_id: &str,
    claim: Claim<'_>,
) -> Result<bool, StoreError> {
    run_tx(store, |tx| match claim {
        Claim::Chunk { index, holder } => {
            let Some(mut chunk) = tx.chunk(run_id, index)?.filter(|c| c.held_by(holder)) else {
                return Ok(false);
            };
            chunk.state = ChunkState::Pending;
            chunk.lease = None;
            tx.put_chunk(&chunk)?;
            Ok(true)
        }
        Claim::Solve { holder } => {
            let Some(mut run) = tx.run(run_id)?.filter(|r| r.held_by(holder)) else {
                return Ok(false);
            };
            run.lease = None;
            tx.put_run(&run)?;
            Ok(true)
        }
    })
}

/// Completes a run solved by `holder` (its result is stored), drops its chunks and adds it
/// to the service's comparison rate (§5.8: solved runs only). Returns `false` when the run
/// is no longer `holder`'s; the result should then be removed.
///
/// # Errors
/// Storage failures.
pub fn complete_run(
    store: &dyn MetadataStore,
    run_id: &str,
    holder: &str,
    result_type: ResultType,
) -> Result<bool, StoreError> {
    run_tx(store, |tx| {
        let Some(mut run) = run_is_live(tx, run_id)?.filter(|r| r.held_by(holder)) else {
            return Ok(false);
        };
        let now = Timestamp::now();
        run.complete(now, result_type);
        tx.put_run(&run)?;
        tx.delete_chunks(run_id)?;
        if result_type != ResultType::SimilarityScores
            && let Some(started) = run.time_started
        {
            let read = |v: Option<String>| v.and_then(|s| s.parse::<f64>().ok()).unwrap_or(0.0);
            let comparisons = read(tx.setting("rate_comparisons")?) + run.total_comparisons as f64;
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
    })
}

/// Frees every lease: for a store used by one process only, after a restart, so the
/// interrupted chunks and solves are claimed again at once. Returns how many runs had work
/// in flight.
///
/// # Errors
/// Storage failures.
pub fn release_leases(store: &dyn MetadataStore) -> Result<usize, StoreError> {
    run_tx(store, |tx| {
        let mut interrupted = 0;
        for mut run in tx.runs_in_state(&[RunState::Running])? {
            let mut touched = run.lease.take().is_some();
            for mut chunk in tx.chunks(&run.id)? {
                if chunk.state == ChunkState::Running {
                    chunk.state = ChunkState::Pending;
                    chunk.lease = None;
                    tx.put_chunk(&chunk)?;
                    touched = true;
                }
            }
            tx.put_run(&run)?;
            interrupted += usize::from(touched);
        }
        Ok(interrupted)
    })
}

/// The run as clients see it: while chunks are computed, its progress sums theirs.
///
/// # Errors
/// Storage failures.
pub fn run_with_progress(tx: &mut dyn Tx, run_id: &str) -> Result<Option<Run>, StoreError> {
    let Some(mut run) = tx.run(run_id)? else {
        return Ok(None);
    };
    if run.state == RunState::Running && run.stage == 2 && run.lease.is_none() {
        run.comparisons_done = super::chunk::comparisons_done(&tx.chunks(run_id)?);
    }
    Ok(Some(run))
}

fn run_tx<T>(
    store: &dyn MetadataStore,
    mut f: impl FnMut(&mut dyn Tx) -> Result<T, StoreError>,
) -> Result<T, StoreError> {
    match transact::<T, ()>(store, |tx| f(tx).map_err(TxError::Store)) {
        Ok(v) => Ok(v),
        Err(TxError::Store(e)) => Err(e),
        Err(TxError::Abort(())) => Err(StoreError::new("transaction aborted")),
    }
}
