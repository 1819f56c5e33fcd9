//! Chunks of a run: the run's comparison space split into party pair × row range pieces
//! (see [`crate::candidates::split_to_chunks`]), each computed by whichever worker claims it.
//!
//! A chunk is `pending` until a worker claims it under a lease, `running` while that worker
//! renews the lease, and `done` once its sorted candidate file is stored and recorded. A
//! worker that dies loses only its lease: the chunk becomes claimable again when the lease
//! lapses, and only the worker holding the lease can mark it done, so each chunk's
//! comparisons and candidates count once.

use super::Timestamp;
use super::run::Lease;
use crate::candidates::Chunk;

/// Where a chunk stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ChunkState {
    /// Waiting for a worker.
    Pending,
    /// A worker holds it under a lease.
    Running,
    /// Its candidates are stored.
    Done,
}

impl ChunkState {
    /// The name stored beside the record, for queries.
    pub fn as_str(&self) -> &'static str {
        match self {
            ChunkState::Pending => "pending",
            ChunkState::Running => "running",
            ChunkState::Done => "done",
        }
    }
}

/// One chunk of a run, as stored.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct RunChunk {
    /// Its run.
    run_id: String,
    /// Position in the run's plan, from 0.
    index: u32,
    /// The comparisons it makes.
    work: Chunk,
    /// Where it stands.
    state: ChunkState,
    /// The worker holding it, while running.
    lease: Option<Lease>,
    /// How many times a worker claimed it.
    attempts: u32,
    /// Comparisons made: the most any attempt reported while running, all of them once
    /// done.
    comparisons_done: u64,
    /// Candidate pairs found, once done.
    candidates: u64,
    /// The blob holding its sorted candidate file, once done.
    blob: Option<String>,
}

impl RunChunk {
    /// A pending chunk.
    pub fn new(run_id: &str, index: u32, work: Chunk) -> RunChunk {
        RunChunk {
            run_id: run_id.to_string(),
            index,
            work,
            state: ChunkState::Pending,
            lease: None,
            attempts: 0,
            comparisons_done: 0,
            candidates: 0,
            blob: None,
        }
    }

    /// Its run's id.
    pub fn run_id(&self) -> &str {
        &self.run_id
    }

    /// Position in the run's plan, from 0.
    pub fn index(&self) -> u32 {
        self.index
    }

    /// The comparisons it makes.
    pub fn work(&self) -> &Chunk {
        &self.work
    }

    /// Where it stands.
    pub fn state(&self) -> ChunkState {
        self.state
    }

    /// The claim of the worker holding it, while running.
    pub fn lease(&self) -> Option<&Lease> {
        self.lease.as_ref()
    }

    /// How many times a worker claimed it.
    pub fn attempts(&self) -> u32 {
        self.attempts
    }

    /// Comparisons made: the most any attempt reported while running, all once done.
    pub fn comparisons_done(&self) -> u64 {
        self.comparisons_done
    }

    /// Candidate pairs found, once done.
    pub fn candidates(&self) -> u64 {
        self.candidates
    }

    /// The blob holding its sorted candidate file, once done.
    pub fn blob(&self) -> Option<&str> {
        self.blob.as_deref()
    }

    /// Whether a worker may claim it at `now`: pending, or running under a lapsed lease.
    pub fn is_claimable(&self, now: Timestamp) -> bool {
        match self.state {
            ChunkState::Pending => true,
            ChunkState::Running => self.lease.as_ref().is_none_or(|l| l.expires <= now),
            ChunkState::Done => false,
        }
    }

    /// When its lease lapses (`None` unless running under a lease), for queries.
    pub fn lease_expires(&self) -> Option<Timestamp> {
        match self.state {
            ChunkState::Running => self.lease.as_ref().map(|l| l.expires),
            _ => None,
        }
    }

    /// `holder` takes it. Reported progress is kept (and only raised by later reports), so
    /// the run's progress never goes back when a chunk is computed again.
    pub fn claim(&mut self, holder: &str, now: Timestamp, lease_micros: i64) {
        self.state = ChunkState::Running;
        self.lease = Some(Lease {
            holder: holder.to_string(),
            expires: now.plus_micros(lease_micros),
        });
        self.attempts += 1;
    }

    /// Whether `holder` still holds it (even under a lapsed lease nobody took over).
    pub fn held_by(&self, holder: &str) -> bool {
        self.state == ChunkState::Running && self.lease.as_ref().is_some_and(|l| l.holder == holder)
    }

    /// Its holder reports `comparisons_done` so far and keeps it until `expires`. Progress
    /// only goes up.
    pub fn renew(&mut self, comparisons_done: u64, expires: Timestamp) {
        self.comparisons_done = self.comparisons_done.max(comparisons_done);
        if let Some(lease) = self.lease.as_mut() {
            lease.expires = expires;
        }
    }

    /// Nobody holds it any more: pending again, for any worker. Returns whether it was
    /// running.
    pub fn release(&mut self) -> bool {
        if self.state != ChunkState::Running {
            return false;
        }
        self.state = ChunkState::Pending;
        self.lease = None;
        true
    }

    /// Records its stored candidates.
    pub fn finish(&mut self, candidates: u64, blob: String) {
        self.state = ChunkState::Done;
        self.lease = None;
        self.comparisons_done = self.work.comparisons();
        self.candidates = candidates;
        self.blob = Some(blob);
    }
}

/// Comparisons made so far over a run's chunks: all of each done chunk, and the most that
/// any attempt at the others reported.
pub fn comparisons_done(chunks: &[RunChunk]) -> u64 {
    chunks
        .iter()
        .map(|c| c.comparisons_done.min(c.work.comparisons()))
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lifecycle() {
        let work = Chunk {
            datasets: [0, 1],
            ranges: [[0, 10], [5, 9]],
        };
        let mut c = RunChunk::new("r", 0, work);
        let now = Timestamp(1_000);
        assert!(c.is_claimable(now));
        assert_eq!(c.lease_expires(), None);
        c.claim("w1", now, 10);
        assert!(c.held_by("w1") && !c.held_by("w2"));
        assert!(!c.is_claimable(now));
        assert!(c.is_claimable(now.plus_micros(10)));
        assert_eq!(c.lease_expires(), Some(Timestamp(1_010)));
        c.renew(12, now.plus_micros(10));
        c.renew(5, now.plus_micros(10));
        let pending = RunChunk::new("r", 1, c.work.clone());
        assert_eq!(comparisons_done(&[c.clone(), pending.clone()]), 12);
        c.finish(3, "blob".into());
        assert!(!c.held_by("w1") && !c.is_claimable(now.plus_micros(100)));
        assert!(!c.release(), "a done chunk stays done");
        assert_eq!(comparisons_done(&[c, pending]), 40);
    }
}
