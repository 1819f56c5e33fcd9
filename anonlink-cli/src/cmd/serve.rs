//! `anonlink serve`: the Entity Service on the embedded storage.

use std::io::IsTerminal;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anonlink_core::encoding::SizeLimits;
use anonlink_core::service::defaults;
use anyhow::{Context, Result};
use clap::Args;
use tracing_subscriber::EnvFilter;

/// Arguments of `anonlink serve`.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address to listen on.
    #[arg(long, env = "ANONLINK_BIND", default_value = "127.0.0.1:8851")]
    bind: SocketAddr,
    /// Directory for the embedded storage: metadata.sqlite and blobs/ (created if missing).
    #[arg(long, env = "ANONLINK_DATA_DIR", default_value = "./anonlink-data")]
    data_dir: PathBuf,
    /// PostgreSQL for metadata instead of the embedded SQLite (several processes can share
    /// it): postgres://user:password@host:port/database.
    #[arg(long, env = "DATABASE_URL", hide_env_values = true)]
    database_url: Option<String>,
    /// Object store for encodings and results instead of the data directory:
    /// s3://bucket/prefix (credentials and endpoint from the AWS_* environment variables).
    #[arg(long, env = "ANONLINK_OBJECT_STORE")]
    object_store: Option<String>,
    /// What this process runs: the HTTP API, run workers, or both.
    #[arg(long, value_enum, env = "ANONLINK_ROLE", default_value = "all")]
    role: RoleArg,
    /// Seconds a worker's claim on a chunk (or on a run it solves) lasts without renewal;
    /// after a worker dies, its work is taken over this long after its last report.
    #[arg(long, env = "ANONLINK_LEASE_SECONDS", default_value_t = defaults::LEASE_SECONDS)]
    lease_seconds: u64,
    /// Comparisons per chunk: each run is split into chunks of about this many
    /// comparisons, which any worker (of any process sharing the storage) may claim.
    #[arg(long, env = "ANONLINK_CHUNK_COMPARISONS", default_value_t = defaults::CHUNK_COMPARISONS,
          value_parser = clap::value_parser!(u64).range(1..))]
    chunk_comparisons: u64,
    /// Smallest accepted encoding, in bytes.
    #[arg(long, env = "MIN_ENCODING_SIZE", default_value_t = SizeLimits::default().min_bytes)]
    min_encoding_size: usize,
    /// Largest accepted encoding, in bytes.
    #[arg(long, env = "MAX_ENCODING_SIZE", default_value_t = SizeLimits::default().max_bytes)]
    max_encoding_size: usize,
    /// Workers in this process: chunks computed at the same time (each one uses every core).
    #[arg(long, env = "ANONLINK_WORKERS", default_value_t = defaults::WORKERS)]
    workers: usize,
    /// Memory, in MiB, each worker holds of a chunk's candidate pairs before it sorts them
    /// into runs in the temporary directory (TMPDIR): at low thresholds a chunk takes disk,
    /// not memory.
    #[arg(long, env = "ANONLINK_MEMORY_LIMIT", default_value_t = (defaults::CHUNK_MEMORY_BYTES >> 20) as u64,
          value_parser = clap::value_parser!(u64).range(1..))]
    memory_limit: u64,
    /// Where workers compare chunks without blocks: `cpu`, or `gpu` (a build with the
    /// `gpu` feature and a CUDA device; otherwise the CPU, with a warning). Also
    /// `ANONLINK_KERNEL=gpu`.
    #[arg(long, env = "ANONLINK_DEVICE", value_parser = ["cpu", "gpu"])]
    device: Option<String>,
    /// Largest request body, in bytes.
    #[arg(long, env = "ANONLINK_MAX_REQUEST_BYTES", default_value_t = defaults::MAX_REQUEST_BYTES)]
    max_request_bytes: usize,
    /// A run that finds more candidate pairs than this fails with a clear message.
    #[arg(
        long,
        env = "SOLVER_MAX_CANDIDATE_PAIRS",
        default_value_t = defaults::MAX_CANDIDATE_PAIRS
    )]
    max_candidate_pairs: u64,
    /// The same limit for runs whose solve streams the candidates with state per record —
    /// similarity scores, two-party greedy, the Bayes solver — whose candidates cost disk,
    /// not memory. Default: what the data directory's free disk holds (96 bytes a
    /// candidate), at least --max-candidate-pairs.
    #[arg(long, env = "SOLVER_MAX_STREAMED_CANDIDATE_PAIRS")]
    max_streamed_candidate_pairs: Option<u64>,
    /// Most parties a project may have.
    #[arg(long, env = "ANONLINK_MAX_PARTIES", default_value_t = defaults::MAX_PARTIES,
          value_parser = clap::value_parser!(u32).range(2..))]
    max_parties: u32,
    /// Seconds a connection may take to send a request's headers (also how long an idle
    /// connection is kept).
    #[arg(long, env = "ANONLINK_HEADER_TIMEOUT", default_value_t = 30)]
    header_timeout: u64,
    /// Seconds a request body may send nothing before the request fails.
    #[arg(long, env = "ANONLINK_BODY_TIMEOUT", default_value_t = 60)]
    body_timeout: u64,
    /// Seconds requests in flight get to finish after SIGTERM or Ctrl-C; then open
    /// connections are dropped.
    #[arg(long, env = "ANONLINK_SHUTDOWN_GRACE", default_value_t = 10)]
    shutdown_grace: u64,
    /// Origin allowed to call the API from a browser (CORS), repeatable; `*` for any.
    #[arg(
        long = "cors-origin",
        env = "ANONLINK_CORS_ORIGINS",
        value_delimiter = ','
    )]
    cors_origins: Vec<String>,
    /// Refuse the unauthenticated `GET /projects` listing (the reference's clients use it;
    /// it shows every project's id and creation time to anyone).
    #[arg(long, env = "ANONLINK_NO_PROJECT_LIST")]
    no_project_list: bool,
    /// Requests per second allowed to one client address (bursts of twice that); over it,
    /// 429. Off by default.
    #[arg(long, env = "ANONLINK_RATE_LIMIT")]
    rate_limit: Option<std::num::NonZeroU32>,
    /// Answer `GET /metrics` (Prometheus) on this address instead of the API port; with
    /// `--role worker`, the only way to scrape a worker process.
    #[arg(long, env = "ANONLINK_METRICS_BIND")]
    metrics_bind: Option<SocketAddr>,
    /// Log lines as text (colours only on a terminal) or as JSON objects, one per line.
    #[arg(long, value_enum, env = "ANONLINK_LOG_FORMAT", default_value = "text")]
    log_format: LogFormat,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum RoleArg {
    Api,
    Worker,
    All,
}

/// The streamed-run candidate limit: as given, else what the data directory's disk holds
/// (with external blob storage, the built-in default).
fn streamed_limit(args: &ServeArgs) -> u64 {
    let limit = match args.max_streamed_candidate_pairs {
        Some(limit) => limit,
        None if args.object_store.is_none() => {
            let _ = std::fs::create_dir_all(&args.data_dir);
            match rustix::fs::statvfs(&args.data_dir) {
                Ok(fs) => {
                    defaults::streamed_candidate_limit(fs.f_bavail.saturating_mul(fs.f_frsize))
                }
                Err(_) => defaults::MAX_STREAMED_CANDIDATE_PAIRS,
            }
        }
        None => defaults::MAX_STREAMED_CANDIDATE_PAIRS,
    };
    limit.max(args.max_candidate_pairs)
}

pub fn run(args: ServeArgs) -> Result<()> {
    use tracing_subscriber::prelude::*;
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let (traces, _flush_on_exit) = match crate::traces::layer()? {
        Some((layer, guard)) => (Some(layer), Some(guard)),
        None => (None, None),
    };
    let registry = tracing_subscriber::registry().with(filter).with(traces);
    match args.log_format {
        LogFormat::Json => registry
            .with(
                tracing_subscriber::fmt::layer()
                    .json()
                    .with_current_span(true),
            )
            .init(),
        LogFormat::Text => registry
            .with(tracing_subscriber::fmt::layer().with_ansi(std::io::stdout().is_terminal()))
            .init(),
    }
    let config = es_http::ServiceConfig {
        role: match args.role {
            RoleArg::Api => es_http::Role::Api,
            RoleArg::Worker => es_http::Role::Worker,
            RoleArg::All => es_http::Role::All,
        },
        encoding_limits: SizeLimits {
            min_bytes: args.min_encoding_size,
            max_bytes: args.max_encoding_size,
        },
        max_request_bytes: args.max_request_bytes,
        max_candidate_pairs: args.max_candidate_pairs,
        max_streamed_candidate_pairs: streamed_limit(&args),
        workers: args.workers,
        chunk_memory_bytes: usize::try_from(args.memory_limit.saturating_mul(1 << 20))
            .unwrap_or(usize::MAX),
        lease_seconds: args.lease_seconds.max(1),
        chunk_comparisons: args.chunk_comparisons,
        max_parties: args.max_parties,
        device: anonlink_core::gpu::Backend::choose(args.device.as_deref())?,
        http: es_http::HttpSettings {
            header_read_timeout: Duration::from_secs(args.header_timeout.max(1)),
            body_idle_timeout: Duration::from_secs(args.body_timeout.max(1)),
            shutdown_grace: Duration::from_secs(args.shutdown_grace),
            cors_origins: args.cors_origins.clone(),
            list_projects: !args.no_project_list,
            rate_limit: args.rate_limit,
            metrics_on_api: args.metrics_bind.is_none(),
        },
    };
    let storage = es_http::StorageConfig {
        data_dir: args.data_dir.clone(),
        database_url: args.database_url.clone(),
        object_store: args.object_store.clone(),
    };
    let state = es_http::AppState::open_with(&storage, config).context("opening the storage")?;
    let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    if let Some(address) = args.metrics_bind {
        let listener = runtime
            .block_on(tokio::net::TcpListener::bind(address))
            .with_context(|| format!("binding {address} for the metrics"))?;
        tracing::info!(address = %address, "metrics at /metrics");
        let metrics_state = state.clone();
        runtime.spawn(async move {
            if let Err(e) = es_http::serve_metrics(listener, metrics_state, shutdown_signal()).await
            {
                tracing::error!(error = %e, "serving the metrics failed");
            }
        });
    }
    if matches!(args.role, RoleArg::Worker) {
        tracing::info!("run worker started");
        runtime.block_on(es_http::run_workers(state, shutdown_signal()));
        return Ok(());
    }
    runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind(args.bind)
            .await
            .with_context(|| format!("binding {}", args.bind))?;
        tracing::info!(
            address = %listener.local_addr()?,
            data_dir = %args.data_dir.display(),
            "Entity Service listening under /api/v1"
        );
        es_http::serve(listener, state, shutdown_signal())
            .await
            .context("serving")
    })
}

/// Completes on Ctrl-C or SIGTERM (what container runtimes send to stop a process).
async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    let _ = tokio::signal::ctrl_c().await;
    tracing::info!("shutting down: giving back work in progress");
}
