//! Storage backends: the embedded default (SQLite for metadata, a directory for blobs), and
//! for scale-out PostgreSQL for metadata and an object store (S3, MinIO, ...) for blobs.

mod fs;
mod object;
mod postgres;
mod sqlite;

pub use fs::FsBlobs;
pub use object::ObjectBlobs;
pub use postgres::PgStore;
pub use sqlite::SqliteStore;
