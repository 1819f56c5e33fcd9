//! Candidate generation: every pair of records from different datasets whose Dice score is
//! at least the threshold.
//!
//! [`find`] compares every dataset pair `i < j` (row of `i` against row of `j`);
//! [`find_blocked`] compares only records that share a block. Both return
//! [`CandidatePairs`] in canonical order: score descending, then
//! `(dataset0, dataset1, row0, row1)` ascending. The solvers depend on that order.
//!
//! The search is exact: the kernels' pre-test only ever lets through a superset of the
//! matches, and records are skipped by popcount only where the Dice bound
//! `2·min(pa, pb) / (pa + pb)` proves they cannot reach the threshold. The result does not
//! depend on the order of the datasets beyond their indices, nor on the kernel or the
//! number of threads.
//!
//! Candidate files in the reference library's binary format are read and written by
//! [`read_file`], [`write_file`] and [`merge_files`]. [`estimate`] says how many candidates
//! a search will find before it runs, from a sample.

mod blocking;
mod estimate;
mod file;
mod keys;
mod sort;
mod spill;
mod tile;
mod top_k;

pub use self::blocking::{blocked_comparisons, find_blocked, find_blocked_into};
pub use self::estimate::{
    BYTES_PER_CANDIDATE, COMPETITORS, COVERED_SHARE, CandidateEstimate, LOWEST_FLOOR, PairSample,
    SAMPLE_COMPARISONS, combine as combine_estimates, estimate, floor_for, model_floor,
};
pub use self::file::{
    FileReader, MergedPairs, StreamAsFile, merge_files, merge_sorted, read_file, write_file,
    write_stream,
};
use self::spill::SharedRuns;
pub use self::spill::{CandidateStream, MemoryBudget, SortedRuns};
pub use self::top_k::EnforceK;

use std::cmp::Ordering;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering as AtomicOrdering};

use crate::encoding::Clks;
use crate::error::{Error, Result};
use crate::similarity::Kernel;

/// One candidate pair: a record of `dataset0` and a record of `dataset1`, with their score.
///
/// `dataset0 < dataset1` for pairs made by this module.
#[derive(Debug, Clone, Copy, PartialEq, bytemuck::Pod, bytemuck::Zeroable)]
#[repr(C)]
pub struct CandidatePair {
    /// Dice score, in `[threshold, 1]`.
    pub score: f64,
    /// Index of the first record's dataset.
    pub dataset0: u32,
    /// Index of the second record's dataset.
    pub dataset1: u32,
    /// Row of the first record in its dataset.
    pub row0: u32,
    /// Row of the second record in its dataset.
    pub row1: u32,
}

impl CandidatePair {
    /// The canonical order: score descending, then `(dataset0, dataset1, row0, row1)`
    /// ascending.
    pub fn canonical_cmp(&self, other: &Self) -> Ordering {
        other.score.total_cmp(&self.score).then_with(|| {
            (self.dataset0, self.dataset1, self.row0, self.row1).cmp(&(
                other.dataset0,
                other.dataset1,
                other.row0,
                other.row1,
            ))
        })
    }
}

/// Candidate pairs in canonical order.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CandidatePairs {
    pairs: Vec<CandidatePair>,
}

impl CandidatePairs {
    /// Sorts `pairs` into canonical order.
    pub fn from_unsorted(mut pairs: Vec<CandidatePair>) -> Self {
        sort::sort_canonical(&mut pairs);
        CandidatePairs { pairs }
    }

    /// Wraps pairs that must already be in canonical order.
    ///
    /// # Errors
    /// [`Error::Unsorted`] naming the first pair out of order.
    pub fn from_sorted(pairs: Vec<CandidatePair>) -> Result<Self> {
        if let Some(i) = pairs
            .windows(2)
            .position(|w| w[0].canonical_cmp(&w[1]) == Ordering::Greater)
        {
            return Err(Error::Unsorted { index: i + 1 });
        }
        Ok(CandidatePairs { pairs })
    }

    /// The pairs, in canonical order.
    pub fn as_slice(&self) -> &[CandidatePair] {
        &self.pairs
    }

    /// Number of pairs.
    pub fn len(&self) -> usize {
        self.pairs.len()
    }

    /// True when there are no pairs.
    pub fn is_empty(&self) -> bool {
        self.pairs.is_empty()
    }

    /// Iterates over the pairs in canonical order.
    pub fn iter(&self) -> std::slice::Iter<'_, CandidatePair> {
        self.pairs.iter()
    }

    /// The pairs as a vector.
    pub fn into_vec(self) -> Vec<CandidatePair> {
        self.pairs
    }
}

impl AsRef<[CandidatePair]> for CandidatePairs {
    fn as_ref(&self) -> &[CandidatePair] {
        &self.pairs
    }
}

impl<'a> IntoIterator for &'a CandidatePairs {
    type Item = &'a CandidatePair;
    type IntoIter = std::slice::Iter<'a, CandidatePair>;
    fn into_iter(self) -> Self::IntoIter {
        self.pairs.iter()
    }
}

/// Progress callback: called with the number of comparisons finished since the last call;
/// returning `false` stops the search, which then fails with [`Error::Cancelled`].
pub type ProgressFn = dyn Fn(u64) -> bool + Send + Sync;

/// A similarity threshold: a Dice score in `[0, 1]`. Pairs scoring at or above it are
/// candidates. Both of its rules live here, for every shell: any score for a candidate
/// search (anonlink accepts 0, and so does its Python API here), a positive one for a run
/// of the service (the reference API refuses 0).
///
/// # Examples
/// ```
/// use anonlink_core::candidates::Threshold;
///
/// assert_eq!(Threshold::new(0.8)?.get(), 0.8);
/// assert!(Threshold::new(0.0).is_ok() && Threshold::positive(0.0).is_err());
/// assert!(Threshold::new(1.5).is_err() && Threshold::new(f64::NAN).is_err());
/// # Ok::<(), anonlink_core::Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, PartialOrd, serde::Serialize, serde::Deserialize)]
#[serde(transparent)]
pub struct Threshold(f64);

impl Threshold {
    /// `value` as a threshold of a candidate search.
    ///
    /// # Errors
    /// [`Error::Threshold`] unless `0 <= value <= 1`.
    pub fn new(value: f64) -> Result<Threshold> {
        if (0.0..=1.0).contains(&value) {
            Ok(Threshold(value))
        } else {
            Err(Error::Threshold {
                value,
                range: "[0, 1]",
            })
        }
    }

    /// `value` as the threshold of a service run, which must be positive.
    ///
    /// # Errors
    /// [`Error::Threshold`] unless `0 < value <= 1`.
    pub fn positive(value: f64) -> Result<Threshold> {
        match Threshold::new(value) {
            Ok(t) if value > 0.0 => Ok(t),
            _ => Err(Error::Threshold {
                value,
                range: "(0, 1]",
            }),
        }
    }

    /// The score.
    pub fn get(self) -> f64 {
        self.0
    }
}

/// Settings of a candidate search.
///
/// # Examples
/// ```
/// use anonlink_core::candidates::Config;
/// let config = Config::new(0.8).with_k(10);
/// assert_eq!(config.threshold(), 0.8);
/// ```
#[derive(Clone)]
pub struct Config {
    threshold: f64,
    k: Option<usize>,
    /// Whether `k` is enforced over the merged result too (the reference's
    /// `find_candidate_pairs`), or only per row (its similarity functions).
    k_merged: bool,
    kernel: Option<Kernel>,
    progress: Option<Arc<ProgressFn>>,
    prune: bool,
}

impl std::fmt::Debug for Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Config")
            .field("threshold", &self.threshold)
            .field("k", &self.k)
            .field("kernel", &self.kernel)
            .field("progress", &self.progress.is_some())
            .field("prune", &self.prune)
            .finish()
    }
}

impl Config {
    /// Pairs with score `≥ threshold` (checked by the search: it must be in `[0, 1]`).
    pub fn new(threshold: f64) -> Self {
        Config {
            threshold,
            k: None,
            k_merged: true,
            kernel: None,
            progress: None,
            prune: true,
        }
    }

    /// Limit candidates per record to `k`, exactly as the reference library's `k`: each
    /// record of the lower-indexed dataset of a pair keeps its `k` best candidates (ties go
    /// to the lower row of the other dataset), then, in canonical order, a pair is dropped
    /// once either record has been seen in more than `k` pairs with the other dataset.
    /// `k = 0` is rejected by the search.
    pub fn with_k(mut self, k: usize) -> Self {
        self.k = Some(k);
        self
    }

    /// Limit candidates per record to `k` for the lower-indexed dataset's records only, as
    /// the reference's similarity functions (`dice_coefficient_accelerated`) do: each keeps
    /// its `k` best candidates, ties to the lower row of the other dataset.
    pub fn with_k_per_row(mut self, k: usize) -> Self {
        self.k = Some(k);
        self.k_merged = false;
        self
    }

    /// The same search at another threshold.
    pub fn with_threshold(mut self, threshold: f64) -> Self {
        self.threshold = threshold;
        self
    }

    /// The same search without top-k.
    pub fn without_top_k(mut self) -> Self {
        self.k = None;
        self
    }

    /// The progress callback, if any.
    pub fn progress(&self) -> Option<Arc<ProgressFn>> {
        self.progress.clone()
    }

    /// The kernel chosen, if any (otherwise [`Kernel::detect`]'s).
    pub fn kernel(&self) -> Option<Kernel> {
        self.kernel
    }

    /// Use this kernel instead of [`Kernel::detect`].
    pub fn with_kernel(mut self, kernel: Kernel) -> Self {
        self.kernel = Some(kernel);
        self
    }

    /// Report progress (comparisons done) to `progress`, which may also cancel the search.
    pub fn with_progress(mut self, progress: Arc<ProgressFn>) -> Self {
        self.progress = Some(progress);
        self
    }

    /// Compare every pair, without skipping records by the popcount bound. The result is
    /// the same; this exists to measure and test the pruning.
    pub fn without_pruning(mut self) -> Self {
        self.prune = false;
        self
    }

    /// The threshold.
    pub fn threshold(&self) -> f64 {
        self.threshold
    }

    /// The `k` of top-k, if set.
    pub fn k(&self) -> Option<usize> {
        self.k
    }

    /// Whether top-k is also enforced over the merged pairs (see [`Config::with_k`]), not
    /// only per row.
    pub fn is_k_merged(&self) -> bool {
        self.k_merged
    }

    pub(crate) fn validate(&self) -> Result<()> {
        Threshold::new(self.threshold)?;
        if self.k == Some(0) {
            return Err(Error::ZeroK);
        }
        Ok(())
    }
}

/// Progress reporting shared by the parallel tasks of one search.
pub(crate) struct Progress<'a> {
    callback: Option<&'a ProgressFn>,
    cancelled: AtomicBool,
}

impl<'a> Progress<'a> {
    fn new(callback: Option<&'a ProgressFn>) -> Self {
        Progress {
            callback,
            cancelled: AtomicBool::new(false),
        }
    }

    /// Reports `n` comparisons done; remembers a request to stop.
    pub(crate) fn advance(&self, n: u64) {
        if let Some(callback) = self.callback
            && n > 0
            && !callback(n)
        {
            self.cancelled.store(true, AtomicOrdering::Relaxed);
        }
    }

    pub(crate) fn is_cancelled(&self) -> bool {
        self.cancelled.load(AtomicOrdering::Relaxed)
    }
}

/// Checks the datasets fit together; returns the record size.
pub(crate) fn check_datasets(datasets: &[&Clks]) -> Result<usize> {
    if datasets.len() < 2 {
        return Err(Error::TooFewDatasets {
            got: datasets.len(),
        });
    }
    let size = datasets[0].bytes_per_record();
    for (d, clks) in datasets.iter().enumerate() {
        if clks.bytes_per_record() != size {
            return Err(Error::DatasetSizeMismatch {
                dataset: d,
                got: clks.bytes_per_record(),
                expected: size,
            });
        }
        if clks.len() > u32::MAX as usize {
            return Err(Error::DatasetTooLarge {
                dataset: d,
                len: clks.len(),
                max: u32::MAX as usize,
            });
        }
    }
    Ok(size)
}

/// Finds all candidate pairs across `datasets` (every pair `i < j`).
///
/// # Errors
/// [`Error::TooFewDatasets`], [`Error::DatasetSizeMismatch`], [`Error::Threshold`],
/// [`Error::ZeroK`], and [`Error::Cancelled`] when the progress callback asked to stop.
///
/// # Examples
/// ```
/// use anonlink_core::candidates::{find, Config};
/// use anonlink_core::encoding::Clks;
///
/// let a = Clks::from_concatenated(&[0xff, 0xff, 0, 0, 0, 0, 0, 0], 8)?;
/// let b = Clks::from_concatenated(&[0xff, 0xfe, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1], 8)?;
/// let pairs = find(&[&a, &b], &Config::new(0.9))?;
/// assert_eq!(pairs.len(), 1);
/// assert_eq!((pairs.as_slice()[0].row0, pairs.as_slice()[0].row1), (0, 0));
/// # Ok::<(), anonlink_core::Error>(())
/// ```
pub fn find(datasets: &[&Clks], config: &Config) -> Result<CandidatePairs> {
    check_datasets(datasets)?;
    config.validate()?;
    let progress = Progress::new(config.progress.as_deref());
    let kernel = config.kernel.unwrap_or_else(Kernel::detect);
    let mut all = Vec::new();
    for i in 0..datasets.len() {
        for j in i + 1..datasets.len() {
            let mut pairs = tile::compare(
                datasets[i],
                datasets[j],
                (i as u32, j as u32),
                config,
                kernel,
                &progress,
            );
            if progress.is_cancelled() {
                return Err(Error::Cancelled);
            }
            all.append(&mut pairs);
        }
    }
    let mut sorted = CandidatePairs::from_unsorted(all);
    if let (Some(k), true) = (config.k, config.k_merged) {
        top_k::enforce_k(&mut sorted.pairs, k);
    }
    Ok(sorted)
}

/// The search of [`find`], with its pairs handed to `runs` as they are found, so that memory
/// stays within the runs' budget whatever the threshold. Stream the result with
/// [`SortedRuns::into_stream`] (and apply [`EnforceK`] when `k` is set, as [`find`] does).
///
/// # Errors
/// As [`find`]; [`Error::Spill`] when the pairs cannot be written to disk.
pub fn find_into(datasets: &[&Clks], config: &Config, runs: SortedRuns) -> Result<SortedRuns> {
    find_into_keyed_from(datasets, config, runs, MIN_KEYED_COMPARISONS)
}

/// Searches of fewer comparisons write pairs: making the table of their keys would cost
/// more than it saves.
const MIN_KEYED_COMPARISONS: u64 = 1 << 24;

/// [`find_into`], writing keys ([`keys::SearchKeys`]) when the search makes at least
/// `min_keyed` comparisons, has no top-k and its keys fit.
fn find_into_keyed_from(
    datasets: &[&Clks],
    config: &Config,
    mut runs: SortedRuns,
    min_keyed: u64,
) -> Result<SortedRuns> {
    check_datasets(datasets)?;
    config.validate()?;
    let sizes: Vec<usize> = datasets.iter().map(|d| d.len()).collect();
    let comparisons = total_comparisons(&sizes);
    let keys = (config.k.is_none() && comparisons >= min_keyed)
        .then(|| keys::SearchKeys::new(datasets, config.threshold))
        .flatten()
        .filter(|keys| runs.take_keys(keys.layout()));
    let runs = SharedRuns::new(runs);
    let stopping_progress = runs.progress(config.progress.clone());
    let progress = Progress::new(Some(&stopping_progress));
    let kernel = config.kernel.unwrap_or_else(Kernel::detect);
    for i in 0..datasets.len() {
        for j in i + 1..datasets.len() {
            let (a, b, ids) = (datasets[i], datasets[j], (i as u32, j as u32));
            let push_pairs = |pairs: &mut Vec<CandidatePair>| runs.push(pairs);
            let push_keys = |keys: &mut Vec<u64>| runs.push_keys(keys);
            let sink = match &keys {
                Some(keys) => tile::Sink::Keys {
                    keys,
                    deliver: &push_keys,
                },
                None => tile::Sink::Pairs(&push_pairs),
            };
            tile::compare_each(a, b, ids, config, kernel, &progress, sink);
            runs.failure()?;
            if progress.is_cancelled() {
                return Err(Error::Cancelled);
            }
        }
    }
    Ok(runs.into_inner())
}

/// Merges candidate pairs found separately (per block or per chunk): canonical order, each
/// pair once, then the reference's top-k enforcement when `k` is given.
///
/// # Errors
/// [`Error::ZeroK`] for `k = 0`.
pub fn merge(pairs: Vec<CandidatePair>, k: Option<usize>) -> Result<CandidatePairs> {
    if k == Some(0) {
        return Err(Error::ZeroK);
    }
    let mut sorted = CandidatePairs::from_unsorted(pairs).into_vec();
    sorted.dedup_by(|x, y| {
        (x.dataset0, x.dataset1, x.row0, x.row1) == (y.dataset0, y.dataset1, y.row0, y.row1)
    });
    if let Some(k) = k {
        top_k::enforce_k(&mut sorted, k);
    }
    Ok(CandidatePairs { pairs: sorted })
}

/// A unit of comparison work: rows `ranges[0]` of dataset `datasets[0]` against rows
/// `ranges[1]` of dataset `datasets[1]`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Chunk {
    /// The two dataset indices.
    pub datasets: [u32; 2],
    /// Half-open row ranges `[start, end)` in each.
    pub ranges: [[u64; 2]; 2],
}

/// Splits the comparison of `sizes` into chunks of about `chunk_size_aim` comparisons,
/// exactly as the reference's `split_to_chunks` (same chunk boundaries, same order).
pub fn split_to_chunks(chunk_size_aim: f64, sizes: &[u64]) -> Vec<Chunk> {
    // Python's round() rounds half to even; so does this.
    let py_round = |x: f64| x.round_ties_even();
    let split = |size: u64, chunks: u64| -> Vec<[u64; 2]> {
        let width = size as f64 / chunks as f64;
        let mut points: Vec<u64> = (0..chunks)
            .map(|i| py_round(i as f64 * width) as u64)
            .collect();
        points.push(size);
        points.windows(2).map(|w| [w[0], w[1]]).collect()
    };
    let mut out = Vec::new();
    for (i0, &size0) in sizes.iter().enumerate() {
        for (i1, &size1) in sizes.iter().enumerate().skip(i0 + 1) {
            // As anonlink 0.15: a pair with an empty dataset has nothing to compare.
            if size0 == 0 || size1 == 0 {
                continue;
            }
            let chunks0 = (py_round(size0 as f64 / chunk_size_aim.sqrt()) as u64).max(1);
            let chunk_size0 = size0 as f64 / chunks0 as f64;
            let chunks1 = (py_round(size1 as f64 * chunk_size0 / chunk_size_aim) as u64).max(1);
            for r0 in split(size0, chunks0) {
                for r1 in split(size1, chunks1) {
                    out.push(Chunk {
                        datasets: [i0 as u32, i1 as u32],
                        ranges: [r0, r1],
                    });
                }
            }
        }
    }
    out
}

impl Chunk {
    /// Maps a pair found over the chunk's records (datasets 0 and 1, rows from 0) to the
    /// chunk's datasets and whole-dataset rows. Relabelling by constants keeps the
    /// canonical order.
    pub fn relabel(&self) -> impl Fn(CandidatePair) -> CandidatePair + use<> {
        let (datasets, offsets) = (
            self.datasets,
            [self.ranges[0][0] as u32, self.ranges[1][0] as u32],
        );
        move |p| CandidatePair {
            score: p.score,
            dataset0: datasets[0],
            dataset1: datasets[1],
            row0: p.row0 + offsets[0],
            row1: p.row1 + offsets[1],
        }
    }

    /// Number of comparisons the chunk makes without blocking.
    pub fn comparisons(&self) -> u64 {
        let len = |r: [u64; 2]| r[1].saturating_sub(r[0]);
        len(self.ranges[0]) * len(self.ranges[1])
    }
}

/// Finds the candidate pairs of one chunk: `records[i]` are the rows `chunk.ranges[i]` of
/// dataset `chunk.datasets[i]`, and `blocks`, when given, their block lists. The pairs carry
/// the chunk's dataset indices and whole-dataset row numbers, in canonical order, so that
/// merging the chunks of [`split_to_chunks`] gives exactly the pairs of [`find`] (or of
/// [`find_blocked`]) over the whole datasets when `k` is not set.
///
/// # Errors
/// As [`find`]; [`Error::Chunk`] when the records or block lists do not fit the chunk.
///
/// # Examples
/// ```
/// use anonlink_core::candidates::{find_chunk, Chunk, Config};
/// use anonlink_core::encoding::Clks;
///
/// // Rows 1..2 of dataset 0 against rows 0..1 of dataset 2.
/// let chunk = Chunk { datasets: [0, 2], ranges: [[1, 2], [0, 1]] };
/// let a = Clks::from_concatenated(&[0xff; 8], 8)?;
/// let b = Clks::from_concatenated(&[0xff; 8], 8)?;
/// let pairs = find_chunk(&chunk, [&a, &b], None, &Config::new(0.9))?;
/// let p = pairs.as_slice()[0];
/// assert_eq!((p.dataset0, p.dataset1, p.row0, p.row1), (0, 2, 1, 0));
/// # Ok::<(), anonlink_core::Error>(())
/// ```
pub fn find_chunk(
    chunk: &Chunk,
    records: [&Clks; 2],
    blocks: Option<[&[Vec<u64>]; 2]>,
    config: &Config,
) -> Result<CandidatePairs> {
    check_chunk(chunk, records)?;
    let local = match blocks {
        Some([b0, b1]) => find_blocked(&records, &[b0.to_vec(), b1.to_vec()], config)?,
        None => find(&records, config)?,
    };
    let relabel = chunk.relabel();
    let pairs = local.into_vec().into_iter().map(relabel).collect();
    Ok(CandidatePairs { pairs })
}

/// [`find_chunk`] without blocks, in bounded memory: the chunk's pairs go to `runs` (sorted
/// runs on disk beyond their budget) with the rows of `records`; stream them with
/// [`SortedRuns::into_stream`] and map them with [`Chunk::relabel`] to get exactly the pairs
/// of [`find_chunk`].
///
/// # Errors
/// As [`find_chunk`]; [`Error::Spill`] when the pairs cannot be written to disk.
pub fn find_chunk_into(
    chunk: &Chunk,
    records: [&Clks; 2],
    config: &Config,
    runs: SortedRuns,
) -> Result<SortedRuns> {
    check_chunk(chunk, records)?;
    find_into(&records, config, runs)
}

/// [`find_chunk`] with blocks, in bounded memory: as [`find_chunk_into`], the pairs of
/// [`find_blocked_into`] (each once, however many blocks its records share).
///
/// # Errors
/// As [`find_chunk`]; [`Error::Spill`] when the pairs cannot be written to disk.
pub fn find_chunk_blocked_into(
    chunk: &Chunk,
    records: [&Clks; 2],
    blocks: [&[Vec<u64>]; 2],
    config: &Config,
    runs: SortedRuns,
) -> Result<SortedRuns> {
    check_chunk(chunk, records)?;
    find_blocked_into(
        &records,
        &[blocks[0].to_vec(), blocks[1].to_vec()],
        config,
        runs,
    )
}

/// The records of a chunk must be its ranges' rows, of datasets in increasing order.
pub(crate) fn check_chunk(chunk: &Chunk, records: [&Clks; 2]) -> Result<()> {
    if chunk.datasets[0] >= chunk.datasets[1] {
        return Err(Error::Chunk {
            reason: format!(
                "datasets {} and {} are not in increasing order",
                chunk.datasets[0], chunk.datasets[1]
            ),
        });
    }
    for (side, (clks, range)) in records.iter().zip(chunk.ranges).enumerate() {
        let expected = range[1].checked_sub(range[0]).ok_or_else(|| Error::Chunk {
            reason: format!("side {side}: range {range:?} is reversed"),
        })?;
        if clks.len() as u64 != expected {
            return Err(Error::Chunk {
                reason: format!(
                    "side {side}: {} records for the {expected} rows of range {range:?}",
                    clks.len()
                ),
            });
        }
        if range[1] > u64::from(u32::MAX) + 1 {
            return Err(Error::Chunk {
                reason: format!("side {side}: range {range:?} goes beyond 32-bit row numbers"),
            });
        }
    }
    Ok(())
}

/// Total number of comparisons an unblocked search of these datasets makes.
pub fn total_comparisons(sizes: &[usize]) -> u64 {
    let mut total = 0u64;
    for i in 0..sizes.len() {
        for j in i + 1..sizes.len() {
            total += sizes[i] as u64 * sizes[j] as u64;
        }
    }
    total
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{naive_candidates, random_clks, related_clks, related_datasets};
    use proptest::prelude::*;

    #[test]
    fn chunks_cover_every_pair_once() {
        for sizes in [
            vec![10u64, 7],
            vec![1000, 1],
            vec![0, 5, 9],
            vec![300_000, 20_000],
        ] {
            let chunks = split_to_chunks(1e4, &sizes);
            let mut covered = 0u64;
            for c in &chunks {
                covered += (c.ranges[0][1] - c.ranges[0][0]) * (c.ranges[1][1] - c.ranges[1][0]);
            }
            let expected: u64 =
                total_comparisons(&sizes.iter().map(|&s| s as usize).collect::<Vec<_>>());
            assert_eq!(covered, expected, "{sizes:?}");
        }
        // 25 / sqrt(100) = 2.5 rounds to 2 (half to even, as Python), then 10 · 12.5 / 100
        // = 1.25 rounds to 1: two chunks, split at 12 (round(12.5) = 12).
        let chunks = split_to_chunks(100.0, &[25, 10]);
        assert_eq!(chunks.len(), 2);
        assert_eq!(chunks[0].ranges, [[0, 12], [0, 10]]);
    }

    #[test]
    fn merge_dedups_and_enforces_k() {
        let p = |score, r0, r1| CandidatePair {
            score,
            dataset0: 0,
            dataset1: 1,
            row0: r0,
            row1: r1,
        };
        let merged = merge(
            vec![p(0.5, 0, 0), p(0.9, 0, 1), p(0.5, 0, 0), p(0.8, 1, 1)],
            Some(1),
        )
        .unwrap();
        assert_eq!(merged.as_slice(), &[p(0.9, 0, 1)]);
        let merged = merge(vec![p(0.5, 0, 0), p(0.9, 0, 1), p(0.5, 0, 0)], None).unwrap();
        assert_eq!(merged.len(), 2);
    }

    fn keys(pairs: &CandidatePairs) -> Vec<(u64, u32, u32, u32, u32)> {
        pairs
            .iter()
            .map(|p| (p.score.to_bits(), p.dataset0, p.dataset1, p.row0, p.row1))
            .collect()
    }

    #[test]
    fn rejects_bad_config_and_inputs() {
        let a = random_clks(3, 16, 1);
        let b = random_clks(3, 8, 2);
        assert!(matches!(
            find(&[&a], &Config::new(0.5)),
            Err(Error::TooFewDatasets { got: 1 })
        ));
        assert!(matches!(
            find(&[&a, &b], &Config::new(0.5)),
            Err(Error::DatasetSizeMismatch { dataset: 1, .. })
        ));
        for t in [-0.1, 1.1, f64::NAN] {
            assert!(matches!(
                find(&[&a, &a], &Config::new(t)),
                Err(Error::Threshold { .. })
            ));
        }
        assert!(matches!(
            find(&[&a, &a], &Config::new(0.5).with_k(0)),
            Err(Error::ZeroK)
        ));
    }

    #[test]
    fn progress_counts_every_comparison_and_can_cancel() {
        let a = random_clks(300, 128, 1);
        let b = random_clks(200, 128, 2);
        let c = random_clks(100, 128, 3);
        let done = Arc::new(std::sync::atomic::AtomicU64::new(0));
        let seen = done.clone();
        let config = Config::new(0.7).with_progress(Arc::new(move |n| {
            seen.fetch_add(n, AtomicOrdering::Relaxed);
            true
        }));
        find(&[&a, &b, &c], &config).unwrap();
        assert_eq!(
            done.load(AtomicOrdering::Relaxed),
            total_comparisons(&[300, 200, 100])
        );
        let config = Config::new(0.7).with_progress(Arc::new(|_| false));
        assert!(matches!(find(&[&a, &b], &config), Err(Error::Cancelled)));
    }

    #[test]
    fn zero_bit_records_never_match() {
        let zeros = Clks::from_concatenated(&[0u8; 32], 16).unwrap();
        let pairs = find(&[&zeros, &zeros], &Config::new(0.0)).unwrap();
        assert!(pairs.is_empty());
    }

    fn rows(clks: &Clks, range: [u64; 2]) -> Clks {
        let rows: Vec<u32> = (range[0] as u32..range[1] as u32).collect();
        clks.select(&rows)
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(32))]

        #[test]
        fn merged_chunks_equal_whole_search(
            sizes in proptest::collection::vec(0usize..50, 2..5),
            seed in any::<u64>(),
            aim in 1.0f64..400.0,
            t in 0.4f64..0.9,
            blocked in any::<bool>(),
        ) {
            let datasets = related_datasets(&sizes, 16, seed);
            let refs: Vec<&Clks> = datasets.iter().collect();
            let blocks: Vec<Vec<Vec<u64>>> = sizes
                .iter()
                .map(|&n| (0..n as u64).map(|r| vec![(r ^ seed) % 3]).collect())
                .collect();
            let config = Config::new(t);
            let whole = if blocked {
                find_blocked(&refs, &blocks, &config).unwrap()
            } else {
                find(&refs, &config).unwrap()
            };
            let sizes64: Vec<u64> = sizes.iter().map(|&n| n as u64).collect();
            let chunks = split_to_chunks(aim, &sizes64);
            let covered: u64 = chunks.iter().map(Chunk::comparisons).sum();
            prop_assert_eq!(covered, total_comparisons(&sizes));
            let mut all = Vec::new();
            for chunk in &chunks {
                let [d0, d1] = chunk.datasets.map(|d| d as usize);
                let a = rows(&datasets[d0], chunk.ranges[0]);
                let b = rows(&datasets[d1], chunk.ranges[1]);
                let slice = |d: usize, r: [u64; 2]| &blocks[d][r[0] as usize..r[1] as usize];
                let chunk_blocks =
                    blocked.then(|| [slice(d0, chunk.ranges[0]), slice(d1, chunk.ranges[1])]);
                let found = find_chunk(chunk, [&a, &b], chunk_blocks, &config).unwrap();
                all.extend(found.into_vec());
            }
            prop_assert_eq!(merge(all, None).unwrap(), whole);
        }
    }

    #[test]
    fn chunk_rejects_records_that_do_not_fit() {
        let a = related_clks(3, 16, 1, 0);
        let chunk = Chunk {
            datasets: [0, 1],
            ranges: [[0, 3], [2, 4]],
        };
        let err = find_chunk(&chunk, [&a, &a], None, &Config::new(0.5)).unwrap_err();
        assert!(
            err.to_string().contains("side 1: 3 records for the 2 rows"),
            "{err}"
        );
        let backwards = Chunk {
            datasets: [1, 0],
            ranges: [[0, 3], [0, 3]],
        };
        let err = find_chunk(&backwards, [&a, &a], None, &Config::new(0.5)).unwrap_err();
        assert!(err.to_string().contains("increasing order"), "{err}");
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(48))]

        #[test]
        fn equals_naive_for_every_kernel(
            sizes in proptest::collection::vec(0usize..70, 2..4),
            words in 1usize..6,
            seed in any::<u64>(),
            t in prop_oneof![Just(0.5), Just(0.75), Just(0.8), Just(2.0/3.0), 0.3f64..1.0],
            k in prop_oneof![Just(None), (1usize..4).prop_map(Some)],
        ) {
            let datasets = related_datasets(&sizes, words * 8, seed);
            let refs: Vec<&Clks> = datasets.iter().collect();
            let expected = naive_candidates(&refs, t, k);
            for kernel in Kernel::available() {
                for prune in [true, false] {
                    let mut config = Config::new(t).with_kernel(kernel);
                    if let Some(k) = k {
                        config = config.with_k(k);
                    }
                    if !prune {
                        config = config.without_pruning();
                    }
                    let got = find(&refs, &config).unwrap();
                    prop_assert_eq!(keys(&got), keys(&expected), "kernel {} prune {}", kernel.name(), prune);
                }
            }
            // Swapping two datasets swaps their indices and nothing else.
            if k.is_none() {
                let swapped = find(&[refs[1], refs[0]], &Config::new(t)).unwrap();
                let mut back: Vec<_> = swapped
                    .iter()
                    .map(|p| (p.score.to_bits(), 0u32, 1u32, p.row1, p.row0))
                    .collect();
                back.sort_by(|x, y| f64::from_bits(y.0).total_cmp(&f64::from_bits(x.0)).then((x.1, x.2, x.3, x.4).cmp(&(y.1, y.2, y.3, y.4))));
                let direct = find(&[refs[0], refs[1]], &Config::new(t)).unwrap();
                prop_assert_eq!(back, keys(&direct));
            }
        }
    }
}
