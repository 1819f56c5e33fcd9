//! The embedded default storage: SQLite for metadata, a directory for blobs.

mod fs;
mod sqlite;

pub use fs::FsBlobs;
pub use sqlite::SqliteStore;
