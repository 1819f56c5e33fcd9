//! `GET /metrics`: what an operator scrapes, in the Prometheus text format.
//!
//! Counters and histograms live in one registry for the process (requests, uploads, the
//! workers' work); the state of runs and of the queue is read from the metadata store at
//! each scrape, so it is the same whichever process answers. Labels are routes (their
//! templates, never a project or run id), methods, statuses, states and outcomes: no
//! token, id or encoding.

use std::sync::LazyLock;
use std::time::Instant;

use anonlink_core::service::run::RunState;
use axum::extract::{MatchedPath, Request};
use axum::middleware::Next;
use axum::response::Response;
use prometheus::{
    Encoder, Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge,
    IntGaugeVec, Opts, Registry, TextEncoder,
};

/// The process's metrics.
pub(crate) struct Metrics {
    registry: Registry,
    requests: IntCounterVec,
    request_seconds: HistogramVec,
    pub(crate) uploads: IntCounterVec,
    pub(crate) upload_bytes: IntCounter,
    pub(crate) upload_records: IntCounter,
    pub(crate) chunk_seconds: Histogram,
    pub(crate) solve_seconds: Histogram,
    pub(crate) comparisons: IntCounter,
    pub(crate) work: IntCounterVec,
    pub(crate) store_errors: IntCounter,
    runs: IntGaugeVec,
    chunks: IntGaugeVec,
    rate: IntGauge,
}

/// The one registry of the process.
pub(crate) static METRICS: LazyLock<Metrics> = LazyLock::new(Metrics::new);

/// Seconds buckets from a millisecond to an hour.
const SECONDS: [f64; 14] = [
    0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0, 3600.0,
];

impl Metrics {
    fn new() -> Metrics {
        let registry =
            Registry::new_custom(Some("anonlink".into()), None).unwrap_or_else(|_| Registry::new());
        fn counters(name: &str, help: &str, labels: &[&str]) -> IntCounterVec {
            IntCounterVec::new(Opts::new(name, help), labels).expect("valid metric")
        }
        fn histogram(name: &str, help: &str) -> Histogram {
            Histogram::with_opts(HistogramOpts::new(name, help).buckets(SECONDS.to_vec()))
                .expect("valid metric")
        }
        let m = Metrics {
            requests: counters(
                "http_requests_total",
                "HTTP requests answered, by route, method and status.",
                &["route", "method", "status"],
            ),
            request_seconds: HistogramVec::new(
                HistogramOpts::new(
                    "http_request_duration_seconds",
                    "Time to answer HTTP requests, by route and method.",
                )
                .buckets(SECONDS.to_vec()),
                &["route", "method"],
            )
            .expect("valid metric"),
            uploads: counters(
                "uploads_total",
                "Uploads of encodings, by outcome (accepted, unusable, refused, failed).",
                &["outcome"],
            ),
            upload_bytes: IntCounter::new(
                "upload_bytes_total",
                "Bytes of encodings stored by accepted uploads.",
            )
            .expect("valid metric"),
            upload_records: IntCounter::new(
                "upload_records_total",
                "Encodings stored by accepted uploads.",
            )
            .expect("valid metric"),
            chunk_seconds: histogram(
                "chunk_duration_seconds",
                "Time to compare a chunk of a run (done chunks).",
            ),
            solve_seconds: histogram(
                "solve_duration_seconds",
                "Time to merge, solve and store a run's result (completed runs).",
            ),
            comparisons: IntCounter::new(
                "comparisons_total",
                "Record comparisons of the chunks this process computed.",
            )
            .expect("valid metric"),
            work: counters(
                "worker_attempts_total",
                "Pieces of work the workers ran, by kind (compare, solve, floor) and outcome.",
                &["kind", "outcome"],
            ),
            store_errors: IntCounter::new(
                "store_errors_total",
                "Internal errors (failures of the metadata or blob store) met by requests and workers.",
            )
            .expect("valid metric"),
            runs: IntGaugeVec::new(
                Opts::new("runs", "Runs in the store, by state."),
                &["state"],
            )
            .expect("valid metric"),
            chunks: IntGaugeVec::new(
                Opts::new(
                    "queue_chunks",
                    "Chunks of running runs waiting for a worker (pending) or held (running).",
                ),
                &["state"],
            )
            .expect("valid metric"),
            rate: IntGauge::new(
                "comparison_rate",
                "Comparisons per second of the last solved run (the status endpoint's rate).",
            )
            .expect("valid metric"),
            registry,
        };
        let all: [Box<dyn prometheus::core::Collector>; 13] = [
            Box::new(m.requests.clone()),
            Box::new(m.request_seconds.clone()),
            Box::new(m.uploads.clone()),
            Box::new(m.upload_bytes.clone()),
            Box::new(m.upload_records.clone()),
            Box::new(m.chunk_seconds.clone()),
            Box::new(m.solve_seconds.clone()),
            Box::new(m.comparisons.clone()),
            Box::new(m.work.clone()),
            Box::new(m.store_errors.clone()),
            Box::new(m.runs.clone()),
            Box::new(m.chunks.clone()),
            Box::new(m.rate.clone()),
        ];
        for c in all {
            // Names are fixed and distinct: registering cannot fail.
            let _ = m.registry.register(c);
        }
        m
    }
}

/// Counts and times every request answered by a route (the route's template labels it).
pub(crate) async fn track(request: Request, next: Next) -> Response {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        // `/projects/:project_id`: the template, in the form simple parsers of the text
        // format read (some take braces in a label value for the end of the labels).
        .map_or_else(
            || "unmatched".to_string(),
            |p| p.as_str().replace('{', ":").replace('}', ""),
        );
    let method = request.method().as_str().to_string();
    let start = Instant::now();
    let response = next.run(request).await;
    let m = &*METRICS;
    m.request_seconds
        .with_label_values(&[&route, &method])
        .observe(start.elapsed().as_secs_f64());
    m.requests
        .with_label_values(&[&route, &method, response.status().as_str()])
        .inc();
    // Internal errors answer 500 (their cause is in the log).
    if response.status() == axum::http::StatusCode::INTERNAL_SERVER_ERROR {
        m.store_errors.inc();
    }
    response
}

/// Sets the gauges read from the store (runs per state, pending and running chunks, the
/// comparison rate) and renders every metric in the text format.
pub(crate) fn render(
    runs: &[(RunState, i64)],
    chunks: [i64; 2],
    rate: i64,
) -> Result<Vec<u8>, prometheus::Error> {
    let m = &*METRICS;
    for (s, n) in runs {
        m.runs.with_label_values(&[s.as_str()]).set(*n);
    }
    m.chunks.with_label_values(&["pending"]).set(chunks[0]);
    m.chunks.with_label_values(&["running"]).set(chunks[1]);
    m.rate.set(rate);
    let mut body = Vec::new();
    TextEncoder::new().encode(&m.registry.gather(), &mut body)?;
    Ok(body)
}
