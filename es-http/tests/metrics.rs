//! `GET /metrics`: Prometheus text that a Prometheus parser reads, with values that move
//! as expected across uploads and a run, and no id or token in any label.

mod common;

use common::{Server, json_document};
use prometheus_parse::{Sample, Scrape, Value};

fn scrape(server: &Server) -> (Vec<Sample>, String) {
    let url = server
        .url
        .trim_end_matches('/')
        .trim_end_matches("/api/v1")
        .to_string();
    let r = server.client.get(format!("{url}/metrics")).send().unwrap();
    assert_eq!(r.status(), 200);
    assert!(
        r.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain")
    );
    let text = r.text().unwrap();
    let lines = text.lines().map(|l| Ok(l.to_string()));
    (Scrape::parse(lines).unwrap().samples, text)
}

/// The value of `name` with the labels `labels` (0 when absent).
fn value(samples: &[Sample], name: &str, labels: &[(&str, &str)]) -> f64 {
    samples
        .iter()
        .filter(|s| s.metric == name)
        .filter(|s| labels.iter().all(|(k, v)| s.labels.get(k) == Some(*v)))
        .map(|s| match &s.value {
            Value::Counter(v) | Value::Gauge(v) | Value::Untyped(v) => *v,
            Value::Histogram(h) => h.iter().map(|b| b.count).fold(0.0, f64::max),
            Value::Summary(_) => 0.0,
        })
        .sum()
}

#[test]
fn metrics_move_with_uploads_and_runs() {
    let server = Server::start();
    let (before, _) = scrape(&server);
    let p = server.create_project("groups", 2);
    let records: Vec<Vec<u8>> = (0..300u32)
        .map(|i| {
            let mut r = vec![0u8; 128];
            r[..4].copy_from_slice(&i.to_le_bytes());
            r[4..64].fill(0xa5);
            r
        })
        .collect();
    server.upload_json(&p, 0, json_document(&records));
    server.upload_json(&p, 1, json_document(&records));
    // A refused upload: the token is used.
    assert_eq!(
        server.upload_json(&p, 1, json_document(&records)).status(),
        403
    );
    let run = server.create_run(&p, 0.9);
    server.wait_for_run(&p, &run);
    let (after, text) = scrape(&server);

    let moved = |name: &str, labels: &[(&str, &str)]| {
        value(&after, name, labels) - value(&before, name, labels)
    };
    assert_eq!(
        moved("anonlink_uploads_total", &[("outcome", "accepted")]),
        2.0
    );
    assert_eq!(
        moved("anonlink_uploads_total", &[("outcome", "refused")]),
        1.0
    );
    assert_eq!(moved("anonlink_upload_records_total", &[]), 600.0);
    assert_eq!(moved("anonlink_upload_bytes_total", &[]), 600.0 * 128.0);
    assert_eq!(moved("anonlink_comparisons_total", &[]), 300.0 * 300.0);
    assert!(
        moved(
            "anonlink_worker_attempts_total",
            &[("kind", "solve"), ("outcome", "done")]
        ) >= 1.0
    );
    assert!(value(&after, "anonlink_runs", &[("state", "completed")]) >= 1.0);
    assert_eq!(
        value(&after, "anonlink_queue_chunks", &[("state", "pending")]),
        0.0
    );
    let route = "/api/v1/projects/:project_id/clks";
    assert_eq!(
        moved(
            "anonlink_http_requests_total",
            &[("route", route), ("method", "POST"), ("status", "201")]
        ),
        2.0
    );
    assert!(
        value(
            &after,
            "anonlink_http_request_duration_seconds_count",
            &[("route", route)]
        ) >= 3.0
    );
    assert!(text.contains("anonlink_chunk_duration_seconds_bucket"));
    // Nothing that names a project, a run or a token.
    for secret in [p.id.as_str(), run.as_str(), p.result_token.as_str()] {
        assert!(!text.contains(secret), "{secret} in the metrics");
    }
}
