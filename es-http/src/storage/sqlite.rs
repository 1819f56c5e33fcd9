//! Metadata in SQLite (bundled): one row per project, token, run and setting, each holding
//! its record as JSON, with the columns the queries need beside it.
//!
//! The journal is WAL with `synchronous = FULL`: a transaction that returned is on disk, so
//! a `kill -9` (or a power cut) loses nothing that was acknowledged.

use std::path::Path;
use std::sync::Mutex;

use anonlink_core::service::Timestamp;
use anonlink_core::service::chunk::RunChunk;
use anonlink_core::service::project::Project;
use anonlink_core::service::run::{Run, RunState};
use anonlink_core::service::store::{MetadataStore, StoreError, Tx};
use anonlink_core::service::token::{Token, TokenHash};
use rusqlite::{Connection, OptionalExtension, params};

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS projects (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT UNIQUE NOT NULL,
    data TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS tokens (
    hash TEXT PRIMARY KEY,
    data TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS runs (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
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
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    run_id TEXT NOT NULL,
    idx INTEGER NOT NULL,
    state TEXT NOT NULL,
    lease_expires INTEGER,
    data TEXT NOT NULL,
    UNIQUE (run_id, idx)
);
CREATE INDEX IF NOT EXISTS chunks_by_state ON chunks(state, seq);
";

/// Metadata in one SQLite file.
#[derive(Debug)]
pub struct SqliteStore {
    conn: Mutex<Connection>,
}

fn db_err(e: rusqlite::Error) -> StoreError {
    StoreError::caused_by("sqlite", e)
}

fn json_err(e: serde_json::Error) -> StoreError {
    StoreError::caused_by("stored record is not valid", e)
}

impl SqliteStore {
    /// Opens (creating if needed) the database at `path`.
    ///
    /// # Errors
    /// The file cannot be opened or the schema cannot be applied.
    pub fn open(path: &Path) -> Result<SqliteStore, StoreError> {
        let conn = Connection::open(path).map_err(db_err)?;
        conn.pragma_update(None, "journal_mode", "WAL")
            .map_err(db_err)?;
        conn.pragma_update(None, "synchronous", "FULL")
            .map_err(db_err)?;
        conn.busy_timeout(std::time::Duration::from_secs(30))
            .map_err(db_err)?;
        conn.execute_batch(SCHEMA).map_err(db_err)?;
        Ok(SqliteStore {
            conn: Mutex::new(conn),
        })
    }
}

impl MetadataStore for SqliteStore {
    fn transact(
        &self,
        f: &mut dyn FnMut(&mut dyn Tx) -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        let mut conn = self
            .conn
            .lock()
            .map_err(|_| StoreError::new("sqlite connection poisoned"))?;
        let tx = conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .map_err(db_err)?;
        let mut view = SqliteTx { tx: &tx };
        f(&mut view)?;
        tx.commit().map_err(db_err)
    }
}

struct SqliteTx<'a> {
    tx: &'a rusqlite::Transaction<'a>,
}

impl SqliteTx<'_> {
    fn chunks_where(
        &mut self,
        clause: &str,
        args: impl rusqlite::Params,
    ) -> Result<Vec<RunChunk>, StoreError> {
        let sql = format!("SELECT data FROM chunks WHERE {clause}");
        let mut stmt = self.tx.prepare_cached(&sql).map_err(db_err)?;
        let rows = stmt
            .query_map(args, |r| r.get::<_, String>(0))
            .map_err(db_err)?;
        let mut chunks = Vec::new();
        for row in rows {
            chunks.push(serde_json::from_str(&row.map_err(db_err)?).map_err(json_err)?);
        }
        Ok(chunks)
    }

    fn runs_where(&mut self, clause: &str, arg: &str) -> Result<Vec<Run>, StoreError> {
        let sql = format!("SELECT data FROM runs WHERE {clause} ORDER BY seq");
        let mut stmt = self.tx.prepare_cached(&sql).map_err(db_err)?;
        let rows = stmt
            .query_map(params![arg], |r| r.get::<_, String>(0))
            .map_err(db_err)?;
        let mut runs = Vec::new();
        for row in rows {
            runs.push(serde_json::from_str(&row.map_err(db_err)?).map_err(json_err)?);
        }
        Ok(runs)
    }
}

impl Tx for SqliteTx<'_> {
    fn project(&mut self, id: &str) -> Result<Option<Project>, StoreError> {
        let data: Option<String> = self
            .tx
            .query_row(
                "SELECT data FROM projects WHERE id = ?1",
                params![id],
                |r| r.get(0),
            )
            .optional()
            .map_err(db_err)?;
        data.map(|d| serde_json::from_str(&d).map_err(json_err))
            .transpose()
    }

    fn put_project(&mut self, project: &Project) -> Result<(), StoreError> {
        let data = serde_json::to_string(project).map_err(json_err)?;
        self.tx
            .execute(
                "INSERT INTO projects (id, data) VALUES (?1, ?2)
                 ON CONFLICT(id) DO UPDATE SET data = excluded.data",
                params![project.id(), data],
            )
            .map_err(db_err)?;
        Ok(())
    }

    fn projects(&mut self) -> Result<Vec<(String, Timestamp)>, StoreError> {
        let mut stmt = self
            .tx
            .prepare_cached("SELECT data FROM projects ORDER BY seq")
            .map_err(db_err)?;
        let rows = stmt
            .query_map([], |r| r.get::<_, String>(0))
            .map_err(db_err)?;
        let mut out = Vec::new();
        for row in rows {
            let p: Project = serde_json::from_str(&row.map_err(db_err)?).map_err(json_err)?;
            out.push((p.id().to_string(), p.time_added()));
        }
        Ok(out)
    }

    fn token(&mut self, hash: &TokenHash) -> Result<Option<Token>, StoreError> {
        let data: Option<String> = self
            .tx
            .query_row(
                "SELECT data FROM tokens WHERE hash = ?1",
                params![hash.0],
                |r| r.get(0),
            )
            .optional()
            .map_err(db_err)?;
        let token: Option<Token> = data
            .map(|d| serde_json::from_str(&d).map_err(json_err))
            .transpose()?;
        Ok(token.filter(|t| t.hash.matches(hash)))
    }

    fn put_token(&mut self, token: &Token) -> Result<(), StoreError> {
        let data = serde_json::to_string(token).map_err(json_err)?;
        self.tx
            .execute(
                "INSERT INTO tokens (hash, data) VALUES (?1, ?2)
                 ON CONFLICT(hash) DO UPDATE SET data = excluded.data",
                params![token.hash.0, data],
            )
            .map_err(db_err)?;
        Ok(())
    }

    fn run(&mut self, id: &str) -> Result<Option<Run>, StoreError> {
        Ok(self.runs_where("id = ?1", id)?.pop())
    }

    fn runs(&mut self, project_id: &str) -> Result<Vec<Run>, StoreError> {
        self.runs_where("project_id = ?1", project_id)
    }

    fn runs_in_state(&mut self, states: &[RunState]) -> Result<Vec<Run>, StoreError> {
        let mut all = Vec::new();
        for state in states {
            all.extend(self.runs_where("state = ?1", state.as_str())?);
        }
        all.sort_by_key(|r: &Run| r.time_added());
        Ok(all)
    }

    fn put_run(&mut self, run: &Run) -> Result<(), StoreError> {
        let data = serde_json::to_string(run).map_err(json_err)?;
        self.tx
            .execute(
                "INSERT INTO runs (id, project_id, state, data) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT(id) DO UPDATE SET state = excluded.state, data = excluded.data",
                params![run.id(), run.project_id(), run.state().as_str(), data],
            )
            .map_err(db_err)?;
        Ok(())
    }

    fn delete_run(&mut self, id: &str) -> Result<(), StoreError> {
        self.tx
            .execute("DELETE FROM runs WHERE id = ?1", params![id])
            .map_err(db_err)?;
        self.delete_chunks(id)
    }

    fn chunk(&mut self, run_id: &str, index: u32) -> Result<Option<RunChunk>, StoreError> {
        Ok(self
            .chunks_where("run_id = ?1 AND idx = ?2", params![run_id, index])?
            .pop())
    }

    fn chunks(&mut self, run_id: &str) -> Result<Vec<RunChunk>, StoreError> {
        self.chunks_where("run_id = ?1 ORDER BY idx", params![run_id])
    }

    fn next_claimable_chunk(&mut self, now: Timestamp) -> Result<Option<RunChunk>, StoreError> {
        // Transactions are serialised (BEGIN IMMEDIATE): no other claimer to skip.
        Ok(self
            .chunks_where(
                "state = 'pending' OR (state = 'running' AND lease_expires <= ?1)
                 ORDER BY seq LIMIT 1",
                params![now.0],
            )?
            .pop())
    }

    fn put_chunk(&mut self, chunk: &RunChunk) -> Result<(), StoreError> {
        let data = serde_json::to_string(chunk).map_err(json_err)?;
        // A running chunk without a lease is claimable at once.
        let expires = chunk.lease_expires().map_or(i64::MIN, |t| t.0);
        self.tx
            .execute(
                "INSERT INTO chunks (run_id, idx, state, lease_expires, data)
                 VALUES (?1, ?2, ?3, ?4, ?5)
                 ON CONFLICT(run_id, idx) DO UPDATE SET state = excluded.state,
                     lease_expires = excluded.lease_expires, data = excluded.data",
                params![
                    chunk.run_id(),
                    chunk.index(),
                    chunk.state().as_str(),
                    expires,
                    data
                ],
            )
            .map_err(db_err)?;
        Ok(())
    }

    fn delete_chunks(&mut self, run_id: &str) -> Result<(), StoreError> {
        self.tx
            .execute("DELETE FROM chunks WHERE run_id = ?1", params![run_id])
            .map_err(db_err)?;
        Ok(())
    }

    fn setting(&mut self, key: &str) -> Result<Option<String>, StoreError> {
        self.tx
            .query_row(
                "SELECT value FROM settings WHERE key = ?1",
                params![key],
                |r| r.get(0),
            )
            .optional()
            .map_err(db_err)
    }

    fn put_setting(&mut self, key: &str, value: &str) -> Result<(), StoreError> {
        self.tx
            .execute(
                "INSERT INTO settings (key, value) VALUES (?1, ?2)
                 ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                params![key, value],
            )
            .map_err(db_err)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use anonlink_core::service::conformance;

    #[test]
    fn sqlite_store_conforms_and_persists() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("meta.sqlite");
        conformance::metadata(&SqliteStore::open(&path).unwrap());
        // Reopened, the committed projects are still there.
        let store = SqliteStore::open(&path).unwrap();
        let mut found = 0;
        store
            .transact(&mut |tx| {
                for (id, _) in tx.projects()? {
                    found += usize::from(tx.project(&id)?.is_some());
                }
                Ok(())
            })
            .unwrap();
        assert!(found >= 2, "{found} projects after reopening");
    }
}
