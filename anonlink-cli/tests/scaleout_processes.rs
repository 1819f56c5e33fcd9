//! One API process and worker processes of `anonlink serve` sharing PostgreSQL and an
//! S3-compatible store (scripts/services.sh starts them; without them these report a skip).

mod common;

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anonlink_core::linkage::{LinkSpec, ResultType, link};
use anonlink_core::testing::synthetic_pair;
use common::{Client, fresh_shared_storage};
use serde_json::Value;

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

/// Kills its processes when dropped, so a failing test leaves none behind.
struct Processes(Vec<Child>);

impl Drop for Processes {
    fn drop(&mut self) {
        for c in &mut self.0 {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

fn free_port() -> u16 {
    common::free_port()
}

/// The worker computing a run is killed with SIGKILL; the other takes the run over when the
/// lease lapses and the result equals the single-process one.
#[test]
fn killing_the_busy_worker_loses_nothing() {
    let Some((db, s3)) = fresh_shared_storage() else {
        return;
    };
    let port = free_port();
    let mut procs = Processes(vec![spawn("api", port, &db, &s3)]);
    let api = Client::new(port);
    api.wait_up();
    procs.0.push(spawn("worker", 0, &db, &s3));
    procs.0.push(spawn("worker", 0, &db, &s3));

    let (a, b) = synthetic_pair(60_000, 60_000, 0.5, 5);
    let (pid, token, project) = api.mapping_project();
    for (party, clks) in [&a, &b].into_iter().enumerate() {
        assert_eq!(
            api.upload_binary(&project, party, clks).unwrap().status(),
            201
        );
    }
    let rid = api.create_run(&pid, &token, 0.8);

    // Find the worker holding the run (its lease names its process id) and kill it.
    let mut db_client = postgres::Client::connect(&db, postgres::NoTls).unwrap();
    let start = Instant::now();
    let holder_pid: u32 = loop {
        if let Some(row) = db_client
            .query_opt("SELECT data FROM runs WHERE id = $1", &[&rid])
            .unwrap()
        {
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
        .iter()
        .position(|c| c.id() == holder_pid)
        .expect("one of our workers");
    assert_ne!(victim, 0, "the API process must not compute");
    procs.0[victim].kill().unwrap();
    procs.0[victim].wait().unwrap();

    let result = api.wait_result(&pid, &rid, &token);
    let (expected, _) = link(&[&a, &b], &LinkSpec::new(ResultType::Mapping, 0.8)).unwrap();
    assert_eq!(result, serde_json::to_value(&expected).unwrap());
    let row = db_client
        .query_one("SELECT data FROM runs WHERE id = $1", &[&rid])
        .unwrap();
    let data: Value = serde_json::from_str(row.get::<_, &str>(0)).unwrap();
    assert_eq!(data["attempts"], 2, "taken over exactly once");
}

/// An API killed during an upload keeps the acknowledged ones; the cut-off one can be
/// retried on a new API process, and the run's result is exact.
#[test]
fn restarting_the_api_mid_upload_keeps_acknowledged_uploads() {
    let Some((db, s3)) = fresh_shared_storage() else {
        return;
    };
    let port = free_port();
    let mut procs = Processes(vec![
        spawn("api", port, &db, &s3),
        spawn("worker", 0, &db, &s3),
    ]);
    let api = Client::new(port);
    api.wait_up();

    let (a, b) = synthetic_pair(20_000, 20_000, 0.5, 9);
    let (pid, token, project) = api.mapping_project();
    assert_eq!(api.upload_binary(&project, 0, &a).unwrap().status(), 201);
    let killer = std::thread::spawn({
        let api_pid = procs.0[0].id();
        move || {
            std::thread::sleep(Duration::from_millis(5));
            let _ = Command::new("kill")
                .args(["-9", &api_pid.to_string()])
                .status();
        }
    });
    let _ = api.upload_binary(&project, 1, &b);
    killer.join().unwrap();
    let _ = procs.0[0].wait();
    procs.0[0] = spawn("api", port, &db, &s3);
    api.wait_up();
    let described = api.get_json(&format!("projects/{pid}"), &token);
    let contributed = described["parties_contributed"].as_u64().unwrap();
    assert!(
        contributed >= 1,
        "the acknowledged upload survived: {described}"
    );
    if contributed == 1 {
        assert_eq!(
            api.upload_binary(&project, 1, &b).unwrap().status(),
            201,
            "the cut-off upload can be retried"
        );
    }
    let rid = api.create_run(&pid, &token, 0.8);
    let result = api.wait_result(&pid, &rid, &token);
    let (expected, _) = link(&[&a, &b], &LinkSpec::new(ResultType::Mapping, 0.8)).unwrap();
    assert_eq!(result, serde_json::to_value(&expected).unwrap());
}
