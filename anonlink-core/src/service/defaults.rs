//! The service's default settings, defined once: the HTTP shell's configuration and the
//! command line's flags both start from these.

/// Largest request body in bytes: 1M records of 1024 bytes as base64 JSON is about 1.4 GB.
pub const MAX_REQUEST_BYTES: usize = 2 << 30;

/// A run that finds more candidate pairs fails with a clear message (the reference's
/// `SOLVER_MAX_CANDIDATE_PAIRS`).
pub const MAX_CANDIDATE_PAIRS: u64 = 100_000_000;

/// The candidate limit of runs whose solve streams the merged candidates with state per
/// record only — similarity scores, two-party greedy, the Bayes solver — where candidates
/// cost disk, not memory. The command line raises it to what the data directory's disk
/// holds ([`streamed_candidate_limit`]).
pub const MAX_STREAMED_CANDIDATE_PAIRS: u64 = 2_000_000_000;

/// Disk a streamed run's candidate takes at most: its chunk file, its share of the sorted
/// runs while a chunk is compared, and a similarity score in the result document.
pub const DISK_BYTES_PER_STREAMED_CANDIDATE: u64 = 96;

/// The streamed-run candidate limit for `free_bytes` of disk: what fits, and never below
/// the limit of the other runs.
pub fn streamed_candidate_limit(free_bytes: u64) -> u64 {
    (free_bytes / DISK_BYTES_PER_STREAMED_CANDIDATE).max(MAX_CANDIDATE_PAIRS)
}

/// Bytes a worker holds of a chunk's candidate pairs before it sorts them into runs on
/// disk (a chunk at a low threshold then takes disk, not memory).
pub const CHUNK_MEMORY_BYTES: usize = 1 << 30;

/// Workers per process: chunks computed at the same time, each using every core.
pub const WORKERS: usize = 1;

/// Seconds a worker's claim on a chunk or run lasts without renewal.
pub const LEASE_SECONDS: u64 = 30;

/// Target comparisons per chunk: about a second of work for one 2-core worker, so runs
/// are shared between workers and report progress, while the per-chunk overhead (loading
/// rows, storing candidates) stays below 1%.
pub const CHUNK_COMPARISONS: u64 = 2_000_000_000;

/// Attempts at a chunk (or at solving a run) before a storage failure fails the run.
pub const MAX_ATTEMPTS: u32 = 3;

/// Most parties a project may have: far above any real linkage, low enough that creating
/// a project stays cheap for an unauthenticated client.
pub const MAX_PARTIES: u32 = 100;

/// Milliseconds between a worker's progress reports (each renews its lease).
pub const REPORT_EVERY_MILLIS: u64 = 400;
