//! Candidates in bounded memory: sorted runs kept in memory up to a budget, spilled to a
//! temporary directory beyond it, and merged back into one canonical stream.
//!
//! The search hands its pairs over in batches ([`SortedRuns::push`]); when the buffered
//! pairs pass the budget they are sorted and written as one run (anonlink's candidate-file
//! format, 24 bytes a pair). [`SortedRuns::into_stream`] merges the runs and what is left in
//! memory (k-way, streaming), so the consumer sees exactly the pairs, in exactly the order,
//! that the in-memory search gives. The directory and its files are removed when the stream
//! (or the runs) are dropped: on success, on error, and on unwinding.

use std::fs::File;
use std::io::{BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};

use super::file::HEADER_LEN;
use super::sort::{KeyLayout, SortedRun, sort_key_run};
use super::{CandidatePair, merge_sorted, write_file, write_stream};
use crate::error::{Error, Result};
use crate::pages::Words;

/// How much memory the candidates of a linkage may take before they go to disk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemoryBudget {
    /// Bytes of buffered pairs before a run is written.
    pub bytes: usize,
    /// Where the temporary directory is made (the system's temporary directory if `None`).
    pub dir: Option<PathBuf>,
}

impl Default for MemoryBudget {
    /// 1 GiB in the system's temporary directory.
    fn default() -> Self {
        MemoryBudget {
            bytes: 1 << 30,
            dir: None,
        }
    }
}

impl MemoryBudget {
    /// A budget of `bytes`.
    pub fn bytes(bytes: usize) -> Self {
        MemoryBudget { bytes, dir: None }
    }

    /// Pairs buffered before a run is written (at least one).
    fn pairs(&self) -> usize {
        (self.bytes / std::mem::size_of::<CandidatePair>()).max(1)
    }

    /// Keys buffered before a run is written (at least one): a key and its share of the
    /// sort's scratch space.
    fn keys(&self) -> usize {
        (self.bytes / (2 * std::mem::size_of::<u64>())).max(1)
    }
}

/// Candidate pairs gathered as sorted runs, in memory up to a budget and on disk beyond it.
pub struct SortedRuns {
    budget: MemoryBudget,
    buffer: Vec<CandidatePair>,
    /// Keys written by the search ([`SortedRuns::take_keys`]), with the layout they
    /// decode by; then `buffer` stays empty.
    keys: Words,
    key_layout: Option<KeyLayout>,
    dir: Option<tempfile::TempDir>,
    runs: Vec<PathBuf>,
    /// Pairs written to disk.
    spilled: u64,
    /// Pairs in all.
    len: u64,
}

impl std::fmt::Debug for SortedRuns {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SortedRuns")
            .field("len", &self.len)
            .field("runs", &self.runs.len())
            .field("spilled", &self.spilled)
            .finish_non_exhaustive()
    }
}

/// Sorted runs that the threads of one search push to: the first failure to write a run
/// is kept, and stops the search through [`SharedRuns::progress`] as a cancellation would.
pub(crate) struct SharedRuns {
    runs: std::sync::Mutex<(SortedRuns, Option<Error>)>,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

impl SharedRuns {
    pub(crate) fn new(runs: SortedRuns) -> Self {
        SharedRuns {
            runs: std::sync::Mutex::new((runs, None)),
            stop: Default::default(),
        }
    }

    /// `user`'s progress callback, answering "stop" also once a push has failed.
    pub(crate) fn progress(
        &self,
        user: Option<std::sync::Arc<super::ProgressFn>>,
    ) -> impl Fn(u64) -> bool + Send + Sync + 'static {
        let stop = self.stop.clone();
        move |n| {
            !stop.load(std::sync::atomic::Ordering::Relaxed) && user.as_ref().is_none_or(|f| f(n))
        }
    }

    /// Adds pairs from any thread; after a failure, drops them.
    pub(crate) fn push(&self, pairs: &mut Vec<CandidatePair>) {
        self.add(|runs| runs.push(pairs));
    }

    /// Adds keys from any thread; after a failure, drops them.
    pub(crate) fn push_keys(&self, keys: &mut Vec<u64>) {
        self.add(|runs| runs.push_keys(keys));
    }

    /// Runs `add` on the runs unless a push failed before; keeps its failure and stops
    /// the search.
    fn add(&self, add: impl FnOnce(&mut SortedRuns) -> Result<()>) {
        let mut guard = self.runs.lock().unwrap_or_else(|p| p.into_inner());
        let (runs, failed) = &mut *guard;
        if failed.is_none()
            && let Err(e) = add(runs)
        {
            *failed = Some(e);
            self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        }
    }

    /// The failure to write a run, if one happened.
    pub(crate) fn failure(&self) -> Result<()> {
        let (_, failed) = &mut *self.runs.lock().unwrap_or_else(|p| p.into_inner());
        failed.take().map_or(Ok(()), Err)
    }

    pub(crate) fn into_inner(self) -> SortedRuns {
        self.runs.into_inner().unwrap_or_else(|p| p.into_inner()).0
    }
}

impl SortedRuns {
    /// No pairs yet, under `budget`.
    pub fn new(budget: MemoryBudget) -> SortedRuns {
        SortedRuns {
            budget,
            buffer: Vec::new(),
            keys: Words::default(),
            key_layout: None,
            dir: None,
            runs: Vec::new(),
            spilled: 0,
            len: 0,
        }
    }

    /// Number of pairs pushed.
    pub fn len(&self) -> u64 {
        self.len
    }

    /// True when no pair was pushed.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Number of runs written to disk so far.
    pub fn runs_on_disk(&self) -> usize {
        self.runs.len()
    }

    /// Bytes written to disk so far.
    pub fn bytes_on_disk(&self) -> u64 {
        self.spilled * super::BYTES_PER_CANDIDATE + self.runs.len() as u64 * HEADER_LEN as u64
    }

    /// Adds pairs (in any order).
    ///
    /// # Errors
    /// Writing a run failed ([`Error::Spill`], naming the directory: typically a full disk).
    ///
    /// # Panics
    /// When a search already writes keys to these runs (it gives pairs or keys, not both).
    pub fn push(&mut self, pairs: &mut Vec<CandidatePair>) -> Result<()> {
        assert!(self.key_layout.is_none(), "these runs take keys");
        self.len += pairs.len() as u64;
        append_within(&mut self.buffer, pairs, self.budget.pairs());
        if self.buffer.len() >= self.budget.pairs() {
            self.spill()?;
        }
        Ok(())
    }

    /// From now on, takes the candidates as keys of `layout` ([`SortedRuns::push_keys`])
    /// instead of pairs: true, unless pairs were pushed already.
    pub(crate) fn take_keys(&mut self, layout: &KeyLayout) -> bool {
        if !self.is_empty() || self.key_layout.is_some() {
            return false;
        }
        self.key_layout = Some(layout.clone());
        // The most a run holds, reserved as address space (backed as it fills), so that
        // the keys never move and sit on huge pages.
        self.keys = Words::with_capacity(self.budget.keys().saturating_add(1 << 16));
        true
    }

    /// Adds keys (in any order) of the layout given to [`SortedRuns::take_keys`].
    fn push_keys(&mut self, keys: &mut Vec<u64>) -> Result<()> {
        self.len += keys.len() as u64;
        self.keys.extend_from_slice(keys);
        keys.clear();
        if self.keys.len() >= self.budget.keys() {
            self.spill()?;
        }
        Ok(())
    }

    /// Sorts the buffer (of pairs or of keys) and writes it as a run.
    fn spill(&mut self) -> Result<()> {
        let dir = match &self.dir {
            Some(dir) => dir.path().to_path_buf(),
            None => {
                let made = match &self.budget.dir {
                    Some(base) => tempfile::Builder::new()
                        .prefix("anonlink-candidates-")
                        .tempdir_in(base),
                    None => tempfile::Builder::new()
                        .prefix("anonlink-candidates-")
                        .tempdir(),
                };
                let made = made.map_err(|e| spill_error(self.budget.dir.as_deref(), e))?;
                let path = made.path().to_path_buf();
                self.dir = Some(made);
                path
            }
        };
        let path = dir.join(format!("run-{:06}", self.runs.len()));
        let n = match &self.key_layout {
            Some(layout) => {
                sort_key_run(&mut self.keys, layout.bits());
                let pairs = self.keys.iter().map(|&k| Ok(layout.pair(k)));
                write_run(&path, |out| write_stream(pairs, out).map(|_| ()))
                    .map_err(|e| spill_error(Some(&dir), e))?;
                let n = self.keys.len();
                self.keys.clear();
                n
            }
            None => {
                super::sort::sort_canonical(&mut self.buffer);
                write_run(&path, |out| write_file(&self.buffer, out))
                    .map_err(|e| spill_error(Some(&dir), e))?;
                let n = self.buffer.len();
                self.buffer.clear();
                self.buffer.shrink_to(self.budget.pairs());
                n
            }
        };
        self.spilled += n as u64;
        self.runs.push(path);
        Ok(())
    }

    /// Every pair, in canonical order, as a stream.
    ///
    /// # Errors
    /// A run cannot be opened.
    pub fn into_stream(mut self) -> Result<CandidateStream> {
        let memory = match self.key_layout.take() {
            Some(layout) => SortedRun::from_keys(std::mem::take(&mut self.keys), layout),
            None => SortedRun::sort(std::mem::take(&mut self.buffer)),
        };
        if self.runs.is_empty() {
            return Ok(CandidateStream {
                len: self.len,
                source: Source::Memory(memory),
                _dir: None,
            });
        }
        let mut inputs: Vec<Box<dyn std::io::Read + Send>> =
            Vec::with_capacity(self.runs.len() + 1);
        for path in &self.runs {
            let file = File::open(path).map_err(|e| spill_error(Some(path), e))?;
            inputs.push(Box::new(BufReader::with_capacity(1 << 16, file)));
        }
        // The pairs still in memory merge from their sorted buffer, without a copy.
        if memory.size_hint().0 > 0 {
            inputs.push(Box::new(super::file::StreamAsFile::new(memory.map(Ok))));
        }
        let merged = merge_sorted(inputs)?;
        Ok(CandidateStream {
            len: self.len,
            source: Source::Merged(Box::new(merged)),
            _dir: self.dir.take(),
        })
    }
}

/// Appends `more` to `buffer`, which grows to `budget` items, then exactly: grown by
/// doubling, it would briefly hold its old and its new copy (one and a half budgets) and
/// keep twice what it needs. A first batch of a whole budget is taken as it is.
fn append_within<T>(buffer: &mut Vec<T>, more: &mut Vec<T>, budget: usize) {
    if buffer.is_empty() && more.len() >= budget {
        std::mem::swap(buffer, more);
        return;
    }
    let wanted = buffer.len() + more.len();
    if wanted > buffer.capacity() {
        let target = (buffer.capacity() * 2).clamp(wanted, wanted.max(budget));
        buffer.reserve_exact(target - buffer.len());
    }
    buffer.append(more);
}

/// Writes a run file at `path` with `write`; a file left half written is removed.
fn write_run(
    path: &Path,
    write: impl FnOnce(&mut BufWriter<File>) -> Result<()>,
) -> std::io::Result<()> {
    let written = (|| -> std::io::Result<()> {
        let mut out = BufWriter::with_capacity(1 << 20, File::create(path)?);
        write(&mut out).map_err(|e| match e {
            Error::Io(e) => e,
            other => std::io::Error::other(other.to_string()),
        })?;
        out.flush()?;
        Ok(())
    })();
    if written.is_err() {
        let _ = std::fs::remove_file(path);
    }
    written
}

/// The error of a run that could not be written or read: which directory, and why.
fn spill_error(dir: Option<&Path>, e: std::io::Error) -> Error {
    let place = dir.map_or_else(
        || std::env::temp_dir().display().to_string(),
        |d| d.display().to_string(),
    );
    Error::Spill {
        dir: place,
        reason: e.to_string(),
    }
}

enum Source {
    Memory(SortedRun),
    Merged(Box<super::MergedPairs<Box<dyn std::io::Read + Send>>>),
}

/// Candidate pairs in canonical order, from memory or merged from runs on disk; the
/// temporary directory goes when this is dropped.
pub struct CandidateStream {
    len: u64,
    source: Source,
    _dir: Option<tempfile::TempDir>,
}

impl std::fmt::Debug for CandidateStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CandidateStream")
            .field("len", &self.len)
            .finish_non_exhaustive()
    }
}

impl CandidateStream {
    /// Number of pairs in the stream (from its start).
    pub fn len(&self) -> u64 {
        self.len
    }

    /// True when the stream holds no pair.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

impl Iterator for CandidateStream {
    type Item = Result<CandidatePair>;

    #[inline]
    fn next(&mut self) -> Option<Self::Item> {
        match &mut self.source {
            Source::Memory(pairs) => pairs.next().map(Ok),
            Source::Merged(merged) => merged.next(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::candidates::{CandidatePairs, Config, find};
    use crate::synthetic::synthetic_pair;

    fn shuffled(n: u32) -> Vec<CandidatePair> {
        (0..n)
            .map(|i| {
                let x = u64::from(i).wrapping_mul(0x9e37_79b9_7f4a_7c15);
                CandidatePair {
                    score: 0.5 + (x >> 54) as f64 / 2048.0,
                    dataset0: (x % 3) as u32,
                    dataset1: 3,
                    row0: (x >> 20) as u32 % 1000,
                    row1: i,
                }
            })
            .collect()
    }

    #[test]
    fn spilled_and_in_memory_runs_give_the_same_stream() {
        // 10K pairs sort by comparison; 120K by the radix sort, which keeps the run in
        // memory as keys (with 24 × 100K, merged with a run on disk).
        for (n, budget) in [
            (10_000, usize::MAX / 2),
            (10_000, 24 * 4096),
            (10_000, 24 * 100),
            (10_000, 24 * 7),
            (10_000, 1),
            (120_000, usize::MAX / 2),
            (160_000, 24 * 100_000),
        ] {
            let pairs = shuffled(n);
            let expected = CandidatePairs::from_unsorted(pairs.clone()).into_vec();
            let mut runs = SortedRuns::new(MemoryBudget::bytes(budget));
            for batch in pairs.chunks(333) {
                runs.push(&mut batch.to_vec()).unwrap();
            }
            assert_eq!(runs.len(), n as u64);
            let spilled = runs.runs_on_disk();
            let dir = runs.dir.as_ref().map(|d| d.path().to_path_buf());
            let stream = runs.into_stream().unwrap();
            assert_eq!(stream.len(), n as u64);
            let got: Vec<CandidatePair> = stream.map(Result::unwrap).collect();
            assert_eq!(got, expected, "{n} pairs, budget {budget} ({spilled} runs)");
            if let Some(dir) = dir {
                assert!(!dir.exists(), "the temporary directory is removed");
            }
        }
    }

    #[test]
    fn the_directory_goes_when_the_stream_is_dropped_early() {
        let mut runs = SortedRuns::new(MemoryBudget::bytes(24 * 10));
        runs.push(&mut shuffled(1000)).unwrap();
        let dir = runs.dir.as_ref().unwrap().path().to_path_buf();
        assert!(dir.exists() && runs.bytes_on_disk() > 0);
        let mut stream = runs.into_stream().unwrap();
        stream.next().unwrap().unwrap();
        drop(stream);
        assert!(!dir.exists());
        // And when the runs are dropped without being streamed.
        let mut runs = SortedRuns::new(MemoryBudget::bytes(24 * 10));
        runs.push(&mut shuffled(1000)).unwrap();
        let dir = runs.dir.as_ref().unwrap().path().to_path_buf();
        drop(runs);
        assert!(!dir.exists());
    }

    #[test]
    fn a_directory_that_cannot_be_written_is_a_clear_error() {
        let mut runs = SortedRuns::new(MemoryBudget {
            bytes: 24,
            dir: Some(PathBuf::from("/proc/anonlink-cannot-write-here")),
        });
        let err = runs.push(&mut shuffled(10)).unwrap_err().to_string();
        assert!(err.contains("/proc/anonlink-cannot-write-here"), "{err}");
    }

    #[test]
    fn a_search_spilled_equals_the_search_in_memory() {
        let (a, b) = synthetic_pair(3_000, 3_000, 0.5, 4);
        let config = Config::new(0.72);
        let expected = find(&[&a, &b], &config).unwrap().into_vec();
        assert!(expected.len() > 10_000, "{}", expected.len());
        let runs = super::super::find_into(
            &[&a, &b],
            &config,
            SortedRuns::new(MemoryBudget::bytes(24 * 5_000)),
        )
        .unwrap();
        assert!(runs.runs_on_disk() > 1);
        let got: Vec<CandidatePair> = runs.into_stream().unwrap().map(Result::unwrap).collect();
        assert_eq!(got, expected);
    }

    #[test]
    fn a_search_writing_keys_equals_the_search_writing_pairs() {
        use crate::encoding::Clks;
        let (a, b) = synthetic_pair(2_000, 1_500, 0.5, 9);
        let (c, _) = synthetic_pair(700, 10, 0.5, 10);
        let (small_a, small_b) = synthetic_pair(300, 200, 0.5, 11);
        let two: Vec<&Clks> = vec![&a, &b];
        let three: Vec<&Clks> = vec![&a, &b, &c];
        let small: Vec<&Clks> = vec![&small_a, &small_b];
        let cases: [(&[&Clks], f64); 7] = [
            (&two, 0.72),
            (&two, 0.5),
            (&two, 0.9),
            (&two, 1.0),
            (&three, 0.7),
            (&small, 0.0),
            (&small, 0.61),
        ];
        for (datasets, t) in cases {
            let config = Config::new(t);
            let search = |min_keyed, budget| {
                let runs = super::super::find_into_keyed_from(
                    datasets,
                    &config,
                    SortedRuns::new(MemoryBudget::bytes(budget)),
                    min_keyed,
                )
                .unwrap();
                let keyed = runs.key_layout.is_some();
                let on_disk = runs.runs_on_disk();
                let pairs: Vec<CandidatePair> =
                    runs.into_stream().unwrap().map(Result::unwrap).collect();
                (pairs, keyed, on_disk)
            };
            let (expected, keyed, _) = search(u64::MAX, usize::MAX / 2);
            assert!(!keyed);
            assert!(!expected.is_empty() || t == 1.0, "t {t}");
            // Unbounded (keys in a vector), the default (in a mapping), and tiny.
            for budget in [usize::MAX / 2, 1 << 30, 16 * 3_000, 16 * 97] {
                let (got, keyed, on_disk) = search(0, budget);
                assert!(keyed, "t {t}: the search writes keys");
                if expected.len() >= budget / 16 {
                    assert!(on_disk > 0, "t {t}, budget {budget}: runs on disk");
                }
                assert_eq!(got, expected, "t {t}, budget {budget}, {on_disk} runs");
            }
        }
    }
}
