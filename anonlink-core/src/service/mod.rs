//! The Entity Service's domain: projects, parties' uploads and runs, as state machines over
//! storage traits. No HTTP and no particular database here: `es-http` parses requests,
//! calls these rules and writes the answers, and supplies the stores (SQLite + files by
//! default, PostgreSQL + an object store to scale out).
//!
//! A project's life:
//!
//! 1. [`project::Project::create_checked`] mints its id and [`project::Credentials`]: a
//!    result token for its owner and one update token per party ([`access`] says what each
//!    token may do).
//! 2. Each party uploads once ([`upload`]): refused (4xx) uploads store nothing and leave
//!    the token usable; accepted ones are durable before they are acknowledged. When the
//!    last party has uploaded, the project checks the encoding sizes (§5.4).
//! 3. Runs ([`run::Run`]) go `created → queued → running → completed | error`. On the
//!    [`queue`], workers plan a run into [`chunk`]s, compare them under leases
//!    ([`work`]), and one of them merges, solves and stores the result documents.
//!
//! Storage: [`store::MetadataStore`] (transactions over projects, tokens, runs, chunks) and
//! [`store::BlobStore`] (durable blobs, keyed as [`keys`] says); [`memory`] holds both in
//! memory, and `conformance` (feature `testing`) is the suite every backend passes.

pub mod access;
pub mod chunk;
#[cfg(any(test, feature = "testing"))]
pub mod conformance;
pub mod defaults;
pub mod keys;
pub mod memory;
pub mod project;
pub mod queue;
pub mod run;
pub mod store;
pub mod token;
pub mod upload;
pub mod work;

use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// A point in time: microseconds since the Unix epoch, UTC.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
pub struct Timestamp(pub i64);

impl Timestamp {
    /// The current time.
    pub fn now() -> Timestamp {
        let since = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        Timestamp(since.as_micros() as i64)
    }

    /// This time plus `micros` microseconds.
    pub fn plus_micros(self, micros: i64) -> Timestamp {
        Timestamp(self.0.saturating_add(micros))
    }

    /// Seconds from `earlier` to `self`.
    pub fn seconds_since(self, earlier: Timestamp) -> f64 {
        (self.0 - earlier.0) as f64 / 1e6
    }
}

/// Where the queue reads the time: leases lapse, and runs are stamped, by this clock.
pub trait Clock: Send + Sync {
    /// The current time.
    fn now(&self) -> Timestamp;
}

/// The system's clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Timestamp {
        Timestamp::now()
    }
}

/// A clock that moves only when told to: for tests of leases and takeovers.
#[derive(Debug, Default)]
pub struct ManualClock(AtomicI64);

impl ManualClock {
    /// A clock standing at `at`.
    pub fn at(at: Timestamp) -> ManualClock {
        ManualClock(AtomicI64::new(at.0))
    }

    /// Moves the clock `micros` microseconds forward.
    pub fn advance(&self, micros: i64) {
        self.0.fetch_add(micros, Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Timestamp {
        Timestamp(self.0.load(Ordering::SeqCst))
    }
}
