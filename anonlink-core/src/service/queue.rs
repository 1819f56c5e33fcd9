//! The work queue: runs split into chunks that any number of workers claim under leases,
//! then merged and solved by one of them.
//!
//! A run's life on the queue:
//!
//! 1. Queued → a worker *plans* it: its comparison space is split into chunks of about
//!    [`QueueConfig::chunk_comparisons`] comparisons ([`split_to_chunks`]), stored as
//!    pending [`RunChunk`]s; the run is running, stage 2, held by nobody.
//! 2. Workers claim chunks ([`Work::Compare`]), renew their leases while computing
//!    ([`Queue::renew_chunk`]), store a sorted candidate file and record it
//!    ([`Queue::complete_chunk`]).
//!    Only the lease holder records a chunk, once; a lapsed lease makes the chunk claimable
//!    again.
//! 3. When every chunk is done, one worker claims the run under a lease ([`Work::Solve`]),
//!    merges the chunks' files, solves, stores the result and completes the run
//!    ([`Queue::complete_run`]). If it dies, the lease lapses and another worker solves again.
//!
//! Every step is one transaction over [`MetadataStore`]; [`Queue`]'s methods hold the rules
//! and are written once for every backend. The queue reads the time from a [`Clock`], so
//! leases can be tested against a fixed time.

use super::Timestamp;
use super::chunk::{ChunkState, RunChunk};
use super::project::Project;
use super::run::{Run, RunState};
use super::store::{MetadataStore, StoreError, Tx, TxError, transact};
use super::{Clock, SystemClock};
use crate::candidates::{split_to_chunks, total_comparisons};
use crate::linkage::ResultType;

/// Settings of the queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QueueConfig {
    /// How long a claim lasts without renewal, in microseconds.
    pub lease_micros: i64,
    /// Target number of comparisons per chunk.
    pub chunk_comparisons: u64,
    /// Attempts at a chunk, or at solving a run, before a failure that may not recur
    /// (storage unreachable) fails the run.
    pub max_attempts: u32,
    /// Pause before work given back after attempt `n` is tried again: `n` times this.
    pub retry_backoff_micros: i64,
}

impl Default for QueueConfig {
    fn default() -> Self {
        QueueConfig {
            lease_micros: (super::defaults::LEASE_SECONDS as i64) * 1_000_000,
            chunk_comparisons: super::defaults::CHUNK_COMPARISONS,
            max_attempts: super::defaults::MAX_ATTEMPTS,
            retry_backoff_micros: 1_000_000,
        }
    }
}

impl QueueConfig {
    /// Whether work that failed at attempt `attempts` is tried again.
    pub fn retries_after(&self, attempts: u32) -> bool {
        attempts < self.max_attempts
    }

    /// How long to let a failure recover before attempt `attempts + 1`.
    pub fn backoff(&self, attempts: u32) -> std::time::Duration {
        let micros = self.retry_backoff_micros.max(0) as u64 * u64::from(attempts);
        std::time::Duration::from_micros(micros)
    }
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
    /// Prepare a run before its chunks are planned ([`Queue::record_prepared`]): choose
    /// an auto run's floor from its data, estimate its candidates.
    Prepare {
        /// The run, now held by the worker.
        run: Run,
        /// The run's project.
        project: Project,
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

impl Work {
    /// The run the work is for.
    pub fn run(&self) -> &Run {
        match self {
            Work::Compare { run, .. } | Work::Prepare { run, .. } | Work::Solve { run, .. } => run,
        }
    }
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

/// What recording a chunk led to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChunkOutcome {
    /// Recorded; `run_ready` when it was the run's last.
    Recorded {
        /// Every chunk of the run is done: the run can be solved.
        run_ready: bool,
    },
    /// Not recorded: the chunk is no longer the holder's (its blob should be removed).
    Lost,
    /// Not recorded: with it, the run's chunks would have found more than the allowed
    /// number of candidate pairs. The holder still holds the chunk and should fail the run
    /// ([`Queue::fail_run`]).
    TooManyCandidates,
}

/// Queues every `created` run of a project that has become ready (§5.5), inside the
/// caller's transaction (the one that accepted the last upload).
///
/// # Errors
/// Storage failures.
pub fn queue_waiting_runs(tx: &mut dyn Tx, project: &Project) -> Result<(), StoreError> {
    if !project.ready() {
        return Ok(());
    }
    for mut run in tx.runs(project.id())? {
        if run.queue() {
            tx.put_run(&run)?;
        }
    }
    Ok(())
}

/// The run as clients see it: while chunks are computed, its progress sums theirs.
///
/// # Errors
/// Storage failures.
pub fn run_with_progress(tx: &mut dyn Tx, run_id: &str) -> Result<Option<Run>, StoreError> {
    let Some(mut run) = tx.run(run_id)? else {
        return Ok(None);
    };
    if run.state() == RunState::Running && run.stage() == 2 && run.lease().is_none() {
        run.show_progress(super::chunk::comparisons_done(&tx.chunks(run_id)?));
    }
    Ok(Some(run))
}

/// The work queue over a metadata store: every step a worker takes, one transaction each.
pub struct Queue<'a> {
    store: &'a dyn MetadataStore,
    config: QueueConfig,
    clock: &'a dyn Clock,
}

impl std::fmt::Debug for Queue<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Queue")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl<'a> Queue<'a> {
    /// The queue of `store`, on the system clock.
    pub fn new(store: &'a dyn MetadataStore, config: QueueConfig) -> Queue<'a> {
        Queue {
            store,
            config,
            clock: &SystemClock,
        }
    }

    /// The same queue, reading the time from `clock`.
    pub fn with_clock(self, clock: &'a dyn Clock) -> Queue<'a> {
        Queue { clock, ..self }
    }

    /// Its settings.
    pub fn config(&self) -> &QueueConfig {
        &self.config
    }

    /// The current time on its clock.
    pub fn now(&self) -> Timestamp {
        self.clock.now()
    }

    fn expiry(&self) -> Timestamp {
        self.now().plus_micros(self.config.lease_micros)
    }

    fn tx<T>(
        &self,
        mut f: impl FnMut(&mut dyn Tx) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        match transact::<T, ()>(self.store, |tx| f(tx).map_err(TxError::Store)) {
            Ok(v) => Ok(v),
            Err(TxError::Store(e)) => Err(e),
            Err(TxError::Abort(())) => Err(StoreError::new("transaction aborted")),
        }
    }

    /// Claims the next piece of work for `holder`, oldest run first: a run whose chunks are
    /// all done (to solve), else a claimable chunk, else a queued run (planned, and its
    /// first chunk claimed). Runs whose project is deleted or in error are failed on the
    /// way.
    ///
    /// # Errors
    /// Storage failures.
    pub fn claim_work(&self, holder: &str) -> Result<Option<Work>, StoreError> {
        self.tx(|tx| self.claim_in(tx, holder))
    }

    fn claim_in(&self, tx: &mut dyn Tx, holder: &str) -> Result<Option<Work>, StoreError> {
        let now = self.now();
        let lease = self.config.lease_micros;
        let mut to_plan: Option<(Run, Project)> = None;
        for mut run in tx.runs_in_state(&[RunState::Queued, RunState::Running])? {
            if !run.is_claimable(now) {
                continue;
            }
            let Some(project) = usable_project(tx, &mut run, now)? else {
                continue;
            };
            let Some(planned) = run.chunks().filter(|_| run.state() == RunState::Running) else {
                // Queued, or running under a version that did not plan chunks: plan afresh.
                to_plan.get_or_insert((run, project));
                continue;
            };
            let chunks = tx.chunks(run.id())?;
            if ready_to_solve(planned, &chunks) {
                let candidates = chunks.iter().map(RunChunk::candidates).sum();
                run.start_solving(holder, now, lease, project.result_type(), candidates);
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
                .run(chunk.run_id())?
                .filter(|r| r.state() == RunState::Running && r.chunks().is_some());
            let Some(mut run) = run else {
                // A chunk of a run that is gone or over: nothing will ever need it.
                tx.delete_chunks(chunk.run_id())?;
                continue;
            };
            let Some(project) = usable_project(tx, &mut run, now)? else {
                continue;
            };
            chunk.claim(holder, now, lease);
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
        tx.delete_chunks(run.id())?;
        if run.needs_preparing() {
            run.start_preparing(holder, now, lease);
            tx.put_run(&run)?;
            return Ok(Some(Work::Prepare { run, project }));
        }
        let sizes = project.sizes();
        let sizes64: Vec<u64> = sizes.iter().map(|&n| n as u64).collect();
        let plan = split_to_chunks(self.config.chunk_comparisons.max(1) as f64, &sizes64);
        run.start_comparing(now, total_comparisons(&sizes), plan.len() as u32);
        if plan.is_empty() {
            // Nothing to compare (an empty party): straight to the output.
            run.start_solving(holder, now, lease, project.result_type(), 0);
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
            let mut chunk = RunChunk::new(run.id(), index as u32, work);
            if index == 0 {
                chunk.claim(holder, now, lease);
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

    /// Records what `holder` found preparing a run (an auto run's floor, the estimated
    /// candidates) and unholds it to be planned. Returns `false` when the run is no longer
    /// `holder`'s.
    ///
    /// # Errors
    /// Storage failures.
    pub fn record_prepared(
        &self,
        run_id: &str,
        holder: &str,
        floor: Option<crate::candidates::Threshold>,
        estimated_candidates: u64,
    ) -> Result<bool, StoreError> {
        self.change_held(run_id, holder, |run| {
            run.prepared(floor, estimated_candidates)
        })
    }

    /// Records the lowest score an auto run's result may have, chosen by `holder` while
    /// solving. Returns `false` when the run is no longer `holder`'s.
    ///
    /// # Errors
    /// Storage failures.
    pub fn record_chosen_threshold(
        &self,
        run_id: &str,
        holder: &str,
        threshold: f64,
    ) -> Result<bool, StoreError> {
        self.change_held(run_id, holder, |run| run.record_chosen_threshold(threshold))
    }

    /// Applies `change` to a live run while `holder` holds it; whether it did.
    fn change_held(
        &self,
        run_id: &str,
        holder: &str,
        change: impl Fn(&mut Run),
    ) -> Result<bool, StoreError> {
        self.tx(|tx| {
            let Some(mut run) = run_is_live(tx, run_id)?.filter(|r| r.held_by(holder)) else {
                return Ok(false);
            };
            change(&mut run);
            tx.put_run(&run)?;
            Ok(true)
        })
    }

    /// Renews `holder`'s lease on a chunk and records its progress. Returns `false` when
    /// the chunk is no longer the holder's to compute (taken over, run deleted or failed):
    /// the worker should stop.
    ///
    /// # Errors
    /// Storage failures.
    pub fn renew_chunk(
        &self,
        run_id: &str,
        index: u32,
        holder: &str,
        comparisons_done: u64,
    ) -> Result<bool, StoreError> {
        self.tx(|tx| {
            let Some(mut chunk) = tx.chunk(run_id, index)? else {
                return Ok(false);
            };
            if !chunk.held_by(holder) || run_is_live(tx, run_id)?.is_none() {
                return Ok(false);
            }
            chunk.renew(comparisons_done, self.expiry());
            tx.put_chunk(&chunk)?;
            Ok(true)
        })
    }

    /// Records a chunk computed by `holder`: `candidates` pairs stored in `blob`. Only the
    /// chunk's holder records it, and only once; not when the run's chunks would then hold
    /// more than `max_candidates` pairs.
    ///
    /// # Errors
    /// Storage failures.
    pub fn complete_chunk(
        &self,
        run_id: &str,
        index: u32,
        holder: &str,
        candidates: u64,
        blob: &str,
        max_candidates: u64,
    ) -> Result<ChunkOutcome, StoreError> {
        self.tx(|tx| {
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
                .filter(|c| c.index() != index && c.state() == ChunkState::Done)
                .map(RunChunk::candidates)
                .sum();
            if found.saturating_add(candidates) > max_candidates {
                // Not recorded: the holder still holds the chunk, and with it the right to
                // fail the run.
                return Ok(ChunkOutcome::TooManyCandidates);
            }
            chunk.finish(candidates, blob.to_string());
            tx.put_chunk(&chunk)?;
            if let Some(mine) = chunks.iter_mut().find(|c| c.index() == index) {
                *mine = chunk;
            }
            let run_ready = run
                .chunks()
                .is_some_and(|planned| ready_to_solve(planned, &chunks));
            Ok(ChunkOutcome::Recorded { run_ready })
        })
    }

    /// Renews the solver's lease on a run. Returns `false` when the run is no longer
    /// `holder`'s (deleted, failed, taken over).
    ///
    /// # Errors
    /// Storage failures.
    pub fn renew_run(&self, run_id: &str, holder: &str) -> Result<bool, StoreError> {
        self.tx(|tx| {
            let Some(mut run) = run_is_live(tx, run_id)?.filter(|r| r.held_by(holder)) else {
                return Ok(false);
            };
            run.renew(self.expiry());
            tx.put_run(&run)?;
            Ok(true)
        })
    }

    /// Fails a running run with `message` for its status, if `claim` still stands (the
    /// chunk or the run is held by that worker), and drops its chunks. Returns whether it
    /// did.
    ///
    /// # Errors
    /// Storage failures.
    pub fn fail_run(
        &self,
        run_id: &str,
        claim: Claim<'_>,
        message: &str,
    ) -> Result<bool, StoreError> {
        self.tx(|tx| {
            let Some(mut run) = tx.run(run_id)? else {
                return Ok(false);
            };
            let holds = match claim {
                Claim::Chunk { index, holder } => {
                    run.state() == RunState::Running
                        && tx.chunk(run_id, index)?.is_some_and(|c| c.held_by(holder))
                }
                Claim::Solve { holder } => run.held_by(holder),
            };
            if !holds {
                return Ok(false);
            }
            run.fail(self.now(), message);
            tx.put_run(&run)?;
            tx.delete_chunks(run_id)?;
            Ok(true)
        })
    }

    /// Gives work back without recording anything, if `claim` still stands: the chunk
    /// becomes pending again, or the run unheld (all its chunks done) — for another
    /// attempt, by any worker, after a failure that may not recur (storage unreachable).
    /// Returns whether it did.
    ///
    /// # Errors
    /// Storage failures.
    pub fn release(&self, run_id: &str, claim: Claim<'_>) -> Result<bool, StoreError> {
        self.tx(|tx| match claim {
            Claim::Chunk { index, holder } => {
                let Some(mut chunk) = tx.chunk(run_id, index)?.filter(|c| c.held_by(holder)) else {
                    return Ok(false);
                };
                chunk.release();
                tx.put_chunk(&chunk)?;
                Ok(true)
            }
            Claim::Solve { holder } => {
                let Some(mut run) = tx.run(run_id)?.filter(|r| r.held_by(holder)) else {
                    return Ok(false);
                };
                run.release();
                tx.put_run(&run)?;
                Ok(true)
            }
        })
    }

    /// Completes a run solved by `holder` (its result is stored), drops its chunks and adds
    /// it to the service's comparison rate (§5.8: solved runs only). Returns `false` when
    /// the run is no longer `holder`'s; the result should then be removed.
    ///
    /// # Errors
    /// Storage failures.
    pub fn complete_run(
        &self,
        run_id: &str,
        holder: &str,
        result_type: ResultType,
    ) -> Result<bool, StoreError> {
        self.tx(|tx| {
            let Some(mut run) = run_is_live(tx, run_id)?.filter(|r| r.held_by(holder)) else {
                return Ok(false);
            };
            let now = self.now();
            run.complete(now, result_type);
            tx.put_run(&run)?;
            tx.delete_chunks(run_id)?;
            if result_type != ResultType::SimilarityScores
                && let Some(started) = run.time_started()
            {
                add_to_rate(tx, run.total_comparisons(), now.seconds_since(started))?;
            }
            Ok(true)
        })
    }

    /// Frees every lease: for a store used by one process only, after a restart, so the
    /// interrupted chunks and solves are claimed again at once. Returns how many runs had
    /// work in flight.
    ///
    /// # Errors
    /// Storage failures.
    pub fn release_leases(&self) -> Result<usize, StoreError> {
        self.tx(|tx| {
            let mut interrupted = 0;
            for mut run in tx.runs_in_state(&[RunState::Running])? {
                let mut touched = run.release();
                for mut chunk in tx.chunks(run.id())? {
                    if chunk.release() {
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
}

/// §5.8: the service's rate is the comparisons of every solved run over their seconds.
fn add_to_rate(tx: &mut dyn Tx, comparisons: u64, seconds: f64) -> Result<(), StoreError> {
    let read = |v: Option<String>| v.and_then(|s| s.parse::<f64>().ok()).unwrap_or(0.0);
    let comparisons = read(tx.setting("rate_comparisons")?) + comparisons as f64;
    let seconds = read(tx.setting("rate_seconds")?) + seconds;
    tx.put_setting("rate_comparisons", &comparisons.to_string())?;
    tx.put_setting("rate_seconds", &seconds.to_string())?;
    let rate = if seconds > 0.0 {
        comparisons / seconds
    } else {
        comparisons
    };
    tx.put_setting("rate", &(rate.max(1.0) as u64).to_string())
}

/// Whether a run planned into `planned` chunks has every one of them done.
fn ready_to_solve(planned: u32, chunks: &[RunChunk]) -> bool {
    chunks.len() == planned as usize && chunks.iter().all(|c| c.state() == ChunkState::Done)
}

/// The run's project if the run can go on; otherwise fails (or, without a project,
/// removes) the run and returns `None`.
fn usable_project(
    tx: &mut dyn Tx,
    run: &mut Run,
    now: Timestamp,
) -> Result<Option<Project>, StoreError> {
    let Some(project) = tx.project(run.project_id())? else {
        tx.delete_run(run.id())?;
        return Ok(None);
    };
    let message = if project.is_deleted() {
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
    tx.delete_chunks(run.id())?;
    Ok(None)
}

/// The run, if it is still running and its project usable.
fn run_is_live(tx: &mut dyn Tx, run_id: &str) -> Result<Option<Run>, StoreError> {
    let Some(run) = tx.run(run_id)? else {
        return Ok(None);
    };
    if run.state() != RunState::Running {
        return Ok(None);
    }
    let live = tx
        .project(run.project_id())?
        .is_some_and(|p| !p.is_deleted() && !p.in_error());
    Ok(live.then_some(run))
}
