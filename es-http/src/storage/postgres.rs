//! Metadata in PostgreSQL, for several API and worker processes sharing one database.
//!
//! The tables mirror the SQLite store (one JSON record per row, plus the columns queries
//! need); the migration runs at start-up. Transactions are `READ COMMITTED`; runs and
//! chunks are read for claiming with `FOR UPDATE SKIP LOCKED`, so two workers never claim
//! the same run or chunk and never wait on each other; a chunk read for an update is locked
//! (`FOR UPDATE`), so its holder's progress and completion never race a takeover.

use std::time::Duration;

use anonlink_core::service::Timestamp;
use anonlink_core::service::chunk::RunChunk;
use anonlink_core::service::project::Project;
use anonlink_core::service::run::{Run, RunState};
use anonlink_core::service::store::{MetadataStore, StoreError, Tx};
use anonlink_core::service::token::{Token, TokenHash};
use postgres::NoTls;
use r2d2_postgres::PostgresConnectionManager;

/// Connections per process: API requests and workers each hold one only for a transaction.
const POOL_SIZE: u32 = 16;
/// Times a transaction is run again after a deadlock or serialisation failure.
const RETRIES: usize = 3;

const MIGRATION: &str = "
CREATE TABLE IF NOT EXISTS projects (
    seq BIGSERIAL PRIMARY KEY,
    id TEXT UNIQUE NOT NULL,
    data TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS tokens (
    hash TEXT PRIMARY KEY,
    data TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS runs (
    seq BIGSERIAL PRIMARY KEY,
    id TEXT UNIQUE NOT NULL,
    project_id TEXT NOT NULL,
    state TEXT NOT NULL,
    data TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS runs_by_project ON runs(project_id);
CREATE INDEX IF NOT EXISTS runs_by_state ON runs(state);
CREATE TABLE IF NOT EXISTS settings (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS chunks (
    seq BIGSERIAL PRIMARY KEY,
    run_id TEXT NOT NULL,
    idx INTEGER NOT NULL,
    state TEXT NOT NULL,
    lease_expires BIGINT NOT NULL,
    data TEXT NOT NULL,
    UNIQUE (run_id, idx)
);
CREATE INDEX IF NOT EXISTS chunks_by_state ON chunks(state, seq);
";

/// Metadata in a PostgreSQL database, through a pool of connections (a connection found
/// dead — the server restarted, a failover — is replaced when next checked out).
pub struct PgStore {
    /// Always `Some` until dropped.
    pool: Option<r2d2::Pool<PostgresConnectionManager<NoTls>>>,
}

impl Drop for PgStore {
    fn drop(&mut self) {
        // Closing a connection blocks on the driver's own runtime, which panics on an async
        // runtime's thread (where the last handle to the store may well be dropped).
        if let Some(pool) = self.pool.take() {
            let _ = std::thread::spawn(move || drop(pool)).join();
        }
    }
}

impl std::fmt::Debug for PgStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The connection string may hold a password: never print it.
        f.debug_struct("PgStore").finish_non_exhaustive()
    }
}

fn db_err(e: postgres::Error) -> StoreError {
    let context = match e.as_db_error() {
        Some(db) => format!("postgres: {}", db.code().code()),
        None => "postgres".to_string(),
    };
    StoreError::caused_by(context, e)
}

fn json_err(e: serde_json::Error) -> StoreError {
    StoreError::caused_by("stored record is not valid", e)
}

impl PgStore {
    /// Connects to `url` (`postgres://user:password@host:port/database`) and applies the
    /// migration.
    ///
    /// # Errors
    /// The database cannot be reached or migrated.
    pub fn connect(url: &str) -> Result<PgStore, StoreError> {
        let config: postgres::Config = url
            .parse()
            .map_err(|e| StoreError::new(format!("database URL: {e}")))?;
        let pool = r2d2::Pool::builder()
            .max_size(POOL_SIZE)
            .min_idle(Some(1))
            .connection_timeout(Duration::from_secs(30))
            .build(PostgresConnectionManager::new(config, NoTls))
            .map_err(|e| StoreError::new(format!("postgres: {e}")))?;
        let mut client = pool
            .get()
            .map_err(|e| StoreError::new(format!("postgres: {e}")))?;
        // Several processes may start at once: serialise the migration with a lock held
        // until the migration's transaction commits (a session lock released before the
        // commit lets the next process race the uncommitted tables).
        client
            .batch_execute(&format!(
                "BEGIN; SELECT pg_advisory_xact_lock(8851); {MIGRATION} COMMIT;"
            ))
            .map_err(db_err)?;
        drop(client);
        Ok(PgStore { pool: Some(pool) })
    }
}

/// A failure that running the transaction again may not meet: a deadlock between two
/// transactions (one is chosen to fail) or a serialisation failure.
fn is_transient(e: &postgres::Error) -> bool {
    use postgres::error::SqlState;
    e.code().is_some_and(|c| {
        *c == SqlState::T_R_DEADLOCK_DETECTED || *c == SqlState::T_R_SERIALIZATION_FAILURE
    })
}

impl MetadataStore for PgStore {
    fn transact(
        &self,
        f: &mut dyn FnMut(&mut dyn Tx) -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        let mut client = self
            .pool
            .as_ref()
            .ok_or_else(|| StoreError::new("postgres: the store is closed"))?
            .get()
            .map_err(|e| StoreError::new(format!("postgres: {e}")))?;
        let mut attempt = 0;
        loop {
            attempt += 1;
            let mut tx = client.transaction().map_err(db_err)?;
            let mut view = PgTx {
                tx: &mut tx,
                transient: false,
            };
            let outcome = f(&mut view);
            let transient = view.transient;
            let committed = match outcome {
                Ok(()) => tx.commit().map_err(|e| {
                    let retry = is_transient(&e);
                    (db_err(e), retry)
                }),
                Err(e) => Err((e, transient)),
            };
            match committed {
                Ok(()) => return Ok(()),
                Err((_, true)) if attempt <= RETRIES => {
                    tracing::debug!(attempt, "postgres transaction retried");
                }
                Err((e, _)) => return Err(e),
            }
        }
    }
}

struct PgTx<'a, 'b> {
    tx: &'a mut postgres::Transaction<'b>,
    /// A statement failed in a way worth running the whole transaction again.
    transient: bool,
}

/// Converts a statement's error, noting whether the transaction is worth running again.
fn noted(transient: &mut bool, e: postgres::Error) -> StoreError {
    *transient |= is_transient(&e);
    db_err(e)
}

impl PgTx<'_, '_> {
    fn runs_query(&mut self, sql: &str, arg: &str) -> Result<Vec<Run>, StoreError> {
        let rows = self
            .tx
            .query(sql, &[&arg])
            .map_err(|e| noted(&mut self.transient, e))?;
        rows.iter()
            .map(|r| serde_json::from_str(r.get::<_, &str>(0)).map_err(json_err))
            .collect()
    }
}

impl PgTx<'_, '_> {
    fn chunks_query(
        &mut self,
        sql: &str,
        args: &[&(dyn postgres::types::ToSql + Sync)],
    ) -> Result<Vec<RunChunk>, StoreError> {
        let rows = self
            .tx
            .query(sql, args)
            .map_err(|e| noted(&mut self.transient, e))?;
        rows.iter()
            .map(|r| serde_json::from_str(r.get::<_, &str>(0)).map_err(json_err))
            .collect()
    }
}

impl Tx for PgTx<'_, '_> {
    fn project(&mut self, id: &str) -> Result<Option<Project>, StoreError> {
        let row = self
            .tx
            .query_opt("SELECT data FROM projects WHERE id = $1", &[&id])
            .map_err(|e| noted(&mut self.transient, e))?;
        row.map(|r| serde_json::from_str(r.get::<_, &str>(0)).map_err(json_err))
            .transpose()
    }

    fn put_project(&mut self, project: &Project) -> Result<(), StoreError> {
        let data = serde_json::to_string(project).map_err(json_err)?;
        self.tx
            .execute(
                "INSERT INTO projects (id, data) VALUES ($1, $2)
                 ON CONFLICT (id) DO UPDATE SET data = EXCLUDED.data",
                &[&project.id(), &data],
            )
            .map_err(|e| noted(&mut self.transient, e))?;
        Ok(())
    }

    fn projects(&mut self) -> Result<Vec<(String, Timestamp)>, StoreError> {
        let rows = self
            .tx
            .query("SELECT data FROM projects ORDER BY seq", &[])
            .map_err(|e| noted(&mut self.transient, e))?;
        rows.iter()
            .map(|r| {
                let p: Project = serde_json::from_str(r.get::<_, &str>(0)).map_err(json_err)?;
                Ok((p.id().to_string(), p.time_added()))
            })
            .collect()
    }

    fn token(&mut self, hash: &TokenHash) -> Result<Option<Token>, StoreError> {
        let row = self
            .tx
            .query_opt("SELECT data FROM tokens WHERE hash = $1", &[&hash.0])
            .map_err(|e| noted(&mut self.transient, e))?;
        let token: Option<Token> = row
            .map(|r| serde_json::from_str(r.get::<_, &str>(0)).map_err(json_err))
            .transpose()?;
        Ok(token.filter(|t| t.hash.matches(hash)))
    }

    fn put_token(&mut self, token: &Token) -> Result<(), StoreError> {
        let data = serde_json::to_string(token).map_err(json_err)?;
        self.tx
            .execute(
                "INSERT INTO tokens (hash, data) VALUES ($1, $2)
                 ON CONFLICT (hash) DO UPDATE SET data = EXCLUDED.data",
                &[&token.hash.0, &data],
            )
            .map_err(|e| noted(&mut self.transient, e))?;
        Ok(())
    }

    fn run(&mut self, id: &str) -> Result<Option<Run>, StoreError> {
        Ok(self
            .runs_query("SELECT data FROM runs WHERE id = $1", id)?
            .pop())
    }

    fn runs(&mut self, project_id: &str) -> Result<Vec<Run>, StoreError> {
        self.runs_query(
            "SELECT data FROM runs WHERE project_id = $1 ORDER BY seq",
            project_id,
        )
    }

    fn runs_in_state(&mut self, states: &[RunState]) -> Result<Vec<Run>, StoreError> {
        let mut all = Vec::new();
        for state in states {
            // Rows another worker is claiming right now are skipped, not waited for.
            all.extend(self.runs_query(
                "SELECT data FROM runs WHERE state = $1 ORDER BY seq FOR UPDATE SKIP LOCKED",
                state.as_str(),
            )?);
        }
        all.sort_by_key(|r: &Run| r.time_added());
        Ok(all)
    }

    fn put_run(&mut self, run: &Run) -> Result<(), StoreError> {
        let data = serde_json::to_string(run).map_err(json_err)?;
        self.tx
            .execute(
                "INSERT INTO runs (id, project_id, state, data) VALUES ($1, $2, $3, $4)
                 ON CONFLICT (id) DO UPDATE SET state = EXCLUDED.state, data = EXCLUDED.data",
                &[&run.id(), &run.project_id(), &run.state().as_str(), &data],
            )
            .map_err(|e| noted(&mut self.transient, e))?;
        Ok(())
    }

    fn delete_run(&mut self, id: &str) -> Result<(), StoreError> {
        self.tx
            .execute("DELETE FROM runs WHERE id = $1", &[&id])
            .map_err(|e| noted(&mut self.transient, e))?;
        self.delete_chunks(id)
    }

    fn chunk(&mut self, run_id: &str, index: u32) -> Result<Option<RunChunk>, StoreError> {
        let index = i32::try_from(index).map_err(StoreError::new)?;
        Ok(self
            .chunks_query(
                "SELECT data FROM chunks WHERE run_id = $1 AND idx = $2 FOR UPDATE",
                &[&run_id, &index],
            )?
            .pop())
    }

    fn chunks(&mut self, run_id: &str) -> Result<Vec<RunChunk>, StoreError> {
        self.chunks_query(
            "SELECT data FROM chunks WHERE run_id = $1 ORDER BY idx",
            &[&run_id],
        )
    }

    fn next_claimable_chunk(&mut self, now: Timestamp) -> Result<Option<RunChunk>, StoreError> {
        // The queue proper: a chunk another worker is claiming is skipped, never waited for.
        Ok(self
            .chunks_query(
                "SELECT data FROM chunks
                 WHERE state = 'pending' OR (state = 'running' AND lease_expires <= $1)
                 ORDER BY seq LIMIT 1 FOR UPDATE SKIP LOCKED",
                &[&now.0],
            )?
            .pop())
    }

    fn put_chunk(&mut self, chunk: &RunChunk) -> Result<(), StoreError> {
        let data = serde_json::to_string(chunk).map_err(json_err)?;
        let index = i32::try_from(chunk.index()).map_err(StoreError::new)?;
        // A running chunk without a lease is claimable at once.
        let expires = chunk.lease_expires().map_or(i64::MIN, |t| t.0);
        self.tx
            .execute(
                "INSERT INTO chunks (run_id, idx, state, lease_expires, data)
                 VALUES ($1, $2, $3, $4, $5)
                 ON CONFLICT (run_id, idx) DO UPDATE SET state = EXCLUDED.state,
                     lease_expires = EXCLUDED.lease_expires, data = EXCLUDED.data",
                &[
                    &chunk.run_id(),
                    &index,
                    &chunk.state().as_str(),
                    &expires,
                    &data,
                ],
            )
            .map_err(|e| noted(&mut self.transient, e))?;
        Ok(())
    }

    fn delete_chunks(&mut self, run_id: &str) -> Result<(), StoreError> {
        self.tx
            .execute("DELETE FROM chunks WHERE run_id = $1", &[&run_id])
            .map_err(|e| noted(&mut self.transient, e))?;
        Ok(())
    }

    fn setting(&mut self, key: &str) -> Result<Option<String>, StoreError> {
        let row = self
            .tx
            .query_opt("SELECT value FROM settings WHERE key = $1", &[&key])
            .map_err(|e| noted(&mut self.transient, e))?;
        Ok(row.map(|r| r.get::<_, String>(0)))
    }

    fn put_setting(&mut self, key: &str, value: &str) -> Result<(), StoreError> {
        self.tx
            .execute(
                "INSERT INTO settings (key, value) VALUES ($1, $2)
                 ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value",
                &[&key, &value],
            )
            .map_err(|e| noted(&mut self.transient, e))?;
        Ok(())
    }
}
