//! Storage traits: metadata in transactions, encodings and results as durable blobs, and
//! runs handed to workers under leases.
//!
//! The traits are synchronous: the service calls them from blocking threads. A backend
//! implements [`MetadataStore::transact`] (all reads and writes of one closure commit
//! together, or none do) and [`BlobStore`] (a blob is durable once `put` returns). The
//! domain rules live in [`Project`] and [`Run`]; the helpers here ([`transact`],
//! [`claim_run`]) are written once over the traits.

use std::io::Read;

use super::Timestamp;
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
    /// Removes a run.
    fn delete_run(&mut self, id: &str) -> Result<(), StoreError>;
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

/// Claims the oldest claimable run for `holder` under a lease of `lease_micros`: a queued
/// run, or a running one whose holder's lease lapsed. Runs whose project is deleted or in
/// error are failed on the way. Returns the claimed run and its project.
///
/// # Errors
/// Storage failures.
pub fn claim_run(
    store: &dyn MetadataStore,
    holder: &str,
    lease_micros: i64,
) -> Result<Option<(Run, Project)>, StoreError> {
    let claimed = transact::<_, ()>(store, |tx| {
        let now = Timestamp::now();
        for mut run in tx.runs_in_state(&[RunState::Queued, RunState::Running])? {
            if !run.is_claimable(now) {
                continue;
            }
            let Some(project) = tx.project(&run.project_id)? else {
                tx.delete_run(&run.id)?;
                continue;
            };
            if project.deleted {
                run.fail(now, "The project was deleted.");
                tx.put_run(&run)?;
                continue;
            }
            if project.in_error() {
                let message = project
                    .error_message()
                    .unwrap_or("The project has an upload in error.")
                    .to_string();
                run.fail(now, message);
                tx.put_run(&run)?;
                continue;
            }
            let total = crate::candidates::total_comparisons(&project.sizes());
            run.start(holder, now, lease_micros, total);
            tx.put_run(&run)?;
            return Ok(Some((run, project)));
        }
        Ok(None)
    });
    match claimed {
        Ok(v) => Ok(v),
        Err(TxError::Store(e)) => Err(e),
        Err(TxError::Abort(())) => Ok(None),
    }
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

/// A conformance suite every [`MetadataStore`] and [`BlobStore`] must pass.
#[cfg(any(test, feature = "testing"))]
pub mod conformance {
    use super::*;
    use crate::linkage::ResultType;
    use crate::service::project::{EncodingLimits, UploadState};
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

        // Runs: created, then queued when the project is ready, then claimed once.
        let mut p = project("p3");
        let run = Run::new("r1".into(), &p, 0.8, String::new(), String::new());
        transact::<_, ()>(store, |tx| {
            tx.put_project(&p)?;
            tx.put_run(&run)?;
            Ok(())
        })
        .expect("run");
        assert!(claim_run(store, "w", 1_000_000).expect("claim").is_none());
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
        let (claimed, claimed_project) = claim_run(store, "w1", 60_000_000)
            .expect("claim")
            .expect("a queued run");
        assert_eq!(claimed.id, "r1");
        assert_eq!(claimed.total_comparisons, 9);
        assert_eq!(claimed_project.id, "p3");
        assert!(claim_run(store, "w2", 60_000_000).expect("claim").is_none());
        // A lapsed lease makes it claimable again.
        transact::<_, ()>(store, |tx| {
            let mut r = tx.run("r1")?.expect("run");
            if let Some(l) = r.lease.as_mut() {
                l.expires = Timestamp(0);
            }
            tx.put_run(&r)?;
            Ok(())
        })
        .expect("expire");
        let (again, _) = claim_run(store, "w2", 60_000_000)
            .expect("claim")
            .expect("reclaimed");
        assert!(again.held_by("w2"));
        assert_eq!(again.attempts, 2);
        transact::<_, ()>(store, |tx| {
            assert_eq!(tx.runs("p3")?.len(), 1);
            tx.delete_run("r1")?;
            assert!(tx.run("r1")?.is_none());
            assert!(tx.runs("p3")?.is_empty());
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
