//! Optional trace export with OpenTelemetry (OTLP over HTTP/protobuf), off unless an OTLP
//! endpoint is configured by the standard variables (`OTEL_EXPORTER_OTLP_ENDPOINT` or
//! `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`; `OTEL_SERVICE_NAME`, `OTEL_RESOURCE_ATTRIBUTES`
//! and the exporter's other `OTEL_*` settings are read by the SDK). Every tracing span of
//! the service — a request (with its id), an upload's decoding, a chunk's comparison, a
//! run's merge and solve — becomes a span.

use opentelemetry::trace::TracerProvider as _;
use opentelemetry_sdk::trace::SdkTracerProvider;
use tracing_subscriber::Layer;
use tracing_subscriber::filter::filter_fn;
use tracing_subscriber::registry::LookupSpan;

/// The exporter, while it runs; flushed and stopped when dropped.
pub struct Traces(SdkTracerProvider);

impl Drop for Traces {
    fn drop(&mut self) {
        if let Err(e) = self.0.shutdown() {
            eprintln!("anonlink: flushing traces: {e}");
        }
    }
}

/// Whether the environment asks for trace export.
pub fn configured() -> bool {
    [
        "OTEL_EXPORTER_OTLP_ENDPOINT",
        "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
    ]
    .iter()
    .any(|v| std::env::var_os(v).is_some_and(|s| !s.is_empty()))
        && std::env::var("OTEL_TRACES_EXPORTER").map_or(true, |v| v != "none")
}

/// The tracing layer that exports spans, and its guard; `None` when not configured.
///
/// # Errors
/// The exporter cannot be built from the environment's settings.
pub fn layer<S>() -> anyhow::Result<Option<(impl Layer<S>, Traces)>>
where
    S: tracing::Subscriber + for<'a> LookupSpan<'a>,
{
    if !configured() {
        return Ok(None);
    }
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .build()?;
    let mut resource = opentelemetry_sdk::Resource::builder();
    if std::env::var_os("OTEL_SERVICE_NAME").is_none() {
        resource = resource.with_service_name("anonlink");
    }
    let provider = SdkTracerProvider::builder()
        .with_batch_exporter(exporter)
        .with_resource(resource.build())
        .build();
    let tracer = provider.tracer("anonlink");
    // The exporter's own spans and logs (and its HTTP client's) would trace themselves.
    let own = |target: &str| {
        ["opentelemetry", "reqwest", "hyper", "h2", "tower"]
            .iter()
            .any(|t| target.starts_with(t))
    };
    let layer = tracing_opentelemetry::layer()
        .with_tracer(tracer)
        .with_filter(filter_fn(move |m| !own(m.target())));
    Ok(Some((layer, Traces(provider))))
}
