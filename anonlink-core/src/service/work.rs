//! What a worker does with the work it claimed from the [`super::queue`]: compare a chunk,
//! or merge and solve a run whose chunks are all done; and what happens when that fails.
//!
//! **A chunk**: load its rows of the two parties' stored encodings (ranged reads) and their
//! block ids → find the candidates, renewing the lease with each progress report → check
//! the candidate limit → store the sorted candidate file → record it (only the lease holder
//! can, once).
//!
//! **A solve**: merge the chunks' files (a streaming k-way merge) → solve for the project's
//! result type → split the result into its documents (the mask and one permutation per
//! party for permutations, one document otherwise) → store them → complete the run → drop
//! the chunk files.
//!
//! **Failures** ([`Failure`]) are settled by [`Worker::settle`]: work that is no longer
//! ours is left alone; work interrupted by a shutdown is given back as it is; a storage
//! failure gives the work back for another attempt, until the queue's `max_attempts`; any
//! other failure fails the run with a message for its status.
//!
//! Async runtimes, threads and logging are the shell's: a worker here runs on the calling
//! thread and blocks.

use std::io::{Read, Seek, Write};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::chunk::RunChunk;
use super::keys::{self, ResultPart};
use super::project::{Project, UploadState};
use super::queue::{ChunkOutcome, Claim, Queue, QueueConfig};
use super::run::{Run, RunSolver};
use super::store::{BlobStore, MetadataStore, StoreError};
use crate::candidates::{
    self, CandidateEstimate, CandidatePair, MemoryBudget, PairSample, SortedRuns, StreamAsFile,
    Threshold, find_chunk_blocked_into, find_chunk_into, merge_sorted,
};
use crate::encoding::{Clks, SizeLimits, decode_binary, default_blocks};
use crate::linkage::{self, LinkSpec, Linkage, ResultType};
use crate::model::{self, ScoreModel};
use crate::output;

/// The message of a run whose candidates exceed the configured limit (reference v1.14+).
pub const TOO_MANY_CANDIDATES: &str =
    "This run has created more than the global limit of candidate pairs.";

/// Why a piece of work did not finish.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
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

fn merge_failure(e: crate::Error) -> Failure {
    Failure::Failed(format!("merging chunks: {e}"))
}

fn store_failure(e: StoreError) -> Failure {
    Failure::Retry(format!("storage failed: {e}"))
}

/// How a piece of work ended, once settled with the queue.
#[derive(Debug, Clone, PartialEq)]
pub enum Settled {
    /// A chunk was recorded; `run_ready` when it was its run's last.
    ChunkDone {
        /// The run can now be solved.
        run_ready: bool,
    },
    /// The run was solved and completed.
    Completed,
    /// The work was no longer ours; nothing was recorded.
    Abandoned,
    /// Interrupted by a shutdown and given back to the queue.
    GivenBack,
    /// Given back after a failure that may not recur; another attempt may come after
    /// `backoff` (the worker should pause that long).
    Retrying {
        /// The attempt that failed.
        attempts: u32,
        /// What failed.
        message: String,
        /// How long to let the failure recover.
        backoff: Duration,
    },
    /// The run failed with `message`.
    Failed {
        /// The message in the run's status.
        message: String,
    },
    /// Settling with the queue failed too; the work's lease will lapse and it will be
    /// claimed again.
    Unsettled {
        /// What failed.
        error: String,
    },
}

/// Settings of a worker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WorkConfig {
    /// The queue's settings: leases, chunk size, attempts.
    pub queue: QueueConfig,
    /// A run whose chunks find more candidate pairs fails with [`TOO_MANY_CANDIDATES`]
    /// (runs whose solve keeps state per pair: probabilistic, greedy with 3+ parties).
    pub max_candidate_pairs: u64,
    /// The same for runs whose solve streams with state per record only (similarity
    /// scores, two-party greedy, Bayes): their candidates cost disk, not memory.
    pub max_streamed_candidate_pairs: u64,
    /// How often a chunk's progress is written (and its lease renewed).
    pub report_every: Duration,
    /// Bytes a chunk's candidate pairs may take in memory before they are sorted into runs
    /// on disk (the system's temporary directory).
    pub chunk_memory_bytes: usize,
}

impl Default for WorkConfig {
    fn default() -> Self {
        WorkConfig {
            queue: QueueConfig::default(),
            max_candidate_pairs: super::defaults::MAX_CANDIDATE_PAIRS,
            max_streamed_candidate_pairs: super::defaults::MAX_STREAMED_CANDIDATE_PAIRS,
            report_every: Duration::from_millis(super::defaults::REPORT_EVERY_MILLIS),
            chunk_memory_bytes: super::defaults::CHUNK_MEMORY_BYTES,
        }
    }
}

/// The workers of one process: their stores, settings, the block lists they share, and
/// the flag that tells them to stop.
pub struct Worker {
    meta: Arc<dyn MetadataStore>,
    blobs: Arc<dyn BlobStore>,
    config: WorkConfig,
    blocks: BlockCache,
    stopping: Arc<AtomicBool>,
    /// The GPU chunks without blocks are compared on, if any.
    device: Option<crate::gpu::SharedDevice>,
}

impl std::fmt::Debug for Worker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Worker")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl Worker {
    /// Workers over `meta` and `blobs`.
    pub fn new(
        meta: Arc<dyn MetadataStore>,
        blobs: Arc<dyn BlobStore>,
        config: WorkConfig,
    ) -> Worker {
        Worker {
            meta,
            blobs,
            config,
            blocks: BlockCache::default(),
            stopping: Arc::new(AtomicBool::new(false)),
            device: None,
        }
    }

    /// Compares chunks without blocks on `device` (blocked chunks stay on the CPU): the
    /// same candidates, in the same files.
    pub fn with_device(mut self, device: Option<crate::gpu::SharedDevice>) -> Worker {
        self.device = device;
        self
    }

    /// The queue the workers take work from.
    pub fn queue(&self) -> Queue<'_> {
        Queue::new(self.meta.as_ref(), self.config.queue)
    }

    /// Its settings.
    pub fn config(&self) -> &WorkConfig {
        &self.config
    }

    /// Tells every worker to stop: they claim nothing more, and interrupt what they compute
    /// at its next progress report.
    pub fn stop(&self) {
        self.stopping.store(true, Ordering::SeqCst);
    }

    /// Whether [`Worker::stop`] was called.
    pub fn is_stopping(&self) -> bool {
        self.stopping.load(Ordering::SeqCst)
    }

    /// Computes a chunk held by `holder` and records it; returns whether it was its run's
    /// last.
    ///
    /// # Errors
    /// The [`Failure`] to settle.
    pub fn compare(
        &self,
        run: &Run,
        project: &Project,
        chunk: &RunChunk,
        holder: &str,
    ) -> Result<bool, Failure> {
        let _span =
            tracing::info_span!("chunk_compare", run = %run.id(), chunk = chunk.index()).entered();
        let work = chunk.work();
        let parties = work.datasets.map(|d| d as usize);
        let a = self.load_rows(project, parties[0], work.ranges[0])?;
        let b = self.load_rows(project, parties[1], work.ranges[1])?;
        let blocks = if project.uses_blocking() {
            Some([
                self.load_blocks(project, parties[0], work.ranges[0])?,
                self.load_blocks(project, parties[1], work.ranges[1])?,
            ])
        } else {
            None
        };

        let abandoned = Arc::new(AtomicBool::new(false));
        let progress = self.progress_reporter(chunk, holder, abandoned.clone());
        let config =
            candidates::Config::new(run.threshold().get()).with_progress(Arc::new(progress));
        let block_refs = blocks.as_ref().map(|s| [&s[0][..], &s[1][..]]);
        let failed = |e: crate::Error| match e {
            crate::Error::Cancelled if self.is_stopping() => Failure::Interrupted,
            crate::Error::Cancelled => Failure::Abandoned,
            e => Failure::Failed(e.to_string()),
        };
        let max = self.candidate_limit(project, run);
        let too_many = || Failure::Failed(TOO_MANY_CANDIDATES.to_string());
        let key = keys::chunk_candidates(project.id(), run.id(), chunk.index(), holder);
        // In sorted runs within the memory budget, on disk beyond it: blocks do not bound
        // a chunk's pairs (a big block of look-alikes has as many as the whole chunk).
        let budget = MemoryBudget::bytes(self.config.chunk_memory_bytes);
        let runs = match (block_refs, &self.device) {
            (Some(blocks), _) => {
                find_chunk_blocked_into(work, [&a, &b], blocks, &config, SortedRuns::new(budget))
            }
            (None, Some(device)) => crate::gpu::find_chunk_into(
                device.as_ref(),
                work,
                [&a, &b],
                &config,
                crate::gpu::TileLimits::default(),
                SortedRuns::new(budget),
            ),
            (None, None) => find_chunk_into(work, [&a, &b], &config, SortedRuns::new(budget)),
        }
        .map_err(failed)?;
        drop((a, b, blocks));
        if runs.len() > max {
            return Err(too_many());
        }
        let relabel = work.relabel();
        let stream = runs.into_stream().map_err(failed)?;
        // Straight into the blob store as the merge makes them: a temporary file of the
        // chunk's candidates first would write and read them once more (a gigabyte at 44M).
        let mut file = StreamAsFile::new(stream.map(|p| p.map(&relabel)));
        let stored = self.blobs.put(&key, &mut file);
        if let Some(e) = file.take_error() {
            return Err(failed(e));
        }
        stored.map_err(store_failure)?;
        let found = file.pairs_read();
        let outcome = self
            .queue()
            .complete_chunk(run.id(), chunk.index(), holder, found, &key, max)
            .map_err(store_failure)?;
        match outcome {
            ChunkOutcome::Recorded { run_ready } => Ok(run_ready),
            ChunkOutcome::Lost => {
                let _ = self.blobs.delete(&key);
                Err(Failure::Abandoned)
            }
            ChunkOutcome::TooManyCandidates => {
                Err(Failure::Failed(TOO_MANY_CANDIDATES.to_string()))
            }
        }
    }

    /// The most candidate pairs `run` may find: the streamed limit where its solve keeps
    /// state per record only, the other limit where it keeps state per pair.
    fn candidate_limit(&self, project: &Project, run: &Run) -> u64 {
        let streams = project.result_type() == ResultType::SimilarityScores
            || match run.solver() {
                RunSolver::Bayes => true,
                RunSolver::Greedy => project.sizes().len() == 2,
                RunSolver::Probabilistic => false,
            };
        if streams {
            self.config
                .max_streamed_candidate_pairs
                .max(self.config.max_candidate_pairs)
        } else {
            self.config.max_candidate_pairs
        }
    }

    /// The estimate of a run's candidate pairs at `threshold`: for each party pair, a
    /// sample of the larger party's rows (ranged reads) against the smaller party read in
    /// parts.
    fn estimate(
        &self,
        project: &Project,
        threshold: Threshold,
    ) -> Result<CandidateEstimate, Failure> {
        /// Rows of the smaller party loaded at a time.
        const PART_ROWS: u64 = 1 << 18;
        let config = candidates::Config::new(threshold.get());
        let sizes = project.sizes();
        let mut pairs = Vec::new();
        for i in 0..sizes.len() {
            for j in i + 1..sizes.len() {
                let (big, small) = if sizes[i] >= sizes[j] { (i, j) } else { (j, i) };
                let mut sample = PairSample::plan(sizes[big] as u64, sizes[small] as u64);
                let mut picked: Option<Clks> = None;
                for range in sample.ranges.clone() {
                    let rows = self.load_rows(project, big, range)?;
                    match picked.as_mut() {
                        None => picked = Some(rows),
                        Some(all) => all.append(&rows),
                    }
                }
                if let Some(picked) = picked.filter(|p| !p.is_empty()) {
                    let mut start = 0u64;
                    while start < sizes[small] as u64 {
                        if self.is_stopping() {
                            return Err(Failure::Interrupted);
                        }
                        let end = (start + PART_ROWS).min(sizes[small] as u64);
                        let part = self.load_rows(project, small, [start, end])?;
                        sample.count_against(&picked, &part, &config);
                        start = end;
                    }
                }
                pairs.push(sample.estimate(None));
            }
        }
        Ok(candidates::combine_estimates(&pairs))
    }

    /// The progress callback of a chunk's search: every `report_every` it writes the
    /// progress and renews the lease; it stops the search once the chunk is no longer
    /// `holder`'s, or the workers are stopping.
    fn progress_reporter(
        &self,
        chunk: &RunChunk,
        holder: &str,
        abandoned: Arc<AtomicBool>,
    ) -> impl Fn(u64) -> bool + Send + Sync + 'static {
        let (meta, config) = (self.meta.clone(), self.config);
        let (run_id, index, holder) = (
            chunk.run_id().to_string(),
            chunk.index(),
            holder.to_string(),
        );
        let done = AtomicU64::new(0);
        let last_report = Mutex::new(Instant::now());
        let stopping = self.stopping.clone();
        move |n| {
            let total = done.fetch_add(n, Ordering::Relaxed) + n;
            let due = last_report.try_lock().is_ok_and(|mut last| {
                if last.elapsed() >= config.report_every {
                    *last = Instant::now();
                    true
                } else {
                    false
                }
            });
            if due {
                let queue = Queue::new(meta.as_ref(), config.queue);
                match queue.renew_chunk(&run_id, index, &holder, total) {
                    Ok(true) => {}
                    Ok(false) => abandoned.store(true, Ordering::Relaxed),
                    Err(e) => tracing::warn!(error = %e, "writing progress failed"),
                }
            }
            !abandoned.load(Ordering::Relaxed) && !stopping.load(Ordering::SeqCst)
        }
    }

    /// Merges the candidates of a run's chunks, solves, stores the result documents and
    /// completes the run held by `holder`. `lost` turns true when the run's lease was lost
    /// (the shell's heartbeat renews it).
    ///
    /// # Errors
    /// The [`Failure`] to settle.
    pub fn solve(
        &self,
        run: &Run,
        project: &Project,
        chunks: &[RunChunk],
        holder: &str,
        lost: &AtomicBool,
    ) -> Result<(), Failure> {
        // The chunks' files are merged as the solver reads them: one span for both.
        let _span =
            tracing::info_span!("merge_solve", run = %run.id(), chunks = chunks.len()).entered();
        let check = || {
            if lost.load(Ordering::Relaxed) {
                Err(Failure::Abandoned)
            } else if self.is_stopping() {
                Err(Failure::Interrupted)
            } else {
                Ok(())
            }
        };
        // Chunks recorded under another process's (higher) limit can still exceed this one's.
        let total: u64 = chunks.iter().map(RunChunk::candidates).sum();
        if total > self.candidate_limit(project, run) {
            return Err(Failure::Failed(TOO_MANY_CANDIDATES.to_string()));
        }
        let solver = run.solver();
        let sizes = project.sizes();
        // An auto run, or the Bayes solver, first fits the score model over the merged
        // chunks; the result then comes from the model or from a second pass.
        let mut threshold = run.threshold().get();
        let mut model = None;
        if run.is_auto() || solver == RunSolver::Bayes {
            let _fit = tracing::info_span!("fit_model").entered();
            let fitted = ScoreModel::fit_stream(self.merged(chunks, threshold)?, &sizes, threshold)
                .map_err(|e| Failure::Failed(e.to_string()))?;
            check()?;
            let report = serde_json::to_vec(&fitted.report(total))
                .map_err(|e| Failure::Failed(format!("writing the estimate: {e}")))?;
            self.blobs
                .put(&keys::estimate(project.id(), run.id()), &mut &report[..])
                .map_err(store_failure)?;
            if run.is_auto() {
                if solver != RunSolver::Bayes
                    || project.result_type() == ResultType::SimilarityScores
                {
                    threshold = fitted.suggested().threshold;
                }
                if !self
                    .queue()
                    .record_chosen_threshold(run.id(), holder, threshold)
                    .map_err(store_failure)?
                {
                    return Err(Failure::Abandoned);
                }
            }
            model = Some(fitted);
        }
        let spec = LinkSpec {
            solver: solver.solver(),
            ..LinkSpec::new(project.result_type(), threshold)
        };
        let parts: Vec<ResultPart> = if project.result_type() == ResultType::SimilarityScores {
            let stream = self.merged(chunks, threshold)?;
            let mut file = tempfile::tempfile()
                .map_err(|e| Failure::Retry(format!("a temporary file for the result: {e}")))?;
            {
                let mut out = std::io::BufWriter::with_capacity(1 << 20, &mut file);
                output::write_similarity_scores(stream, &mut out).map_err(merge_failure)?;
                out.flush()
                    .map_err(|e| Failure::Retry(format!("writing the result: {e}")))?;
            }
            file.seek(std::io::SeekFrom::Start(0))
                .map_err(|e| Failure::Retry(format!("writing the result: {e}")))?;
            check()?;
            self.blobs
                .put(
                    &keys::result(project.id(), run.id(), &ResultPart::Whole),
                    &mut file,
                )
                .map_err(store_failure)?;
            vec![ResultPart::Whole]
        } else {
            let result = match (&model, solver) {
                (Some(model), RunSolver::Bayes) => linkage::from_groups(
                    project.result_type(),
                    linkage::bayes_groups(model, threshold),
                    &sizes,
                ),
                _ => linkage::solve_stream(self.merged(chunks, threshold)?, &sizes, &spec),
            }
            .map_err(|e| Failure::Failed(e.to_string()))?;
            check()?;
            let documents = result_documents(&result)
                .map_err(|e| Failure::Failed(format!("writing the result: {e}")))?;
            for (part, bytes) in &documents {
                self.blobs
                    .put(&keys::result(project.id(), run.id(), part), &mut &bytes[..])
                    .map_err(store_failure)?;
            }
            documents.into_iter().map(|(part, _)| part).collect()
        };
        check()?;

        let completed = self
            .queue()
            .complete_run(run.id(), holder, project.result_type())
            .map_err(store_failure)?;
        if !completed {
            for part in &parts {
                let _ = self
                    .blobs
                    .delete(&keys::result(project.id(), run.id(), part));
            }
            return Err(Failure::Abandoned);
        }
        if let Err(e) = self
            .blobs
            .delete_prefix(&keys::chunks_prefix(project.id(), run.id()))
        {
            tracing::warn!(run = %run.id(), error = %e, "removing chunk files");
        }
        Ok(())
    }

    /// The candidates of a run's chunks as one stream in canonical order, read as it goes
    /// (no pair is held beyond the merge's one per file): those scoring at least
    /// `threshold`, a prefix of the stream.
    fn merged(
        &self,
        chunks: &[RunChunk],
        threshold: f64,
    ) -> Result<impl Iterator<Item = crate::Result<CandidatePair>> + use<>, Failure> {
        let merged = merge_sorted(self.open_chunks(chunks)?).map_err(merge_failure)?;
        Ok(merged.take_while(move |p| p.as_ref().map_or(true, |p| p.score >= threshold)))
    }

    /// The candidate files of a run's chunks, open for reading.
    fn open_chunks(&self, chunks: &[RunChunk]) -> Result<Vec<Box<dyn Read + Send>>, Failure> {
        chunks
            .iter()
            .map(|chunk| {
                let blob = chunk.blob().ok_or_else(|| {
                    Failure::Failed(format!(
                        "chunk {} is done but has no candidates",
                        chunk.index()
                    ))
                })?;
                self.blobs.open(blob).map_err(store_failure)
            })
            .collect()
    }

    /// Prepares a run held by `holder` so it can be planned, and records what it found:
    /// for an auto run the floor of its comparisons, chosen from its parties' encodings (as
    /// [`candidates::model_floor`]); for every run the estimate of its candidate pairs.
    ///
    /// This comes before any chunk is compared, so a run whose estimate is over the limit
    /// (even at its low end) fails here with the estimate in its message, whichever worker
    /// would have taken which chunk. Blocked runs are not refused by the estimate, which is
    /// only an upper bound for them.
    ///
    /// # Errors
    /// The [`Failure`] to settle (under [`super::queue::Claim::Solve`]): a run whose
    /// scores cannot be modelled, or that would find too many candidates, fails with the
    /// reason.
    pub fn prepare(&self, run: &Run, project: &Project, holder: &str) -> Result<(), Failure> {
        let _span = tracing::info_span!("prepare", run = %run.id()).entered();
        let floor = if run.needs_floor() {
            Some(self.choose_floor(run, project)?)
        } else {
            None
        };
        // The estimate checks for a stop before each part it reads.
        let started = Instant::now();
        let estimate = self.estimate(project, floor.unwrap_or(run.threshold()))?;
        tracing::info!(
            run = %run.id(),
            estimate = %estimate.describe(),
            seconds = started.elapsed().as_secs_f64(),
            "estimated candidates"
        );
        let max = self.candidate_limit(project, run);
        if !project.uses_blocking() && estimate.low > max {
            return Err(Failure::Failed(format!(
                "{TOO_MANY_CANDIDATES} Estimated before computing: {} candidate pairs; the limit is {max}.",
                estimate.describe()
            )));
        }
        match self
            .queue()
            .record_prepared(run.id(), holder, floor, estimate.candidates.round() as u64)
            .map_err(store_failure)?
        {
            true => Ok(()),
            false => Err(Failure::Abandoned),
        }
    }

    /// The floor of an auto run's comparisons, from its parties' encodings.
    fn choose_floor(&self, run: &Run, project: &Project) -> Result<Threshold, Failure> {
        let sizes = project.sizes();
        let parties = (0..sizes.len())
            .map(|p| self.load_rows(project, p, [0, sizes[p] as u64]))
            .collect::<Result<Vec<Clks>, Failure>>()?;
        if self.is_stopping() {
            return Err(Failure::Interrupted);
        }
        let refs: Vec<&Clks> = parties.iter().collect();
        let floor = candidates::model_floor(&refs, model::CANDIDATES_PER_RECORD, None)
            .and_then(Threshold::positive)
            .map_err(|e| Failure::Failed(e.to_string()))?;
        tracing::info!(run = %run.id(), floor = floor.get(), "floor chosen");
        Ok(floor)
    }

    /// Settles the outcome of work on `run` (of `project`) done under `claim`, at its
    /// `attempts`-th attempt, with the queue.
    pub fn settle(
        &self,
        run: &Run,
        project: &Project,
        claim: Claim<'_>,
        attempts: u32,
        outcome: Result<Option<bool>, Failure>,
    ) -> Settled {
        let queue = self.queue();
        let message = match outcome {
            Ok(Some(run_ready)) => return Settled::ChunkDone { run_ready },
            Ok(None) => return Settled::Completed,
            Err(Failure::Abandoned) => return Settled::Abandoned,
            Err(Failure::Interrupted) => {
                return match queue.release(run.id(), claim) {
                    Ok(_) => Settled::GivenBack,
                    Err(e) => Settled::Unsettled {
                        error: e.to_string(),
                    },
                };
            }
            Err(Failure::Retry(message)) if queue.config().retries_after(attempts) => {
                // If giving it back fails, its lease lapses and it is retried all the same.
                let _ = queue.release(run.id(), claim);
                return Settled::Retrying {
                    attempts,
                    message,
                    backoff: queue.config().backoff(attempts),
                };
            }
            Err(Failure::Failed(message) | Failure::Retry(message)) => message,
        };
        match queue.fail_run(run.id(), claim, &message) {
            Ok(true) => {
                if let Err(e) = self
                    .blobs
                    .delete_prefix(&keys::chunks_prefix(project.id(), run.id()))
                {
                    tracing::warn!(run = %run.id(), error = %e, "removing chunk files");
                }
                Settled::Failed { message }
            }
            Ok(false) => Settled::Abandoned,
            Err(e) => Settled::Unsettled {
                error: e.to_string(),
            },
        }
    }

    /// The rows `range` of party `party`'s stored encodings.
    fn load_rows(&self, project: &Project, party: usize, range: [u64; 2]) -> Result<Clks, Failure> {
        let failed = |e: &dyn std::fmt::Display| {
            Failure::Failed(format!("party {party}: stored encodings: {e}"))
        };
        let Some(UploadState::Ready {
            count,
            bytes_per_record,
            blob,
            ..
        }) = project.upload(party)
        else {
            return Err(Failure::Failed(format!(
                "party {party} has no usable upload"
            )));
        };
        if range[1] > *count || range[0] > range[1] {
            return Err(failed(&format!(
                "rows {range:?} beyond its {count} records"
            )));
        }
        let width = *bytes_per_record as u64;
        let reader = self
            .blobs
            .open_range(blob, range[0] * width, (range[1] - range[0]) * width)
            .map_err(|e| Failure::Retry(format!("party {party}: stored encodings: {e}")))?;
        let n = (range[1] - range[0]) as usize;
        decode_binary(reader, n, *bytes_per_record, &SizeLimits::any()).map_err(|e| failed(&e))
    }

    /// Block ids of the rows `range` of party `party`; an upload without them puts all its
    /// records in the default block ([`default_blocks`]).
    fn load_blocks(
        &self,
        project: &Project,
        party: usize,
        range: [u64; 2],
    ) -> Result<Vec<Vec<u64>>, Failure> {
        let rows = range[0] as usize..range[1] as usize;
        let blob = match project.upload(party) {
            Some(UploadState::Ready {
                blocks_blob: Some(blob),
                ..
            }) => blob,
            _ => return Ok(default_blocks(rows.len())),
        };
        let lists = self.blocks.get_or_load(blob, || {
            let reader = self
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
}

/// The documents a result is stored as, by part: the mask and one permutation per party for
/// permutations (each party reads only its own), the whole result otherwise.
///
/// # Errors
/// Serialising failed.
pub fn result_documents(result: &Linkage) -> serde_json::Result<Vec<(ResultPart, Vec<u8>)>> {
    match result {
        Linkage::Permutations(p) => {
            let mut docs = vec![(
                ResultPart::Mask,
                serde_json::to_vec(&serde_json::json!({"mask": p.mask}))?,
            )];
            for (party, perm) in [&p.permutation_a, &p.permutation_b].into_iter().enumerate() {
                docs.push((
                    ResultPart::Permutation(party as u32),
                    serde_json::to_vec(&serde_json::json!({"permutation": perm, "rows": p.rows}))?,
                ));
            }
            Ok(docs)
        }
        other => Ok(vec![(ResultPart::Whole, serde_json::to_vec(other)?)]),
    }
}

/// Parsed block lists of recent uploads, by blob key, so that the chunks of a blocked run
/// do not each parse a party's whole list again (blobs never change once written).
#[derive(Default)]
struct BlockCache {
    recent: Mutex<std::collections::VecDeque<(String, BlockLists)>>,
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
