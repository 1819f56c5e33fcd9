//! In-memory stores: for tests, and as the simplest reading of the storage traits.

use std::collections::BTreeMap;
use std::io::Read;
use std::sync::Mutex;

use super::Timestamp;
use super::chunk::RunChunk;
use super::project::Project;
use super::run::{Run, RunState};
use super::store::{BlobStore, MetadataStore, StoreError, Tx};
use super::token::{Token, TokenHash};

#[derive(Debug, Clone, Default)]
struct Data {
    projects: BTreeMap<String, (u64, Project)>,
    tokens: BTreeMap<String, Token>,
    runs: BTreeMap<String, (u64, Run)>,
    settings: BTreeMap<String, String>,
    chunks: BTreeMap<(String, u32), (u64, RunChunk)>,
    next_seq: u64,
}

/// Metadata in memory; a transaction works on a copy that replaces the original on commit.
#[derive(Debug, Default)]
pub struct MemoryStore {
    data: Mutex<Data>,
}

impl MetadataStore for MemoryStore {
    fn transact(
        &self,
        f: &mut dyn FnMut(&mut dyn Tx) -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        let mut guard = self
            .data
            .lock()
            .map_err(|_| StoreError::new("memory store poisoned"))?;
        let mut copy = guard.clone();
        f(&mut copy)?;
        *guard = copy;
        Ok(())
    }
}

impl Tx for Data {
    fn project(&mut self, id: &str) -> Result<Option<Project>, StoreError> {
        Ok(self.projects.get(id).map(|(_, p)| p.clone()))
    }
    fn put_project(&mut self, project: &Project) -> Result<(), StoreError> {
        let seq = match self.projects.get(project.id()) {
            Some((seq, _)) => *seq,
            None => {
                self.next_seq += 1;
                self.next_seq
            }
        };
        self.projects
            .insert(project.id().to_string(), (seq, project.clone()));
        Ok(())
    }
    fn projects(&mut self) -> Result<Vec<(String, Timestamp)>, StoreError> {
        let mut all: Vec<_> = self.projects.values().collect();
        all.sort_by_key(|(seq, _)| *seq);
        Ok(all
            .into_iter()
            .map(|(_, p)| (p.id().to_string(), p.time_added()))
            .collect())
    }
    fn token(&mut self, hash: &TokenHash) -> Result<Option<Token>, StoreError> {
        Ok(self
            .tokens
            .get(&hash.0)
            .filter(|t| t.hash.matches(hash))
            .cloned())
    }
    fn put_token(&mut self, token: &Token) -> Result<(), StoreError> {
        self.tokens.insert(token.hash.0.clone(), token.clone());
        Ok(())
    }
    fn run(&mut self, id: &str) -> Result<Option<Run>, StoreError> {
        Ok(self.runs.get(id).map(|(_, r)| r.clone()))
    }
    fn runs(&mut self, project_id: &str) -> Result<Vec<Run>, StoreError> {
        let mut runs: Vec<_> = self
            .runs
            .values()
            .filter(|(_, r)| r.project_id() == project_id)
            .collect();
        runs.sort_by_key(|(seq, _)| *seq);
        Ok(runs.into_iter().map(|(_, r)| r.clone()).collect())
    }
    fn runs_in_state(&mut self, states: &[RunState]) -> Result<Vec<Run>, StoreError> {
        let mut runs: Vec<_> = self
            .runs
            .values()
            .filter(|(_, r)| states.contains(&r.state()))
            .collect();
        runs.sort_by_key(|(seq, _)| *seq);
        Ok(runs.into_iter().map(|(_, r)| r.clone()).collect())
    }
    fn put_run(&mut self, run: &Run) -> Result<(), StoreError> {
        let seq = match self.runs.get(run.id()) {
            Some((seq, _)) => *seq,
            None => {
                self.next_seq += 1;
                self.next_seq
            }
        };
        self.runs.insert(run.id().to_string(), (seq, run.clone()));
        Ok(())
    }
    fn delete_run(&mut self, id: &str) -> Result<(), StoreError> {
        self.runs.remove(id);
        self.delete_chunks(id)
    }
    fn chunk(&mut self, run_id: &str, index: u32) -> Result<Option<RunChunk>, StoreError> {
        let key = (run_id.to_string(), index);
        Ok(self.chunks.get(&key).map(|(_, c)| c.clone()))
    }
    fn chunks(&mut self, run_id: &str) -> Result<Vec<RunChunk>, StoreError> {
        Ok(self
            .chunks
            .range((run_id.to_string(), 0)..=(run_id.to_string(), u32::MAX))
            .map(|(_, (_, c))| c.clone())
            .collect())
    }
    fn next_claimable_chunk(&mut self, now: Timestamp) -> Result<Option<RunChunk>, StoreError> {
        Ok(self
            .chunks
            .values()
            .filter(|(_, c)| c.is_claimable(now))
            .min_by_key(|(seq, _)| *seq)
            .map(|(_, c)| c.clone()))
    }
    fn put_chunk(&mut self, chunk: &RunChunk) -> Result<(), StoreError> {
        let key = (chunk.run_id().to_string(), chunk.index());
        let seq = match self.chunks.get(&key) {
            Some((seq, _)) => *seq,
            None => {
                self.next_seq += 1;
                self.next_seq
            }
        };
        self.chunks.insert(key, (seq, chunk.clone()));
        Ok(())
    }
    fn delete_chunks(&mut self, run_id: &str) -> Result<(), StoreError> {
        self.chunks.retain(|(run, _), _| run != run_id);
        Ok(())
    }
    fn setting(&mut self, key: &str) -> Result<Option<String>, StoreError> {
        Ok(self.settings.get(key).cloned())
    }
    fn put_setting(&mut self, key: &str, value: &str) -> Result<(), StoreError> {
        self.settings.insert(key.to_string(), value.to_string());
        Ok(())
    }
}

/// Blobs in memory.
#[derive(Debug, Default)]
pub struct MemoryBlobs {
    blobs: Mutex<BTreeMap<String, Vec<u8>>>,
}

impl MemoryBlobs {
    /// Whether no blob is stored.
    pub fn is_empty(&self) -> bool {
        self.blobs.lock().map(|b| b.is_empty()).unwrap_or(false)
    }

    /// The keys of every blob stored, in order.
    pub fn keys(&self) -> Vec<String> {
        self.blobs
            .lock()
            .map(|b| b.keys().cloned().collect())
            .unwrap_or_default()
    }
}

impl BlobStore for MemoryBlobs {
    fn put(&self, key: &str, data: &mut dyn Read) -> Result<u64, StoreError> {
        let mut bytes = Vec::new();
        data.read_to_end(&mut bytes)?;
        let len = bytes.len() as u64;
        self.blobs
            .lock()
            .map_err(|_| StoreError::new("memory blobs poisoned"))?
            .insert(key.to_string(), bytes);
        Ok(len)
    }
    fn open(&self, key: &str) -> Result<Box<dyn Read + Send>, StoreError> {
        let blobs = self
            .blobs
            .lock()
            .map_err(|_| StoreError::new("memory blobs poisoned"))?;
        let bytes = blobs
            .get(key)
            .ok_or_else(|| StoreError::new(format!("no blob {key}")))?;
        Ok(Box::new(std::io::Cursor::new(bytes.clone())))
    }
    fn delete(&self, key: &str) -> Result<(), StoreError> {
        self.blobs
            .lock()
            .map_err(|_| StoreError::new("memory blobs poisoned"))?
            .remove(key);
        Ok(())
    }
    fn delete_prefix(&self, prefix: &str) -> Result<(), StoreError> {
        self.blobs
            .lock()
            .map_err(|_| StoreError::new("memory blobs poisoned"))?
            .retain(|k, _| !k.starts_with(prefix));
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::service::conformance;

    #[test]
    fn memory_store_conforms() {
        conformance::metadata(&MemoryStore::default());
        conformance::blobs(&MemoryBlobs::default());
    }
}
