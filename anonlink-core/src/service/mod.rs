//! The Entity Service's domain: projects, parties' uploads and runs, as state machines over
//! storage traits. No HTTP and no particular database here: `es-http` drives these types and
//! supplies the stores (SQLite + files by default).
//!
//! - [`project`]: a project, its parties' upload states and the encoding-size check that
//!   runs when the last party has uploaded (API reference §5.2–5.4).
//! - [`run`]: a run's life, `created → queued → running → completed | error`, its stages
//!   and progress (§5.5), and the status view clients poll (§3.12).
//! - [`store`]: the storage traits — transactions over metadata, durable blobs.
//! - [`chunk`] and [`queue`]: a run's comparisons split into chunks that any number of
//!   workers claim under leases, then merged and solved by one of them.
//! - [`memory`]: an in-memory store, for tests and for the conformance suite.
//! - [`token`]: credentials from a CSPRNG, kept only as hashes.

pub mod chunk;
pub mod memory;
pub mod project;
pub mod queue;
pub mod run;
pub mod store;
pub mod token;

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
