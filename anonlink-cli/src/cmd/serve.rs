//! `anonlink serve`: the Entity Service.

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::Args;
use tracing_subscriber::EnvFilter;

/// Arguments of `anonlink serve`.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address to listen on.
    #[arg(long, env = "ANONLINK_BIND", default_value = "127.0.0.1:8851")]
    bind: SocketAddr,
    /// Directory for the embedded storage (created if missing).
    #[arg(long, env = "ANONLINK_DATA_DIR", default_value = "./anonlink-data")]
    data_dir: PathBuf,
}

pub fn run(args: ServeArgs) -> Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .init();
    std::fs::create_dir_all(&args.data_dir)
        .with_context(|| format!("creating data directory {}", args.data_dir.display()))?;
    let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind(args.bind)
            .await
            .with_context(|| format!("binding {}", args.bind))?;
        tracing::info!(
            address = %listener.local_addr()?,
            data_dir = %args.data_dir.display(),
            "Entity Service listening under /api/v1"
        );
        let state = es_http::AppState {
            config: es_http::ServiceConfig::default(),
        };
        es_http::serve(listener, state, async {
            let _ = tokio::signal::ctrl_c().await;
            tracing::info!("shutting down");
        })
        .await
        .context("serving")
    })
}
