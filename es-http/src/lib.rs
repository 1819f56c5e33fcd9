/*!
The Anonlink Entity Service REST API (behaviour of the reference v1.12, plus the later
`binaryclks` endpoint, run failure messages and `total_number_comparisons`) over
`anonlink-core`.

# Brief overview

- [`AppState::open`] opens the embedded storage in a data directory: SQLite for metadata
  ([`storage::SqliteStore`]) and files for encodings and results ([`storage::FsBlobs`]).
  Any other [`MetadataStore`]/[`BlobStore`] pair works through [`AppState::new`].
- [`app`] builds the router: every endpoint under `/api/v1`, problem+json errors.
- [`serve`] runs it on a listener together with the workers, which take work from the
  store's queue (`anonlink_core::service::queue`): chunks of runs to compare, under leases,
  and runs whose chunks are all done to merge and solve.

Uploads are durable when answered: encodings are written and synced before the metadata
commit, and the metadata commit is synced before the 201. Work in flight when the process
died is claimed again after restart: finished chunks are kept, the interrupted ones are
recomputed from the stored uploads.
*/
#![deny(missing_docs)]
#![forbid(unsafe_code)]

mod error;
mod http;
mod metrics;
mod routes;
pub mod storage;
mod time;
mod worker;

pub use error::ApiError;
pub use http::HttpSettings;

use std::fs::File;
use std::future::Future;
use std::path::Path;
use std::sync::Arc;

use anonlink_core::encoding::SizeLimits;
use anonlink_core::service::defaults;
use anonlink_core::service::queue::{Queue, QueueConfig};
use anonlink_core::service::store::{BlobStore, MetadataStore, StoreError};
use anonlink_core::service::upload::UploadClaims;
use anonlink_core::service::work::{WorkConfig, Worker};
use axum::Router;
use axum::extract::{DefaultBodyLimit, Request};
use tower::Layer;

/// Which parts of the service a process runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// The HTTP API only (stateless; any number of them behind a load balancer).
    Api,
    /// Run workers only.
    Worker,
    /// Both (the default, and the only sensible role with the embedded storage).
    All,
}

/// Where the service keeps its data.
#[derive(Debug, Clone)]
pub struct StorageConfig {
    /// Directory of the embedded storage (SQLite file, blob directory, lock).
    pub data_dir: std::path::PathBuf,
    /// PostgreSQL for metadata instead of SQLite: `postgres://user:password@host/db`.
    pub database_url: Option<String>,
    /// An object store for blobs instead of the data directory: `s3://bucket/prefix`.
    pub object_store: Option<String>,
}

/// Settings of the service.
#[derive(Debug, Clone)]
pub struct ServiceConfig {
    /// Which parts this process runs.
    pub role: Role,
    /// Allowed encoding sizes in bytes (reference defaults 1 and 1024).
    pub encoding_limits: SizeLimits,
    /// Largest request body in bytes.
    pub max_request_bytes: usize,
    /// A run that finds more candidate pairs fails with a clear message (runs whose solve
    /// keeps state per pair).
    pub max_candidate_pairs: u64,
    /// The same for runs whose solve streams with state per record (similarity scores,
    /// two-party greedy, Bayes).
    pub max_streamed_candidate_pairs: u64,
    /// Workers in this process: chunks computed at the same time (each uses every core).
    pub workers: usize,
    /// Bytes each worker holds of a chunk's candidate pairs before it sorts them into runs
    /// on disk.
    pub chunk_memory_bytes: usize,
    /// Seconds a worker's claim on a run or chunk lasts without renewal.
    pub lease_seconds: u64,
    /// Target number of comparisons per chunk: a run's comparisons are split into chunks
    /// of about this size, computed by whichever workers claim them.
    pub chunk_comparisons: u64,
    /// Most parties a project may have.
    pub max_parties: u32,
    /// The HTTP server's timeouts, CORS, listing and rate limit.
    pub http: HttpSettings,
    /// Where this process's workers compare chunks without blocks: the CPU, or a GPU
    /// (opened at start; without one, the CPU with a warning).
    pub device: anonlink_core::gpu::Backend,
}

impl Default for ServiceConfig {
    fn default() -> Self {
        ServiceConfig {
            role: Role::All,
            encoding_limits: SizeLimits::default(),
            max_request_bytes: defaults::MAX_REQUEST_BYTES,
            max_candidate_pairs: defaults::MAX_CANDIDATE_PAIRS,
            max_streamed_candidate_pairs: defaults::MAX_STREAMED_CANDIDATE_PAIRS,
            workers: defaults::WORKERS,
            chunk_memory_bytes: defaults::CHUNK_MEMORY_BYTES,
            lease_seconds: defaults::LEASE_SECONDS,
            chunk_comparisons: defaults::CHUNK_COMPARISONS,
            max_parties: defaults::MAX_PARTIES,
            http: HttpSettings::default(),
            device: anonlink_core::gpu::Backend::Cpu,
        }
    }
}

impl ServiceConfig {
    /// The settings of this process's run workers.
    pub fn work(&self) -> WorkConfig {
        WorkConfig {
            queue: QueueConfig {
                lease_micros: (self.lease_seconds.max(1) as i64).saturating_mul(1_000_000),
                chunk_comparisons: self.chunk_comparisons,
                ..QueueConfig::default()
            },
            max_candidate_pairs: self.max_candidate_pairs,
            max_streamed_candidate_pairs: self.max_streamed_candidate_pairs,
            chunk_memory_bytes: self.chunk_memory_bytes,
            ..WorkConfig::default()
        }
    }
}

/// Shared state of the handlers and workers.
#[derive(Clone)]
pub struct AppState {
    inner: Arc<Inner>,
}

struct Inner {
    config: ServiceConfig,
    meta: Arc<dyn MetadataStore>,
    blobs: Arc<dyn BlobStore>,
    /// Wakes the workers when a run is queued.
    wake: tokio::sync::Notify,
    /// The core's workers: the work protocol over the stores, and the stop flag.
    worker: Arc<Worker>,
    /// Uploads arriving in this process, so a racing one with the same token is refused.
    upload_claims: UploadClaims,
    /// Held for the life of the process: one server per data directory.
    _lock: Option<File>,
}

impl std::fmt::Debug for AppState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppState")
            .field("config", &self.inner.config)
            .finish_non_exhaustive()
    }
}

impl AppState {
    /// State over the given stores.
    pub fn new(
        config: ServiceConfig,
        meta: Arc<dyn MetadataStore>,
        blobs: Arc<dyn BlobStore>,
    ) -> AppState {
        AppState::with_lock(config, meta, blobs, None)
    }

    /// State over the given stores whose workers compare on `device` (one already open,
    /// such as [`anonlink_core::gpu::Emulated`]) rather than on the one `config.device`
    /// names.
    pub fn new_on_device(
        config: ServiceConfig,
        meta: Arc<dyn MetadataStore>,
        blobs: Arc<dyn BlobStore>,
        device: Option<anonlink_core::gpu::SharedDevice>,
    ) -> AppState {
        AppState::build(config, meta, blobs, None, device)
    }

    fn with_lock(
        config: ServiceConfig,
        meta: Arc<dyn MetadataStore>,
        blobs: Arc<dyn BlobStore>,
        lock: Option<File>,
    ) -> AppState {
        // Only a process that runs workers needs the device.
        let device = match config.role {
            Role::Api => None,
            _ => config.device.open().0,
        };
        AppState::build(config, meta, blobs, lock, device)
    }

    fn build(
        config: ServiceConfig,
        meta: Arc<dyn MetadataStore>,
        blobs: Arc<dyn BlobStore>,
        lock: Option<File>,
        device: Option<anonlink_core::gpu::SharedDevice>,
    ) -> AppState {
        let worker =
            Arc::new(Worker::new(meta.clone(), blobs.clone(), config.work()).with_device(device));
        AppState {
            inner: Arc::new(Inner {
                config,
                meta,
                blobs,
                wake: tokio::sync::Notify::new(),
                worker,
                upload_claims: UploadClaims::default(),
                _lock: lock,
            }),
        }
    }

    /// The embedded storage in `data_dir`: `metadata.sqlite` and `blobs/`.
    ///
    /// Takes an exclusive lock on the directory, so two servers never share it; runs left
    /// running by a previous process are released at once, to be computed again, and the
    /// temporary files of blobs it was writing when it died are removed.
    ///
    /// # Errors
    /// The directory cannot be created, is in use, or the database cannot be opened.
    pub fn open(data_dir: &Path, config: ServiceConfig) -> Result<AppState, StoreError> {
        std::fs::create_dir_all(data_dir)?;
        let lock = File::create(data_dir.join(".lock"))?;
        lock.try_lock().map_err(|_| {
            StoreError::new(format!(
                "data directory {} is in use by another server",
                data_dir.display()
            ))
        })?;
        let meta = storage::SqliteStore::open(&data_dir.join("metadata.sqlite"))?;
        let blobs = storage::FsBlobs::open(&data_dir.join("blobs"))?;
        // Under the lock: nothing else writes here, so temporary files are a dead
        // process's half-written blobs.
        let swept = blobs.sweep_temporary()?;
        if swept > 0 {
            tracing::info!(
                files = swept,
                "removed temporary files left by a killed process"
            );
        }
        let interrupted = Queue::new(&meta, config.work().queue).release_leases()?;
        if interrupted > 0 {
            tracing::info!(
                runs = interrupted,
                "re-queued work interrupted by a restart"
            );
        }
        Ok(AppState::with_lock(
            config,
            Arc::new(meta),
            Arc::new(blobs),
            Some(lock),
        ))
    }

    /// The storage `storage` names: PostgreSQL and/or an object store when given, the
    /// embedded storage in the data directory otherwise.
    ///
    /// # Errors
    /// A backend cannot be reached or opened.
    pub fn open_with(
        storage: &StorageConfig,
        config: ServiceConfig,
    ) -> Result<AppState, StoreError> {
        if storage.database_url.is_none() && storage.object_store.is_none() {
            return AppState::open(&storage.data_dir, config);
        }
        let meta: Arc<dyn MetadataStore> = match &storage.database_url {
            Some(url) => Arc::new(storage::PgStore::connect(url)?),
            None => {
                std::fs::create_dir_all(&storage.data_dir)?;
                Arc::new(storage::SqliteStore::open(
                    &storage.data_dir.join("metadata.sqlite"),
                )?)
            }
        };
        let blobs: Arc<dyn BlobStore> = match &storage.object_store {
            Some(url) => Arc::new(storage::ObjectBlobs::open(url)?),
            None => Arc::new(storage::FsBlobs::open(&storage.data_dir.join("blobs"))?),
        };
        // Shared storage: other processes' runs are theirs until their leases lapse.
        Ok(AppState::new(config, meta, blobs))
    }

    /// The service's settings.
    pub fn config(&self) -> &ServiceConfig {
        &self.inner.config
    }
}

/// The application: every route under `/api/v1`, with problem+json fallbacks.
pub fn app(state: AppState) -> Router {
    let config = state.config().clone();
    let limit = config.max_request_bytes;
    let mut router = Router::new()
        .nest(
            "/api/v1",
            routes::router().route_layer(axum::middleware::from_fn(metrics::track)),
        )
        .fallback(error::not_found)
        .layer(DefaultBodyLimit::max(limit))
        .layer(tower_http::timeout::RequestBodyTimeoutLayer::new(
            config.http.body_idle_timeout,
        ))
        .layer(axum::middleware::from_fn_with_state(
            limit,
            http::refuse_declared_oversize,
        ));
    if config.http.metrics_on_api {
        router = router.route("/metrics", axum::routing::get(routes::metrics::scrape));
    }
    if let Some(per_second) = config.http.rate_limit {
        router = router.layer(axum::middleware::from_fn_with_state(
            http::limiter(per_second),
            http::rate_limit,
        ));
    }
    if !config.http.cors_origins.is_empty() {
        router = router.layer(http::cors(&config.http.cors_origins));
    }
    router
        .layer(axum::middleware::from_fn(http::problem_json))
        .layer(
            tower_http::trace::TraceLayer::new_for_http().make_span_with(
                // Method, path and a request id; never headers (they carry tokens) or bodies.
                |request: &Request| {
                    static NEXT: std::sync::atomic::AtomicU64 =
                        std::sync::atomic::AtomicU64::new(1);
                    let id = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    tracing::info_span!(
                        "request",
                        id,
                        method = %request.method(),
                        path = %request.uri().path(),
                    )
                },
            ),
        )
        .with_state(state)
}

/// Collapses runs of `/` in the request path, keeping the query.
fn collapse_slashes<B>(mut request: axum::http::Request<B>) -> axum::http::Request<B> {
    let uri = request.uri();
    if uri.path().contains("//") {
        let mut path = String::with_capacity(uri.path().len());
        for c in uri.path().chars() {
            if !(c == '/' && path.ends_with('/')) {
                path.push(c);
            }
        }
        let path_and_query = match uri.query() {
            Some(q) => format!("{path}?{q}"),
            None => path,
        };
        let mut parts = uri.clone().into_parts();
        if let Ok(pq) = path_and_query.parse() {
            parts.path_and_query = Some(pq);
            if let Ok(new_uri) = axum::http::Uri::from_parts(parts) {
                *request.uri_mut() = new_uri;
            }
        }
    }
    request
}

/// Serves the application on `listener`, with the run workers, until `shutdown` completes.
/// Then requests in flight get the shutdown grace to finish ([`HttpSettings`]), and the
/// workers stop: work in progress is given back to the queue (for this process after a
/// restart, or for the other workers at once), not left to a lapsing lease.
///
/// # Errors
/// When the server fails to accept connections.
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let workers = if state.config().role == Role::Api {
        Vec::new()
    } else {
        worker::spawn(state.clone())
    };
    let worker_state = state.clone();
    let settings = state.config().http.clone();
    let router = app(state);
    // Rewriting must happen before routing, so it wraps the router instead of being one of
    // its layers.
    let service =
        tower::util::MapRequestLayer::new(collapse_slashes::<hyper::body::Incoming>).layer(router);
    let served = http::serve_connections(listener, service, &settings, shutdown).await;
    worker::stop(&worker_state, workers).await;
    served
}

/// Answers `GET /metrics` alone on `listener` (`anonlink serve --metrics-bind`), for API
/// and worker processes alike, until `shutdown` completes.
///
/// # Errors
/// Accepting connections failed.
pub async fn serve_metrics(
    listener: tokio::net::TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let router = Router::new()
        .route("/metrics", axum::routing::get(routes::metrics::scrape))
        .with_state(state);
    axum::serve(listener, router)
        .with_graceful_shutdown(shutdown)
        .await
}

/// Runs only the workers (role `worker`) until `shutdown` completes; then they give back
/// the work they hold, as in [`serve`].
pub async fn run_workers(state: AppState, shutdown: impl Future<Output = ()>) {
    let workers = worker::spawn(state.clone());
    shutdown.await;
    worker::stop(&state, workers).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn collapses_repeated_slashes() {
        let req = Request::builder()
            .uri("http://h/api/v1//projects///x?a=1")
            .body(axum::body::Body::empty())
            .unwrap();
        assert_eq!(collapse_slashes(req).uri().path(), "/api/v1/projects/x");
    }
}
