//! Storage that fails while a run is computed: a passing failure is retried and the result is
//! exact; a lasting one fails the run with a message after a bounded number of attempts.

mod common;

use std::io::Read;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use anonlink_core::service::store::{BlobStore, StoreError};
use common::*;
use es_http::storage::{FsBlobs, SqliteStore};

/// File blobs whose ranged reads (the workers' reads of encodings) fail `failures` times.
struct FlakyBlobs {
    inner: FsBlobs,
    failures: AtomicUsize,
}

impl BlobStore for FlakyBlobs {
    fn put(&self, key: &str, data: &mut dyn Read) -> Result<u64, StoreError> {
        self.inner.put(key, data)
    }
    fn open(&self, key: &str) -> Result<Box<dyn Read + Send>, StoreError> {
        self.inner.open(key)
    }
    fn open_range(
        &self,
        key: &str,
        offset: u64,
        len: u64,
    ) -> Result<Box<dyn Read + Send>, StoreError> {
        let left = self.failures.load(Ordering::SeqCst);
        if left > 0 {
            self.failures.store(left - 1, Ordering::SeqCst);
            return Err(StoreError::new("object store unreachable"));
        }
        self.inner.open_range(key, offset, len)
    }
    fn delete(&self, key: &str) -> Result<(), StoreError> {
        self.inner.delete(key)
    }
    fn delete_prefix(&self, prefix: &str) -> Result<(), StoreError> {
        self.inner.delete_prefix(prefix)
    }
}

fn server_with_flaky_blobs(dir: &std::path::Path, failures: usize) -> Server {
    let config = es_http::ServiceConfig {
        // One worker, so the failures land on consecutive attempts at the same chunk.
        workers: 1,
        ..test_config()
    };
    let state = es_http::AppState::new(
        config,
        Arc::new(SqliteStore::open(&dir.join("meta.sqlite")).unwrap()),
        Arc::new(FlakyBlobs {
            inner: FsBlobs::open(&dir.join("blobs")).unwrap(),
            failures: AtomicUsize::new(failures),
        }),
    );
    Server::start_state(state)
}

#[test]
fn a_passing_storage_failure_is_retried() {
    let dir = tempfile::tempdir().unwrap();
    // Two failed reads: the first chunk's first attempt, then its second.
    let server = server_with_flaky_blobs(dir.path(), 2);
    let p = febrl4_groups_project(&server);
    let run = server.create_run(&p, 0.8);
    server.wait_for_run(&p, &run);
    let result = server.result(&p, &run, &p.result_token);
    assert_eq!(
        canonical_groups(&result),
        groups_fixture("febrl4/greedy_groups_t0.8.json")
    );
}

#[test]
fn a_lasting_storage_failure_fails_the_run_with_its_cause() {
    let dir = tempfile::tempdir().unwrap();
    let server = server_with_flaky_blobs(dir.path(), usize::MAX);
    let p = febrl4_groups_project(&server);
    let run = server.create_run(&p, 0.8);
    let start = std::time::Instant::now();
    let status = loop {
        let status = server.status(&p, &run);
        if status["state"] != "running" && status["state"] != "queued" {
            break status;
        }
        assert!(
            start.elapsed().as_secs() < 60,
            "the run never failed: {status}"
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    };
    assert_eq!(status["state"], "error", "{status}");
    let message = status["message"].as_str().unwrap();
    assert!(
        message.contains("stored encodings") && message.contains("object store unreachable"),
        "{message}"
    );
}
