//! Drives a running Entity Service over HTTP and prints figures as JSON:
//! 100K + 100K synthetic CLKs uploaded in binary and in JSON, a `groups` run at 0.8 and its
//! result; then 100K × 1M at 0.95.
//!
//! `scripts/bench-service.sh` starts a server on a fresh data directory, runs this and
//! adds the server's peak RSS. By hand:
//! `cargo run --release -p es-http --example service_bench -- http://127.0.0.1:8851/api/v1 [--skip-1m] [--skip-json]`
//!
//! `scripts/bench-scaleout.sh` runs it against 1 API and 1 or 2 worker processes sharing
//! PostgreSQL and an S3-compatible store.

use std::time::{Duration, Instant};

use anonlink_core::encoding::{Clks, encode_binary, encode_json};
use anonlink_core::testing::synthetic_pair;
use reqwest::blocking::Client;
use serde_json::{Value, json};

struct Bench {
    url: String,
    client: Client,
}

impl Bench {
    fn project(&self, parties: usize) -> Value {
        self.client
            .post(format!("{}/projects", self.url))
            .json(&json!({"schema": {}, "result_type": "groups", "number_parties": parties}))
            .send()
            .expect("server reachable")
            .json()
            .expect("project JSON")
    }

    /// Uploads `clks` as party `party`; returns (bytes sent, seconds).
    fn upload(&self, project: &Value, party: usize, clks: &Clks, binary: bool) -> (usize, f64) {
        let pid = project["project_id"].as_str().expect("project id");
        let token = project["update_tokens"][party].as_str().expect("token");
        let mut body = Vec::new();
        let req = self
            .client
            .post(format!("{}/projects/{pid}/clks", self.url))
            .header("Authorization", token);
        let req = if binary {
            encode_binary(clks, &mut body).expect("encode");
            req.header("Content-Type", "application/octet-stream")
                .header("Hash-Count", clks.len().to_string())
                .header("Hash-Size", clks.bytes_per_record().to_string())
        } else {
            encode_json(clks, &mut body).expect("encode");
            req.header("Content-Type", "application/json")
        };
        let len = body.len();
        let start = Instant::now();
        let r = req.body(body).send().expect("upload");
        assert_eq!(r.status(), 201, "upload failed: {:?}", r.text());
        (len, start.elapsed().as_secs_f64())
    }

    /// Posts a run and waits for it; returns (seconds to completed, seconds to fetch the
    /// result, result bytes, comparisons).
    fn run(&self, project: &Value, threshold: f64) -> (f64, f64, usize, u64) {
        let pid = project["project_id"].as_str().expect("project id");
        let token = project["result_token"].as_str().expect("token");
        let start = Instant::now();
        let run: Value = self
            .client
            .post(format!("{}/projects/{pid}/runs", self.url))
            .header("Authorization", token)
            .json(&json!({"threshold": threshold}))
            .send()
            .expect("post run")
            .json()
            .expect("run JSON");
        let rid = run["run_id"].as_str().expect("run id");
        let status = loop {
            let s: Value = self
                .client
                .get(format!("{}/projects/{pid}/runs/{rid}/status", self.url))
                .header("Authorization", token)
                .send()
                .expect("status")
                .json()
                .expect("status JSON");
            match s["state"].as_str() {
                Some("completed") => break s,
                Some("error") => panic!("run failed: {s}"),
                _ => std::thread::sleep(Duration::from_millis(50)),
            }
        };
        let run_seconds = start.elapsed().as_secs_f64();
        let start = Instant::now();
        let result = self
            .client
            .get(format!("{}/projects/{pid}/runs/{rid}/result", self.url))
            .header("Authorization", token)
            .send()
            .expect("result")
            .bytes()
            .expect("result body");
        (
            run_seconds,
            start.elapsed().as_secs_f64(),
            result.len(),
            status["total_number_comparisons"].as_u64().unwrap_or(0),
        )
    }
}

fn main() {
    let mut args = std::env::args().skip(1);
    let url = args
        .next()
        .unwrap_or_else(|| "http://127.0.0.1:8851/api/v1".to_string());
    let flags: Vec<String> = args.collect();
    let skip_1m = flags.iter().any(|a| a == "--skip-1m");
    let skip_json = flags.iter().any(|a| a == "--skip-json");
    let bench = Bench {
        url,
        client: Client::builder()
            .timeout(Duration::from_secs(3600))
            .build()
            .expect("client"),
    };
    let mut report = serde_json::Map::new();

    let (a, b) = synthetic_pair(100_000, 100_000, 0.5, 42);
    let binary = bench.project(2);
    let (len_a, secs_a) = bench.upload(&binary, 0, &a, true);
    let (len_b, secs_b) = bench.upload(&binary, 1, &b, true);
    report.insert(
        "binary_upload_mb_per_s".into(),
        json!(((len_a + len_b) as f64 / 1e6) / (secs_a + secs_b)),
    );
    if !skip_json {
        let json_project = bench.project(2);
        let (len_a, secs_a) = bench.upload(&json_project, 0, &a, false);
        let (len_b, secs_b) = bench.upload(&json_project, 1, &b, false);
        report.insert(
            "json_upload_mb_per_s".into(),
            json!(((len_a + len_b) as f64 / 1e6) / (secs_a + secs_b)),
        );
    }
    let (run_s, fetch_s, bytes, comparisons) = bench.run(&binary, 0.8);
    report.insert(
        "100k_x_100k_groups_t0.8".into(),
        json!({
            "run_seconds": run_s,
            "result_fetch_seconds": fetch_s,
            "result_bytes": bytes,
            "comparisons_per_s": comparisons as f64 / run_s,
        }),
    );
    println!("{}", serde_json::to_string_pretty(&report).expect("report"));

    if !skip_1m {
        let (small, big) = synthetic_pair(100_000, 1_000_000, 0.1, 43);
        let project = bench.project(2);
        bench.upload(&project, 0, &small, true);
        let (len, secs) = bench.upload(&project, 1, &big, true);
        report.insert(
            "binary_upload_1m_mb_per_s".into(),
            json!(len as f64 / 1e6 / secs),
        );
        let (run_s, fetch_s, bytes, comparisons) = bench.run(&project, 0.95);
        report.insert(
            "100k_x_1m_groups_t0.95".into(),
            json!({
                "run_seconds": run_s,
                "result_fetch_seconds": fetch_s,
                "result_bytes": bytes,
                "comparisons_per_s": comparisons as f64 / run_s,
            }),
        );
        println!("{}", serde_json::to_string_pretty(&report).expect("report"));
    }
}
