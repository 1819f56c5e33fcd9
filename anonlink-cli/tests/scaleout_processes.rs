//! One API process and two worker processes of `anonlink serve` sharing PostgreSQL and an
//! S3-compatible store (scripts/services.sh starts them; without them this reports a skip).
//! The worker computing a run is killed with SIGKILL; the other takes the run over when the
//! lease lapses and the result equals the single-process one.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anonlink_core::encoding::encode_binary;
use anonlink_core::linkage::{LinkSpec, ResultType, link};
use anonlink_core::testing::synthetic_pair;
use serde_json::{Value, json};

fn spawn(role: &str, port: u16, db: &str, s3: &str) -> Child {
    Command::new(env!("CARGO_BIN_EXE_anonlink"))
        .args([
            "serve",
            "--role",
            role,
            "--bind",
            &format!("127.0.0.1:{port}"),
            "--lease-seconds",
            "2",
        ])
        .args(["--database-url", db, "--object-store", s3])
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

struct Killer(Vec<Child>);

impl Drop for Killer {
    fn drop(&mut self) {
        for c in &mut self.0 {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

#[test]
fn killing_the_busy_worker_loses_nothing() {
    let (Ok(base_url), Ok(s3_base)) = (
        std::env::var("ANONLINK_TEST_DATABASE_URL"),
        std::env::var("ANONLINK_TEST_S3_URL"),
    ) else {
        eprintln!(
            "skip: ANONLINK_TEST_DATABASE_URL / ANONLINK_TEST_S3_URL are not set (run scripts/services.sh)"
        );
        return;
    };
    let tag = &anonlink_core::service::token::generate()[..16];
    let mut admin = postgres::Client::connect(&base_url, postgres::NoTls).unwrap();
    admin
        .batch_execute(&format!("CREATE DATABASE anonlink_{tag}"))
        .unwrap();
    let db = format!("{}/anonlink_{tag}", base_url.rsplit_once('/').unwrap().0);
    let s3 = format!("{s3_base}/{tag}");

    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut procs = Killer(vec![spawn("api", port, &db, &s3)]);
    let url = format!("http://127.0.0.1:{port}/api/v1");
    let client = reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(60))
        .build()
        .unwrap();
    let start = Instant::now();
    while client.get(format!("{url}/status")).send().is_err() {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "api did not start"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    procs.0.push(spawn("worker", 0, &db, &s3));
    procs.0.push(spawn("worker", 0, &db, &s3));

    let (a, b) = synthetic_pair(60_000, 60_000, 0.5, 5);
    let project: Value = client
        .post(format!("{url}/projects"))
        .json(&json!({"schema": {}, "result_type": "mapping"}))
        .send()
        .unwrap()
        .json()
        .unwrap();
    let pid = project["project_id"].as_str().unwrap().to_string();
    let token = project["result_token"].as_str().unwrap().to_string();
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
        .header("Authorization", &token)
        .json(&json!({"threshold": 0.8}))
        .send()
        .unwrap()
        .json()
        .unwrap();
    let rid = run["run_id"].as_str().unwrap().to_string();

    // Find the worker holding the run (its lease names its process id) and kill it.
    let mut db_client = postgres::Client::connect(&db, postgres::NoTls).unwrap();
    let start = Instant::now();
    let holder_pid: u32 = loop {
        let row = db_client
            .query_opt("SELECT data FROM runs WHERE id = $1", &[&rid])
            .unwrap();
        if let Some(row) = row {
            let data: Value = serde_json::from_str(row.get::<_, &str>(0)).unwrap();
            if data["state"] == "running" && data["comparisons_done"].as_u64() > Some(0) {
                let holder = data["lease"]["holder"].as_str().unwrap().to_string();
                break holder.split('-').next().unwrap().parse().unwrap();
            }
            assert_ne!(
                data["state"], "completed",
                "the run finished before a worker could be killed"
            );
        }
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "the run did not start"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    let victim = procs
        .0
        .iter_mut()
        .position(|c| c.id() == holder_pid)
        .expect("the holder is one of our workers");
    assert_ne!(victim, 0, "the API process must not compute");
    procs.0[victim].kill().unwrap();
    procs.0[victim].wait().unwrap();

    let start = Instant::now();
    loop {
        let s: Value = client
            .get(format!("{url}/projects/{pid}/runs/{rid}/status"))
            .header("Authorization", &token)
            .send()
            .unwrap()
            .json()
            .unwrap();
        assert_ne!(s["state"], "error", "{s}");
        if s["state"] == "completed" {
            break;
        }
        assert!(start.elapsed() < Duration::from_secs(120), "{s}");
        std::thread::sleep(Duration::from_millis(100));
    }
    let result: Value = client
        .get(format!("{url}/projects/{pid}/runs/{rid}/result"))
        .header("Authorization", &token)
        .send()
        .unwrap()
        .json()
        .unwrap();
    let (expected, _) = link(&[&a, &b], &LinkSpec::new(ResultType::Mapping, 0.8)).unwrap();
    assert_eq!(result, serde_json::to_value(&expected).unwrap());
    let row = db_client
        .query_one("SELECT data FROM runs WHERE id = $1", &[&rid])
        .unwrap();
    let data: Value = serde_json::from_str(row.get::<_, &str>(0)).unwrap();
    assert_eq!(data["attempts"], 2, "taken over exactly once");
}

#[test]
fn restarting_the_api_mid_upload_keeps_acknowledged_uploads() {
    let (Ok(base_url), Ok(s3_base)) = (
        std::env::var("ANONLINK_TEST_DATABASE_URL"),
        std::env::var("ANONLINK_TEST_S3_URL"),
    ) else {
        eprintln!(
            "skip: ANONLINK_TEST_DATABASE_URL / ANONLINK_TEST_S3_URL are not set (run scripts/services.sh)"
        );
        return;
    };
    let tag = &anonlink_core::service::token::generate()[..16];
    let mut admin = postgres::Client::connect(&base_url, postgres::NoTls).unwrap();
    admin
        .batch_execute(&format!("CREATE DATABASE anonlink_{tag}"))
        .unwrap();
    let db = format!("{}/anonlink_{tag}", base_url.rsplit_once('/').unwrap().0);
    let s3 = format!("{s3_base}/{tag}");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("http://127.0.0.1:{port}/api/v1");
    let client = reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(60))
        .build()
        .unwrap();
    let wait_up = || {
        let start = Instant::now();
        while client.get(format!("{url}/status")).send().is_err() {
            assert!(
                start.elapsed() < Duration::from_secs(30),
                "api did not start"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    };
    let mut procs = Killer(vec![
        spawn("api", port, &db, &s3),
        spawn("worker", 0, &db, &s3),
    ]);
    wait_up();

    let (a, b) = synthetic_pair(20_000, 20_000, 0.5, 9);
    let project: Value = client
        .post(format!("{url}/projects"))
        .json(&json!({"schema": {}, "result_type": "mapping"}))
        .send()
        .unwrap()
        .json()
        .unwrap();
    let pid = project["project_id"].as_str().unwrap().to_string();
    let token = project["result_token"].as_str().unwrap().to_string();
    let upload = |party: usize, clks: &anonlink_core::encoding::Clks| {
        let mut body = Vec::new();
        encode_binary(clks, &mut body).unwrap();
        client
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
    };
    assert_eq!(upload(0, &a).unwrap().status(), 201);
    // Party 1's upload is cut off by a SIGKILL of the API, then retried on a new API process.
    let killer = std::thread::spawn({
        let pid = procs.0[0].id();
        move || {
            std::thread::sleep(Duration::from_millis(5));
            let _ = Command::new("kill").args(["-9", &pid.to_string()]).status();
        }
    });
    let _ = upload(1, &b);
    killer.join().unwrap();
    let _ = procs.0[0].wait();
    procs.0[0] = spawn("api", port, &db, &s3);
    wait_up();
    let described: Value = client
        .get(format!("{url}/projects/{pid}"))
        .header("Authorization", &token)
        .send()
        .unwrap()
        .json()
        .unwrap();
    let contributed = described["parties_contributed"].as_u64().unwrap();
    assert!(
        contributed >= 1,
        "the acknowledged upload survived: {described}"
    );
    if contributed == 1 {
        assert_eq!(
            upload(1, &b).unwrap().status(),
            201,
            "the cut-off upload can be retried"
        );
    }
    let run: Value = client
        .post(format!("{url}/projects/{pid}/runs"))
        .header("Authorization", &token)
        .json(&json!({"threshold": 0.8}))
        .send()
        .unwrap()
        .json()
        .unwrap();
    let rid = run["run_id"].as_str().unwrap().to_string();
    let start = Instant::now();
    loop {
        let s: Value = client
            .get(format!("{url}/projects/{pid}/runs/{rid}/status"))
            .header("Authorization", &token)
            .send()
            .unwrap()
            .json()
            .unwrap();
        assert_ne!(s["state"], "error", "{s}");
        if s["state"] == "completed" {
            break;
        }
        assert!(start.elapsed() < Duration::from_secs(120), "{s}");
        std::thread::sleep(Duration::from_millis(100));
    }
    let result: Value = client
        .get(format!("{url}/projects/{pid}/runs/{rid}/result"))
        .header("Authorization", &token)
        .send()
        .unwrap()
        .json()
        .unwrap();
    let (expected, _) = link(&[&a, &b], &LinkSpec::new(ResultType::Mapping, 0.8)).unwrap();
    assert_eq!(result, serde_json::to_value(&expected).unwrap());
}
