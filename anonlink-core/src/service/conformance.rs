//! The conformance suite every [`MetadataStore`] and [`BlobStore`] must pass: commit and
//! rollback, every record kind, and the queue's claims, leases and takeovers, played over
//! the store. Backends run it from their own tests.

use std::io::Read;

use super::Timestamp;
use super::chunk::ChunkState;
use super::chunk::RunChunk;
use super::project::Project;
use super::project::{NewProject, UploadState};
use super::queue::{
    ChunkOutcome, Claim, Queue, QueueConfig, Work, queue_waiting_runs, run_with_progress,
};
use super::run::{Run, RunState};
use super::store::{BlobStore, MetadataStore, TxError, transact};
use super::token::TokenKind;
use super::token::{Token, TokenHash};
use super::{Clock, ManualClock};
use crate::candidates::Threshold;
use crate::encoding::SizeLimits;
use crate::linkage::ResultType;

fn project() -> Project {
    let mut spec = NewProject::new(ResultType::Groups, 2);
    spec.schema = serde_json::json!({"clkConfig": {"l": 64}});
    spec.name = "n".into();
    spec.notes = "notes".into();
    Project::create(spec, Timestamp(1_000)).0
}

fn new_run(project: &Project) -> Run {
    let threshold = Threshold::new(0.8).expect("threshold");
    Run::create(
        project,
        threshold,
        String::new(),
        String::new(),
        Timestamp(2_000),
    )
}

/// Checks commit, rollback, every record kind, and the queue's claims, leases, takeovers
/// and completions, on a clock that moves only when the suite says so.
///
/// # Panics
/// When the store misbehaves.
pub fn metadata(store: &dyn MetadataStore) {
    // Commit.
    let p1 = project();
    transact::<_, ()>(store, |tx| {
        tx.put_project(&p1)?;
        tx.put_token(&Token {
            hash: TokenHash::of("secret"),
            project_id: p1.id().into(),
            kind: TokenKind::Update { party: 1 },
        })?;
        tx.put_setting("rate", "7")?;
        Ok(())
    })
    .expect("commit");
    // Rollback on abort.
    let p2 = project();
    let aborted = transact::<(), &str>(store, |tx| {
        tx.put_project(&p2)?;
        Err(TxError::Abort("no"))
    });
    assert!(matches!(aborted, Err(TxError::Abort("no"))));
    transact::<_, ()>(store, |tx| {
        assert!(tx.project(p2.id())?.is_none(), "aborted write was kept");
        assert_eq!(tx.project(p1.id())?.as_ref(), Some(&p1));
        assert_eq!(tx.projects()?, [(p1.id().to_string(), p1.time_added())]);
        let t = tx.token(&TokenHash::of("secret"))?.expect("token");
        assert_eq!(t.kind, TokenKind::Update { party: 1 });
        assert!(tx.token(&TokenHash::of("other"))?.is_none());
        assert_eq!(tx.setting("rate")?.as_deref(), Some("7"));
        assert_eq!(tx.setting("nope")?, None);
        Ok(())
    })
    .expect("read back");

    // Runs: created, then queued when the project is ready, then planned into chunks.
    let clock = ManualClock::at(Timestamp(1_000_000));
    let config = QueueConfig {
        lease_micros: 60_000_000,
        chunk_comparisons: 2,
        ..QueueConfig::default()
    };
    let queue = Queue::new(store, config).with_clock(&clock);
    let mut p = project();
    let run = new_run(&p);
    let r1 = run.id().to_string();
    transact::<_, ()>(store, |tx| {
        tx.put_project(&p)?;
        tx.put_run(&run)?;
        Ok(())
    })
    .expect("run");
    assert!(queue.claim_work("w").expect("claim").is_none());
    let ready = UploadState::Ready {
        count: 3,
        bytes_per_record: 8,
        blob: "x".into(),
        blocks_blob: None,
    };
    p.accept_upload(0, ready.clone(), &SizeLimits::default());
    p.accept_upload(1, ready, &SizeLimits::default());
    transact::<_, ()>(store, |tx| {
        tx.put_project(&p)?;
        queue_waiting_runs(tx, &p)?;
        Ok(())
    })
    .expect("queue");
    // Prepared first (its candidates estimated), by one worker: nothing else to claim then.
    let Some(Work::Prepare { run, .. }) = queue.claim_work("w0").expect("claim") else {
        panic!("the run is prepared before it is planned");
    };
    assert_eq!((run.id(), run.estimated_candidates()), (r1.as_str(), None));
    assert!(queue.claim_work("w1").expect("claim").is_none());
    assert!(!queue.record_prepared(&r1, "w1", None, 7).expect("not w1's"));
    assert!(queue.record_prepared(&r1, "w0", None, 7).expect("prepared"));
    // 3 × 3 in chunks of about 2: rows split 2 × 2 ways, 4 chunks.
    let first = queue.claim_work("w1").expect("claim");
    let Some(Work::Compare {
        run,
        project,
        chunk,
    }) = first
    else {
        panic!("expected a chunk, got {first:?}");
    };
    assert_eq!((run.id(), project.id()), (r1.as_str(), p.id()));
    assert_eq!((run.total_comparisons(), run.chunks()), (9, Some(4)));
    assert_eq!(run.estimated_candidates(), Some(7));
    assert_eq!(run.time_started(), Some(clock.now()));
    assert_eq!(chunk.index(), 0);
    assert!(chunk.held_by("w1"));
    let mut held = vec![chunk];
    for holder in ["w2", "w3", "w4"] {
        match queue.claim_work(holder).expect("claim") {
            Some(Work::Compare { chunk, .. }) => held.push(chunk),
            other => panic!("expected a chunk, got {other:?}"),
        }
    }
    let indexes: Vec<u32> = held.iter().map(RunChunk::index).collect();
    assert_eq!(indexes, [0, 1, 2, 3]);
    assert!(queue.claim_work("w5").expect("claim").is_none());

    // Progress and lease renewal; a lease that lapses is taken over.
    clock.advance(30_000_000);
    assert!(queue.renew_chunk(&r1, 0, "w1", 2).expect("renew"));
    assert!(!queue.renew_chunk(&r1, 0, "w2", 2).expect("renew"));
    for index in [2, 3] {
        let holder = ["w3", "w4"][index as usize - 2];
        assert!(queue.renew_chunk(&r1, index, holder, 0).expect("renew"));
    }
    transact::<_, ()>(store, |tx| {
        let shown = run_with_progress(tx, &r1)?.expect("run");
        assert_eq!(shown.comparisons_done(), 2);
        Ok(())
    })
    .expect("progress");
    // 31 s later, chunk 1 (never renewed) has lapsed; the renewed ones have not.
    clock.advance(31_000_000);
    let Some(Work::Compare { chunk: taken, .. }) = queue.claim_work("w6").expect("claim") else {
        panic!("the lapsed chunk is claimable");
    };
    assert_eq!((taken.index(), taken.attempts()), (1, 2));
    assert!(queue.claim_work("w7").expect("claim").is_none());
    // The old holder can no longer record it; the new one can, once.
    let lost = queue
        .complete_chunk(&r1, 1, "w2", 5, "old", 100)
        .expect("complete");
    assert_eq!(lost, ChunkOutcome::Lost);
    for (index, holder) in [(0, "w1"), (1, "w6"), (2, "w3")] {
        let outcome = queue
            .complete_chunk(&r1, index, holder, 1, &format!("b{index}"), 100)
            .expect("complete");
        assert_eq!(outcome, ChunkOutcome::Recorded { run_ready: false });
    }
    let again = queue
        .complete_chunk(&r1, 1, "w6", 1, "b1", 100)
        .expect("complete");
    assert_eq!(again, ChunkOutcome::Lost, "a chunk is recorded once");
    // Over the run's candidate limit: not recorded, and the holder can fail the run.
    let over = queue
        .complete_chunk(&r1, 3, "w4", 2, "b3", 4)
        .expect("complete");
    assert_eq!(over, ChunkOutcome::TooManyCandidates);
    let last = queue
        .complete_chunk(&r1, 3, "w4", 1, "b3", 100)
        .expect("complete");
    assert_eq!(last, ChunkOutcome::Recorded { run_ready: true });
    transact::<_, ()>(store, |tx| {
        let shown = run_with_progress(tx, &r1)?.expect("run");
        assert_eq!(shown.comparisons_done(), 9);
        Ok(())
    })
    .expect("progress");

    // Solving: one worker, under a lease.
    let Some(Work::Solve { run, chunks, .. }) = queue.claim_work("w7").expect("claim") else {
        panic!("a run with every chunk done is solved");
    };
    assert!(run.held_by("w7"));
    assert_eq!(run.candidates(), Some(4));
    let blobs: Vec<_> = chunks.iter().filter_map(RunChunk::blob).collect();
    assert_eq!(blobs, ["b0", "b1", "b2", "b3"]);
    assert!(queue.claim_work("w8").expect("claim").is_none());
    assert!(
        queue
            .release(&r1, Claim::Solve { holder: "w7" })
            .expect("release")
    );
    let Some(Work::Solve { run, .. }) = queue.claim_work("w7").expect("claim") else {
        panic!("a released solve is claimable again");
    };
    assert_eq!(run.attempts(), 2);
    assert!(queue.renew_run(&r1, "w7").expect("renew"));
    assert!(!queue.renew_run(&r1, "w8").expect("renew"));
    // A solver whose lease lapsed is taken over.
    clock.advance(61_000_000);
    let Some(Work::Solve { run, .. }) = queue.claim_work("w8").expect("claim") else {
        panic!("a lapsed solve is claimable again");
    };
    assert_eq!(run.attempts(), 3);
    assert!(!queue.renew_run(&r1, "w7").expect("renew"));
    assert!(
        !queue
            .complete_run(&r1, "w7", ResultType::Groups)
            .expect("complete")
    );
    clock.advance(2_000_000);
    assert!(
        queue
            .complete_run(&r1, "w8", ResultType::Groups)
            .expect("complete")
    );
    transact::<_, ()>(store, |tx| {
        let r = tx.run(&r1)?.expect("run");
        assert_eq!((r.state(), r.comparisons_done()), (RunState::Completed, 9));
        assert_eq!(r.time_completed(), Some(clock.now()));
        assert!(
            tx.chunks(&r1)?.is_empty(),
            "chunks are dropped with completion"
        );
        // 9 comparisons over the 124 s since the run started: the rate is at least 1.
        assert_eq!(tx.setting("rate")?.as_deref(), Some("1"));
        Ok(())
    })
    .expect("completed");

    // A second run: restarts release leases; its chunk holder fails it.
    let run2 = new_run(&p);
    let r2 = run2.id().to_string();
    transact::<_, ()>(store, |tx| Ok(tx.put_run(&run2)?)).expect("run 2");
    let Some(Work::Prepare { .. }) = queue.claim_work("w1").expect("claim") else {
        panic!("run 2 is prepared");
    };
    assert!(queue.record_prepared(&r2, "w1", None, 7).expect("prepared"));
    let Some(Work::Compare { chunk, .. }) = queue.claim_work("w1").expect("claim") else {
        panic!("run 2 is planned");
    };
    assert_eq!(queue.release_leases().expect("release"), 1);
    transact::<_, ()>(store, |tx| {
        let c = tx.chunk(&r2, chunk.index())?.expect("chunk");
        assert_eq!(
            (c.state(), c.lease().is_none()),
            (ChunkState::Pending, true)
        );
        Ok(())
    })
    .expect("released");
    let Some(Work::Compare { chunk, .. }) = queue.claim_work("w2").expect("claim") else {
        panic!("the released chunk is claimable");
    };
    let claim = Claim::Chunk {
        index: chunk.index(),
        holder: "w2",
    };
    // Given back (a storage hiccup), it is claimable again, as a further attempt.
    assert!(queue.release(&r2, claim).expect("release"));
    assert!(!queue.release(&r2, claim).expect("released once"));
    let Some(Work::Compare { chunk, .. }) = queue.claim_work("w2").expect("claim") else {
        panic!("the given-back chunk is claimable");
    };
    assert_eq!(chunk.attempts(), 3, "w1, w2 after the restart, w2 again");
    let claim = Claim::Chunk {
        index: chunk.index(),
        holder: "w1",
    };
    assert!(!queue.fail_run(&r2, claim, "bad").expect("fail"));
    let claim = Claim::Chunk {
        index: chunk.index(),
        holder: "w2",
    };
    assert!(queue.fail_run(&r2, claim, "bad").expect("fail"));
    transact::<_, ()>(store, |tx| {
        let r = tx.run(&r2)?.expect("run");
        assert_eq!((r.state(), r.message()), (RunState::Error, Some("bad")));
        assert!(tx.chunks(&r2)?.is_empty());
        assert!(tx.next_claimable_chunk(clock.now())?.is_none());
        Ok(())
    })
    .expect("failed");

    // Runs of a deleted project are failed when they come up.
    let run3 = new_run(&p);
    let mut deleted = p.clone();
    deleted.delete();
    transact::<_, ()>(store, |tx| {
        tx.put_run(&run3)?;
        tx.put_project(&deleted)?;
        Ok(())
    })
    .expect("delete project");
    assert!(queue.claim_work("w1").expect("claim").is_none());
    transact::<_, ()>(store, |tx| {
        let r = tx.run(run3.id())?.expect("run");
        assert_eq!(r.state(), RunState::Error);
        Ok(())
    })
    .expect("failed with its project");

    // Deleting a run deletes its chunks.
    transact::<_, ()>(store, |tx| {
        tx.put_chunk(&RunChunk::new(
            &r1,
            0,
            crate::candidates::Chunk {
                datasets: [0, 1],
                ranges: [[0, 1], [0, 1]],
            },
        ))?;
        assert_eq!(tx.runs(p.id())?.len(), 3);
        tx.delete_run(&r1)?;
        assert!(tx.run(&r1)?.is_none());
        assert!(tx.chunks(&r1)?.is_empty());
        assert_eq!(tx.runs(p.id())?.len(), 2);
        Ok(())
    })
    .expect("delete");
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
