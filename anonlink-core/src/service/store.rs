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

/// A storage failure (the database, the file system, an object store): what was being done,
/// and the failure underneath it, kept as the error's source.
#[derive(Debug, thiserror::Error)]
#[error("storage: {what}")]
pub struct StoreError {
    what: String,
    #[source]
    cause: Option<Box<dyn std::error::Error + Send + Sync + 'static>>,
}

impl StoreError {
    /// A storage error described by `what`, without an underlying error.
    pub fn new(what: impl std::fmt::Display) -> Self {
        StoreError {
            what: what.to_string(),
            cause: None,
        }
    }

    /// A storage error that `cause` led to; `context` says what was being done. The message
    /// reads `context: cause`, and `cause` stays available as the source.
    pub fn caused_by(
        context: impl std::fmt::Display,
        cause: impl std::error::Error + Send + Sync + 'static,
    ) -> Self {
        StoreError {
            what: format!("{context}: {cause}"),
            cause: Some(Box::new(cause)),
        }
    }

    /// The I/O error underneath, if the failure was one: anywhere in the source chain.
    pub fn io_error(&self) -> Option<&std::io::Error> {
        let mut source: Option<&(dyn std::error::Error + 'static)> =
            self.cause.as_deref().map(|c| c as _);
        while let Some(e) = source {
            if let Some(io) = e.downcast_ref::<std::io::Error>() {
                return Some(io);
            }
            source = e.source();
        }
        None
    }
}

impl From<std::io::Error> for StoreError {
    fn from(e: std::io::Error) -> Self {
        StoreError::caused_by("i/o error", e)
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
