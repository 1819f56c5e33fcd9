//! `kill -9` of `anonlink serve` in the middle of a run: after a restart on the same data
//! directory the uploads are intact and the run completes with the right answer.

use std::time::{Duration, Instant};

use anonlink_core::encoding::encode_binary;
use anonlink_core::linkage::{LinkSpec, Linkage, ResultType, link};
use anonlink_core::testing::synthetic_pair;
use reqwest::blocking::Client;
use serde_json::{Value, json};

mod common;

use common::{Server, free_port};

fn get_json(client: &Client, url: &str, token: &str) -> Value {
    client
        .get(url)
        .header("Authorization", token)
        .send()
        .unwrap()
        .json()
        .unwrap()
}

#[test]
fn kill_9_mid_run_then_restart_completes_the_run() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let url = format!("http://127.0.0.1:{port}/api/v1");
    let client = Client::builder()
        .timeout(Duration::from_secs(60))
        .build()
        .unwrap();
    let mut server = Server::start(dir.path(), port);

    // Big enough that the run takes a few seconds on 2 cores.
    let (a, b) = synthetic_pair(60_000, 60_000, 0.5, 3);
    let project: Value = client
        .post(format!("{url}/projects"))
        .json(&json!({"schema": {}, "result_type": "mapping"}))
        .send()
        .unwrap()
        .json()
        .unwrap();
    let pid = project["project_id"].as_str().unwrap().to_string();
    let result_token = project["result_token"].as_str().unwrap().to_string();
    for (party, clks) in [&a, &b].into_iter().enumerate() {
        let mut body = Vec::new();
        encode_binary(clks, &mut body).unwrap();
        let r = client
            .post(format!("{url}/projects/{pid}/clks"))
            .header(
                "Authorization",
                project["update_tokens"][party].as_str().unwrap(),
            )
            .header("Content-Type", "application/octet-stream")
            .header("Hash-Count", clks.len().to_string())
            .header("Hash-Size", "128")
            .body(body)
            .send()
            .unwrap();
        assert_eq!(r.status(), 201);
    }
    let run: Value = client
        .post(format!("{url}/projects/{pid}/runs"))
        .header("Authorization", &result_token)
        .json(&json!({"threshold": 0.8}))
        .send()
        .unwrap()
        .json()
        .unwrap();
    let rid = run["run_id"].as_str().unwrap().to_string();
    let status_url = format!("{url}/projects/{pid}/runs/{rid}/status");

    // Wait until the run is computing, then kill the server without warning.
    let start_wait = Instant::now();
    loop {
        let s = get_json(&client, &status_url, &result_token);
        assert_ne!(
            s["state"], "completed",
            "run finished before it could be interrupted"
        );
        if s["state"] == "running" && s["current_stage"]["progress"]["absolute"].as_u64() > Some(0)
        {
            break;
        }
        assert!(start_wait.elapsed() < Duration::from_secs(60), "{s}");
        std::thread::sleep(Duration::from_millis(20));
    }
    server.kill();

    let mut server = Server::start(dir.path(), port);
    let description = get_json(&client, &format!("{url}/projects/{pid}"), &result_token);
    assert_eq!(description["parties_contributed"], 2);
    assert_eq!(description["error"], false);
    let start_wait = Instant::now();
    loop {
        let s = get_json(&client, &status_url, &result_token);
        assert_ne!(s["state"], "error", "{s}");
        if s["state"] == "completed" {
            break;
        }
        assert!(start_wait.elapsed() < Duration::from_secs(120), "{s}");
        std::thread::sleep(Duration::from_millis(100));
    }
    let result = get_json(
        &client,
        &format!("{url}/projects/{pid}/runs/{rid}/result"),
        &result_token,
    );
    let (expected, _) = link(&[&a, &b], &LinkSpec::new(ResultType::Mapping, 0.8)).unwrap();
    assert!(matches!(expected, Linkage::Mapping(ref m) if m.len() > 10_000));
    assert_eq!(result, serde_json::to_value(&expected).unwrap());
    server.kill();
}
