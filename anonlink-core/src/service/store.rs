//! Storage traits: metadata in transactions; encodings, candidate files and results as
//! durable blobs.
//!
//! The traits are synchronous: the service calls them from blocking threads. A backend
//! implements [`MetadataStore::transact`] (all reads and writes of one closure commit
//! together, or none do) and [`BlobStore`] (a blob is durable once `put` returns). The
//! domain rules live in [`Project`], [`Run`] and [`super::queue`], written once over the
//! traits.

use std::io::Read;

use super::Timestamp;
use super::chunk::RunChunk;
use super::project::Project;
use super::run::{Run, RunState};
use super::token::{Token, TokenHash};

/// A storage failure (the database or the file system), with what was being done.
#[derive(Debug, thiserror::Error)]
#[error("storage: {0}")]
pub struct StoreError(pub String);

impl StoreError {
    /// A storage error from anything printable.
    pub fn new(what: impl std::fmt::Display) -> Self {
        StoreError(what.to_string())
    }
}

impl From<std::io::Error> for StoreError {
    fn from(e: std::io::Error) -> Self {
        StoreError(format!("i/o error: {e}"))
    }
}

/// Reads and writes inside one transaction.
pub trait Tx {
    /// The project, deleted or not.
    fn project(&mut self, id: &str) -> Result<Option<Project>, StoreError>;
    /// Inserts or replaces a project.
    fn put_project(&mut self, project: &Project) -> Result<(), StoreError>;
    /// Every project's id and creation time, in creation order.
    fn projects(&mut self) -> Result<Vec<(String, Timestamp)>, StoreError>;
    /// The token with this hash.
    fn token(&mut self, hash: &TokenHash) -> Result<Option<Token>, StoreError>;
    /// Inserts a token.
    fn put_token(&mut self, token: &Token) -> Result<(), StoreError>;
    /// The run.
    fn run(&mut self, id: &str) -> Result<Option<Run>, StoreError>;
    /// A project's runs, in creation order.
    fn runs(&mut self, project_id: &str) -> Result<Vec<Run>, StoreError>;
    /// Runs in any of `states`, oldest first.
    fn runs_in_state(&mut self, states: &[RunState]) -> Result<Vec<Run>, StoreError>;
    /// Inserts or replaces a run.
    fn put_run(&mut self, run: &Run) -> Result<(), StoreError>;
    /// Removes a run and its chunks.
    fn delete_run(&mut self, id: &str) -> Result<(), StoreError>;
    /// A chunk of a run, read for an update: backends with row locks hold this row's lock
    /// until the transaction ends.
    fn chunk(&mut self, run_id: &str, index: u32) -> Result<Option<RunChunk>, StoreError>;
    /// Every chunk of a run, in index order.
    fn chunks(&mut self, run_id: &str) -> Result<Vec<RunChunk>, StoreError>;
    /// The oldest chunk (by insertion) that is claimable at `now` — pending, or running
    /// under a lease that lapsed by `now` — and that no other transaction is claiming:
    /// backends with row locks lock the row and skip rows locked by others, never wait.
    fn next_claimable_chunk(&mut self, now: Timestamp) -> Result<Option<RunChunk>, StoreError>;
    /// Inserts or replaces a chunk (keyed by run and index).
    fn put_chunk(&mut self, chunk: &RunChunk) -> Result<(), StoreError>;
    /// Removes every chunk of a run.
    fn delete_chunks(&mut self, run_id: &str) -> Result<(), StoreError>;
    /// A service-wide value (e.g. the comparison rate).
    fn setting(&mut self, key: &str) -> Result<Option<String>, StoreError>;
    /// Sets a service-wide value.
    fn put_setting(&mut self, key: &str, value: &str) -> Result<(), StoreError>;
}

/// Project, token and run metadata.
pub trait MetadataStore: Send + Sync {
    /// Runs `f` in one transaction: commits if it returns `Ok`, rolls back otherwise.
    ///
    /// # Errors
    /// `f`'s error, or a failure to commit.
    fn transact(
        &self,
        f: &mut dyn FnMut(&mut dyn Tx) -> Result<(), StoreError>,
    ) -> Result<(), StoreError>;
}

/// Durable blobs: uploaded encodings, block ids, results.
pub trait BlobStore: Send + Sync {
    /// Stores everything `data` yields under `key`, replacing any blob there; the blob is
    /// durable and complete once this returns (never visible half-written).
    ///
    /// # Errors
    /// Reading `data` or writing failed; nothing is stored then.
    fn put(&self, key: &str, data: &mut dyn Read) -> Result<u64, StoreError>;
    /// Opens the blob under `key`.
    ///
    /// # Errors
    /// No such blob, or it cannot be read.
    fn open(&self, key: &str) -> Result<Box<dyn Read + Send>, StoreError>;
    /// Opens `len` bytes of the blob under `key` from byte `offset` (fewer if the blob ends
    /// first). Backends that can seek or fetch ranges override the default, which reads and
    /// discards the bytes before `offset`.
    ///
    /// # Errors
    /// No such blob, or it cannot be read.
    fn open_range(
        &self,
        key: &str,
        offset: u64,
        len: u64,
    ) -> Result<Box<dyn Read + Send>, StoreError> {
        let mut reader = self.open(key)?;
        let skipped = std::io::copy(&mut (&mut reader).take(offset), &mut std::io::sink())?;
        if skipped < offset {
            return Err(StoreError::new(format!(
                "blob {key} ends at byte {skipped}, before offset {offset}"
            )));
        }
        Ok(Box::new(reader.take(len)))
    }
    /// Removes the blob under `key`, if any.
    ///
    /// # Errors
    /// It exists but cannot be removed.
    fn delete(&self, key: &str) -> Result<(), StoreError>;
    /// Removes every blob whose key starts with `prefix`.
    ///
    /// # Errors
    /// Some blob cannot be removed.
    fn delete_prefix(&self, prefix: &str) -> Result<(), StoreError>;
}

/// Why a transaction closure stopped: a domain outcome to return, or a storage failure.
#[derive(Debug)]
pub enum TxError<E> {
    /// The closure's own error; the transaction was rolled back.
    Abort(E),
    /// Storage failed.
    Store(StoreError),
}

impl<E> From<StoreError> for TxError<E> {
    fn from(e: StoreError) -> Self {
        TxError::Store(e)
    }
}

/// Runs `f` in a transaction of `store`, returning its value; `Err(TxError::Abort(e))` rolls
/// back and hands `e` back.
///
/// # Errors
/// [`TxError::Abort`] from `f`, [`TxError::Store`] from storage.
pub fn transact<T, E>(
    store: &dyn MetadataStore,
    mut f: impl FnMut(&mut dyn Tx) -> Result<T, TxError<E>>,
) -> Result<T, TxError<E>> {
    let mut value = None;
    let mut aborted = None;
    let outcome = store.transact(&mut |tx| match f(tx) {
        Ok(v) => {
            value = Some(v);
            Ok(())
        }
        Err(TxError::Abort(e)) => {
            aborted = Some(e);
            Err(StoreError::new("aborted"))
        }
        Err(TxError::Store(e)) => Err(e),
    });
    if let Some(e) = aborted {
        return Err(TxError::Abort(e));
    }
    outcome?;
    value.ok_or_else(|| TxError::Store(StoreError::new("transaction produced no value")))
}

/// A conformance suite every [`MetadataStore`] and [`BlobStore`] must pass.
#[cfg(any(test, feature = "testing"))]
pub mod conformance {
    use super::*;
    use crate::linkage::ResultType;
    use crate::service::chunk::ChunkState;
    use crate::service::project::{EncodingLimits, UploadState};
    use crate::service::queue::{
        ChunkOutcome, Claim, QueueConfig, Work, claim_work, complete_chunk, complete_run, fail_run,
        queue_waiting_runs, release, release_leases, renew_chunk, renew_run, run_with_progress,
    };
    use crate::service::token::TokenKind;

    fn project(id: &str) -> Project {
        Project::new(
            id.into(),
            ResultType::Groups,
            2,
            serde_json::json!({"clkConfig": {"l": 64}}),
            "n".into(),
            "notes".into(),
            false,
        )
    }

    /// Checks commit, rollback, every record kind and run claiming.
    ///
    /// # Panics
    /// When the store misbehaves.
    pub fn metadata(store: &dyn MetadataStore) {
        // Commit.
        transact::<_, ()>(store, |tx| {
            tx.put_project(&project("p1"))?;
            tx.put_token(&Token {
                hash: TokenHash::of("secret"),
                project_id: "p1".into(),
                kind: TokenKind::Update { party: 1 },
            })?;
            tx.put_setting("rate", "7")?;
            Ok(())
        })
        .expect("commit");
        // Rollback on abort.
        let aborted = transact::<(), &str>(store, |tx| {
            tx.put_project(&project("p2"))?;
            Err(TxError::Abort("no"))
        });
        assert!(matches!(aborted, Err(TxError::Abort("no"))));
        transact::<_, ()>(store, |tx| {
            assert!(tx.project("p2")?.is_none(), "aborted write was kept");
            let p = tx.project("p1")?.expect("committed project");
            assert_eq!(p, project_with_time("p1", p.time_added));
            assert_eq!(tx.projects()?.len(), 1);
            let t = tx.token(&TokenHash::of("secret"))?.expect("token");
            assert_eq!(t.kind, TokenKind::Update { party: 1 });
            assert!(tx.token(&TokenHash::of("other"))?.is_none());
            assert_eq!(tx.setting("rate")?.as_deref(), Some("7"));
            assert_eq!(tx.setting("nope")?, None);
            Ok(())
        })
        .expect("read back");

        // Runs: created, then queued when the project is ready, then planned into chunks.
        let mut p = project("p3");
        let run = Run::new("r1".into(), &p, 0.8, String::new(), String::new());
        transact::<_, ()>(store, |tx| {
            tx.put_project(&p)?;
            tx.put_run(&run)?;
            Ok(())
        })
        .expect("run");
        let config = QueueConfig {
            lease_micros: 60_000_000,
            chunk_comparisons: 2,
        };
        assert!(claim_work(store, "w", &config).expect("claim").is_none());
        let ready = UploadState::Ready {
            count: 3,
            bytes_per_record: 8,
            blob: "x".into(),
            blocks_blob: None,
        };
        p.accept_upload(0, ready.clone(), &EncodingLimits::default());
        p.accept_upload(1, ready, &EncodingLimits::default());
        transact::<_, ()>(store, |tx| {
            tx.put_project(&p)?;
            queue_waiting_runs(tx, &p)?;
            Ok(())
        })
        .expect("queue");
        // 3 × 3 in chunks of about 2: rows split 2 × 2 ways, 4 chunks.
        let first = claim_work(store, "w1", &config).expect("claim");
        let Some(Work::Compare {
            run,
            project,
            chunk,
        }) = first
        else {
            panic!("expected a chunk, got {first:?}");
        };
        assert_eq!((run.id.as_str(), project.id.as_str()), ("r1", "p3"));
        assert_eq!((run.total_comparisons, run.chunks), (9, Some(4)));
        assert_eq!(chunk.index, 0);
        assert!(chunk.held_by("w1"));
        let mut held = vec![chunk];
        for holder in ["w2", "w3", "w4"] {
            match claim_work(store, holder, &config).expect("claim") {
                Some(Work::Compare { chunk, .. }) => held.push(chunk),
                other => panic!("expected a chunk, got {other:?}"),
            }
        }
        let indexes: Vec<u32> = held.iter().map(|c| c.index).collect();
        assert_eq!(indexes, [0, 1, 2, 3]);
        assert!(claim_work(store, "w5", &config).expect("claim").is_none());

        // Progress, lease renewal and takeover after a lapsed lease.
        assert!(renew_chunk(store, "r1", 0, "w1", 2, 60_000_000).expect("renew"));
        assert!(!renew_chunk(store, "r1", 0, "w2", 2, 60_000_000).expect("renew"));
        transact::<_, ()>(store, |tx| {
            assert_eq!(
                run_with_progress(tx, "r1")?.expect("run").comparisons_done,
                2
            );
            let mut c = tx.chunk("r1", 1)?.expect("chunk");
            if let Some(l) = c.lease.as_mut() {
                l.expires = Timestamp(0);
            }
            tx.put_chunk(&c)?;
            Ok(())
        })
        .expect("expire");
        let Some(Work::Compare { chunk: taken, .. }) =
            claim_work(store, "w6", &config).expect("claim")
        else {
            panic!("the lapsed chunk is claimable");
        };
        assert_eq!((taken.index, taken.attempts), (1, 2));
        // The old holder can no longer record it; the new one can, once.
        let lost = complete_chunk(store, "r1", 1, "w2", 5, "old", 100).expect("complete");
        assert_eq!(lost, ChunkOutcome::Lost);
        for (index, holder) in [(0, "w1"), (1, "w6"), (2, "w3")] {
            let outcome = complete_chunk(store, "r1", index, holder, 1, &format!("b{index}"), 100)
                .expect("complete");
            assert_eq!(outcome, ChunkOutcome::Recorded { run_ready: false });
        }
        let again = complete_chunk(store, "r1", 1, "w6", 1, "b1", 100).expect("complete");
        assert_eq!(again, ChunkOutcome::Lost, "a chunk is recorded once");
        // Over the run's candidate limit: not recorded, and the holder can fail the run.
        let over = complete_chunk(store, "r1", 3, "w4", 2, "b3", 4).expect("complete");
        assert_eq!(over, ChunkOutcome::TooManyCandidates);
        let last = complete_chunk(store, "r1", 3, "w4", 1, "b3", 100).expect("complete");
        assert_eq!(last, ChunkOutcome::Recorded { run_ready: true });
        transact::<_, ()>(store, |tx| {
            assert_eq!(
                run_with_progress(tx, "r1")?.expect("run").comparisons_done,
                9
            );
            Ok(())
        })
        .expect("progress");

        // Solving: one worker, under a lease.
        let Some(Work::Solve { run, chunks, .. }) =
            claim_work(store, "w7", &config).expect("claim")
        else {
            panic!("a run with every chunk done is solved");
        };
        assert!(run.held_by("w7"));
        assert_eq!(run.candidates, Some(4));
        let blobs: Vec<_> = chunks.iter().filter_map(|c| c.blob.as_deref()).collect();
        assert_eq!(blobs, ["b0", "b1", "b2", "b3"]);
        assert!(claim_work(store, "w8", &config).expect("claim").is_none());
        assert!(release(store, "r1", Claim::Solve { holder: "w7" }).expect("release"));
        let Some(Work::Solve { run, .. }) = claim_work(store, "w7", &config).expect("claim") else {
            panic!("a released solve is claimable again");
        };
        assert_eq!(run.attempts, 2);
        assert!(renew_run(store, "r1", "w7", 60_000_000).expect("renew"));
        assert!(!renew_run(store, "r1", "w8", 60_000_000).expect("renew"));
        assert!(!complete_run(store, "r1", "w8", ResultType::Groups).expect("complete"));
        assert!(complete_run(store, "r1", "w7", ResultType::Groups).expect("complete"));
        transact::<_, ()>(store, |tx| {
            let r = tx.run("r1")?.expect("run");
            assert_eq!((r.state, r.comparisons_done), (RunState::Completed, 9));
            assert!(
                tx.chunks("r1")?.is_empty(),
                "chunks are dropped with completion"
            );
            assert!(tx.setting("rate")?.is_some());
            Ok(())
        })
        .expect("completed");

        // A second run: its chunk holder fails it; restarts release leases.
        let run2 = Run::new("r2".into(), &p, 0.8, String::new(), String::new());
        transact::<_, ()>(store, |tx| Ok(tx.put_run(&run2)?)).expect("run 2");
        let Some(Work::Compare { chunk, .. }) = claim_work(store, "w1", &config).expect("claim")
        else {
            panic!("run 2 is planned");
        };
        assert_eq!(release_leases(store).expect("release"), 1);
        transact::<_, ()>(store, |tx| {
            let c = tx.chunk("r2", chunk.index)?.expect("chunk");
            assert_eq!((c.state, c.lease.is_none()), (ChunkState::Pending, true));
            Ok(())
        })
        .expect("released");
        let Some(Work::Compare { chunk, .. }) = claim_work(store, "w2", &config).expect("claim")
        else {
            panic!("the released chunk is claimable");
        };
        let claim = Claim::Chunk {
            index: chunk.index,
            holder: "w2",
        };
        // Given back (a storage hiccup), it is claimable again, as a further attempt.
        assert!(release(store, "r2", claim).expect("release"));
        assert!(!release(store, "r2", claim).expect("released once"));
        let Some(Work::Compare { chunk, .. }) = claim_work(store, "w2", &config).expect("claim")
        else {
            panic!("the given-back chunk is claimable");
        };
        assert_eq!(chunk.attempts, 3, "w1, w2 after the restart, w2 again");
        let claim = Claim::Chunk {
            index: chunk.index,
            holder: "w1",
        };
        assert!(!fail_run(store, "r2", claim, "bad").expect("fail"));
        let claim = Claim::Chunk {
            index: chunk.index,
            holder: "w2",
        };
        assert!(fail_run(store, "r2", claim, "bad").expect("fail"));
        transact::<_, ()>(store, |tx| {
            let r = tx.run("r2")?.expect("run");
            assert_eq!(
                (r.state, r.message.as_deref()),
                (RunState::Error, Some("bad"))
            );
            assert!(tx.chunks("r2")?.is_empty());
            assert!(tx.next_claimable_chunk(Timestamp::now())?.is_none());
            Ok(())
        })
        .expect("failed");

        // Deleting a run deletes its chunks.
        transact::<_, ()>(store, |tx| {
            tx.put_chunk(&RunChunk::new(
                "r1",
                0,
                crate::candidates::Chunk {
                    datasets: [0, 1],
                    ranges: [[0, 1], [0, 1]],
                },
            ))?;
            assert_eq!(tx.runs("p3")?.len(), 2);
            tx.delete_run("r1")?;
            assert!(tx.run("r1")?.is_none());
            assert!(tx.chunks("r1")?.is_empty());
            assert_eq!(tx.runs("p3")?.len(), 1);
            Ok(())
        })
        .expect("delete");
    }

    fn project_with_time(id: &str, time: Timestamp) -> Project {
        let mut p = project(id);
        p.time_added = time;
        p
    }

    /// Checks put, open, replace, delete and delete by prefix.
    ///
    /// # Panics
    /// When the store misbehaves.
    pub fn blobs(store: &dyn BlobStore) {
        let read = |key: &str| {
            let mut out = Vec::new();
            store
                .open(key)
                .expect("open")
                .read_to_end(&mut out)
                .expect("read");
            out
        };
        assert_eq!(store.put("a/1", &mut &b"hello"[..]).expect("put"), 5);
        store.put("a/2", &mut &b"x"[..]).expect("put");
        store.put("b/1", &mut &b"y"[..]).expect("put");
        assert_eq!(read("a/1"), b"hello");
        let mut range = Vec::new();
        store
            .open_range("a/1", 1, 3)
            .expect("open range")
            .read_to_end(&mut range)
            .expect("read range");
        assert_eq!(range, b"ell");
        store.put("a/1", &mut &b"bye"[..]).expect("replace");
        assert_eq!(read("a/1"), b"bye");
        store.delete("a/2").expect("delete");
        assert!(store.open("a/2").is_err());
        store.delete("a/2").expect("deleting nothing is fine");
        store.delete_prefix("a/").expect("delete prefix");
        assert!(store.open("a/1").is_err());
        assert_eq!(read("b/1"), b"y");
    }
}
