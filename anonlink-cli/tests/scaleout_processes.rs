//! One API process and worker processes of `anonlink serve` sharing PostgreSQL and an
//! S3-compatible store (scripts/services.sh starts them; without them these report a skip).

mod common;

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anonlink_core::encoding::Clks;
use anonlink_core::linkage::{LinkSpec, ResultType, link};
use anonlink_core::testing::{synthetic_datasets, synthetic_pair};
use common::{Client, fresh_shared_storage};
use serde_json::Value;

fn spawn(role: &str, port: u16, db: &str, s3: &str) -> Child {
    spawn_with_lease(role, port, db, s3, 2)
}

fn spawn_with_lease(role: &str, port: u16, db: &str, s3: &str, lease_seconds: u32) -> Child {
    Command::new(env!("CARGO_BIN_EXE_anonlink"))
        .args([
            "serve",
            "--role",
            role,
            "--bind",
            &format!("127.0.0.1:{port}"),
            "--lease-seconds",
            &lease_seconds.to_string(),
            // Many chunks per run, so a kill lands mid-chunk with others done.
            "--chunk-comparisons",
            "150000000",
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

/// 1 API and 2 worker processes on fresh shared storage, with a client for the API and one
/// for the database.
struct Cluster {
    procs: Processes,
    api: Client,
    db: postgres::Client,
}

impl Cluster {
    fn start(lease_seconds: u32) -> Option<Cluster> {
        let (db, s3) = fresh_shared_storage()?;
        let port = free_port();
        let mut procs = Processes(vec![spawn_with_lease("api", port, &db, &s3, lease_seconds)]);
        let api = Client::new(port);
        api.wait_up();
        for _ in 0..2 {
            procs
                .0
                .push(spawn_with_lease("worker", 0, &db, &s3, lease_seconds));
        }
        let db = postgres::Client::connect(&db, postgres::NoTls).unwrap();
        Some(Cluster { procs, api, db })
    }

    /// Uploads `datasets` to a new project of `result_type` and starts a run at 0.8; returns
    /// the project id, result token and run id.
    fn link(&self, datasets: &[&Clks], result_type: ResultType) -> (String, String, String) {
        let (pid, token, project) = self.api.project(result_type.as_str(), datasets.len());
        for (party, clks) in datasets.iter().enumerate() {
            let response = self.api.upload_binary(&project, party, clks).unwrap();
            assert_eq!(response.status(), 201);
        }
        let rid = self.api.create_run(&pid, &token, 0.8);
        (pid, token, rid)
    }

    /// Waits for a chunk of `rid` being computed once at least `done` chunks are done;
    /// returns its index and the process id of the worker holding it (a lease holder's name
    /// starts with its process id) — or `None` if the run completed first.
    fn busy_chunk(&mut self, rid: &str, done: usize) -> Option<(i32, u32)> {
        let start = Instant::now();
        loop {
            let rows = self
                .db
                .query("SELECT state, data FROM chunks WHERE run_id = $1", &[&rid])
                .unwrap();
            let finished = rows
                .iter()
                .filter(|r| r.get::<_, &str>(0) == "done")
                .count();
            let running = rows.iter().find(|r| r.get::<_, &str>(0) == "running");
            if let (true, Some(row)) = (finished >= done, running) {
                let data: Value = serde_json::from_str(row.get::<_, &str>(1)).unwrap();
                let holder = data["lease"]["holder"].as_str().unwrap();
                let pid = holder.split('-').next().unwrap().parse().unwrap();
                return Some((data["index"].as_i64().unwrap() as i32, pid));
            }
            let run = self
                .db
                .query_opt("SELECT state FROM runs WHERE id = $1", &[&rid])
                .unwrap();
            if run.is_some_and(|r| r.get::<_, &str>(0) == "completed") {
                return None;
            }
            assert!(
                start.elapsed() < Duration::from_secs(60),
                "no chunk started"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// The position in `procs` of the worker with this process id.
    fn worker(&self, pid: u32) -> usize {
        let i = self
            .procs
            .0
            .iter()
            .position(|c| c.id() == pid)
            .expect("one of our workers");
        assert_ne!(i, 0, "the API process must not compute");
        i
    }
}

/// Links `datasets` on 1 API + 2 worker processes with runs split into many chunks, kills
/// (SIGKILL) a worker while it computes a chunk, and checks that the other worker takes the
/// chunk over once its lease lapses, that no chunk counts twice, and that the result equals
/// the single-process one.
fn kill_a_busy_worker(datasets: &[Clks], result_type: ResultType) {
    let Some(mut cluster) = Cluster::start(2) else {
        return;
    };
    let refs: Vec<&Clks> = datasets.iter().collect();
    let (pid, token, rid) = cluster.link(&refs, result_type);
    // Once some chunks are done and one is being computed, kill its worker.
    let (victim_chunk, holder_pid) = cluster
        .busy_chunk(&rid, 2)
        .expect("the run finished before a worker could be killed");
    let victim = cluster.worker(holder_pid);
    cluster.procs.0[victim].kill().unwrap();
    cluster.procs.0[victim].wait().unwrap();
    let (api, db_client, start) = (&cluster.api, &mut cluster.db, Instant::now());

    // The surviving worker takes the killed worker's chunk over: a second attempt.
    let mut taken_over = false;
    let total = loop {
        let row = db_client
            .query_opt(
                "SELECT data FROM chunks WHERE run_id = $1 AND idx = $2",
                &[&rid, &victim_chunk],
            )
            .unwrap();
        if let Some(row) = row {
            let data: Value = serde_json::from_str(row.get::<_, &str>(0)).unwrap();
            taken_over |= data["attempts"] == 2;
        }
        let status = api.get_json(&format!("projects/{pid}/runs/{rid}/status"), &token);
        if let Some(p) = status["current_stage"]["progress"]["absolute"].as_u64()
            && status["current_stage"]["number"] == 2
        {
            assert!(
                p <= status_total(datasets),
                "progress {p} counts a chunk twice"
            );
        }
        if status["state"] == "completed" {
            break status["total_number_comparisons"].as_u64().unwrap();
        }
        assert_ne!(status["state"], "error", "{status}");
        assert!(
            start.elapsed() < Duration::from_secs(120),
            "the run did not finish"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(
        taken_over,
        "the surviving worker took the killed worker's chunk over"
    );
    assert_eq!(total, status_total(datasets));

    let result = api.wait_result(&pid, &rid, &token);
    let refs: Vec<_> = datasets.iter().collect();
    let (expected, stats) = link(&refs, &LinkSpec::new(result_type, 0.8)).unwrap();
    assert_eq!(result, serde_json::to_value(&expected).unwrap());
    let row = db_client
        .query_one("SELECT data FROM runs WHERE id = $1", &[&rid])
        .unwrap();
    let run: Value = serde_json::from_str(row.get::<_, &str>(0)).unwrap();
    assert_eq!(
        run["candidates"].as_u64(),
        Some(stats.candidates),
        "each chunk's candidates count once"
    );
    let left = db_client
        .query_one("SELECT count(*) FROM chunks WHERE run_id = $1", &[&rid])
        .unwrap();
    assert_eq!(
        left.get::<_, i64>(0),
        0,
        "chunks are dropped with completion"
    );
}

fn status_total(datasets: &[Clks]) -> u64 {
    let sizes: Vec<usize> = datasets.iter().map(|d| d.len()).collect();
    anonlink_core::candidates::total_comparisons(&sizes)
}

#[test]
fn killing_a_busy_worker_loses_nothing_two_parties() {
    let (a, b) = synthetic_pair(60_000, 60_000, 0.5, 5);
    kill_a_busy_worker(&[a, b], ResultType::Mapping);
}

#[test]
fn killing_a_busy_worker_loses_nothing_five_parties() {
    let datasets = synthetic_datasets(&[20_000; 5], 0.5, 6);
    kill_a_busy_worker(&datasets, ResultType::Groups);
}

/// A worker stopped with SIGTERM (as by a rolling deployment) gives its chunk back at once:
/// the other worker takes it over long before the lease would lapse, the stopped process
/// exits cleanly, and the result is exact.
#[test]
fn a_terminated_worker_gives_its_chunk_back() {
    let lease = 120;
    let Some(mut cluster) = Cluster::start(lease) else {
        return;
    };
    let (a, b) = synthetic_pair(60_000, 60_000, 0.5, 11);
    let (pid, token, rid) = cluster.link(&[&a, &b], ResultType::Mapping);
    let (chunk, holder_pid) = cluster
        .busy_chunk(&rid, 0)
        .expect("the run finished before a worker could be stopped");
    let victim = cluster.worker(holder_pid);
    let stopped = Instant::now();
    Command::new("kill")
        .args(["-TERM", &holder_pid.to_string()])
        .status()
        .unwrap();
    let exit = cluster.procs.0[victim].wait().unwrap();
    assert!(exit.success(), "the worker exits cleanly: {exit}");
    assert!(
        stopped.elapsed() < Duration::from_secs(10),
        "the worker stopped promptly"
    );
    // Before it exited, it gave the chunk back: nobody holds it in its name any more.
    let row = cluster
        .db
        .query_opt(
            "SELECT data FROM chunks WHERE run_id = $1 AND idx = $2",
            &[&rid, &chunk],
        )
        .unwrap();
    if let Some(row) = row {
        let data: Value = serde_json::from_str(row.get::<_, &str>(0)).unwrap();
        let holder = data["lease"]["holder"].as_str().unwrap_or("");
        assert!(
            !holder.starts_with(&format!("{holder_pid}-")),
            "the stopped worker still holds its chunk: {data}"
        );
    }

    let result = cluster.api.wait_result(&pid, &rid, &token);
    assert!(
        stopped.elapsed() < Duration::from_secs(u64::from(lease) / 2),
        "the chunk was taken over without waiting for its lease"
    );
    let (expected, _) = link(&[&a, &b], &LinkSpec::new(ResultType::Mapping, 0.8)).unwrap();
    assert_eq!(result, serde_json::to_value(&expected).unwrap());
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

/// The value of a sample `name{labels}` in Prometheus text (0 when absent).
fn metric(text: &str, sample: &str) -> f64 {
    text.lines()
        .find_map(|l| l.strip_prefix(sample)?.strip_prefix(' ')?.parse().ok())
        .unwrap_or(0.0)
}

#[test]
fn metrics_add_up_across_processes() {
    let Some((db, s3)) = fresh_shared_storage() else {
        eprintln!("skipped: no PostgreSQL/S3 test services (scripts/services.sh)");
        return;
    };
    let port = free_port();
    let metric_ports = [free_port(), free_port(), free_port()];
    let mut procs = Processes(Vec::new());
    for (i, role) in ["api", "worker", "worker"].iter().enumerate() {
        let child = Command::new(env!("CARGO_BIN_EXE_anonlink"))
            .args([
                "serve",
                "--role",
                role,
                "--bind",
                &format!("127.0.0.1:{}", if i == 0 { port } else { 0 }),
            ])
            .args(["--lease-seconds", "2", "--chunk-comparisons", "150000000"])
            .args(["--database-url", &db, "--object-store", &s3])
            .args(["--metrics-bind", &format!("127.0.0.1:{}", metric_ports[i])])
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        procs.0.push(child);
    }
    let api = Client::new(port);
    api.wait_up();
    let scrape = |i: usize| {
        let start = Instant::now();
        loop {
            match reqwest::blocking::get(format!("http://127.0.0.1:{}/metrics", metric_ports[i])) {
                Ok(r) => return r.text().unwrap(),
                Err(_) if start.elapsed() < Duration::from_secs(20) => {
                    std::thread::sleep(Duration::from_millis(50))
                }
                Err(e) => panic!("process {i} has no metrics: {e}"),
            }
        }
    };
    let (a, b) = synthetic_pair(30_000, 30_000, 0.5, 8);
    let (pid, token, project) = api.project("mapping", 2);
    for (party, clks) in [&a, &b].iter().enumerate() {
        assert_eq!(
            api.upload_binary(&project, party, clks).unwrap().status(),
            201
        );
    }
    let rid = api.create_run(&pid, &token, 0.8);
    api.wait_result(&pid, &rid, &token);
    let texts: Vec<String> = (0..3).map(scrape).collect();
    // Uploads on the API process; comparisons on the workers, adding up to the run's.
    assert_eq!(
        metric(&texts[0], "anonlink_uploads_total{outcome=\"accepted\"}"),
        2.0
    );
    assert_eq!(metric(&texts[0], "anonlink_upload_records_total"), 60_000.0);
    assert_eq!(metric(&texts[0], "anonlink_comparisons_total"), 0.0);
    let compared: f64 = texts[1..]
        .iter()
        .map(|t| metric(t, "anonlink_comparisons_total"))
        .sum();
    assert_eq!(compared, 30_000.0 * 30_000.0);
    // Run and queue gauges come from the shared store: every process sees the same.
    for t in &texts {
        assert!(
            metric(t, "anonlink_runs{state=\"completed\"}") >= 1.0,
            "{t}"
        );
        assert_eq!(metric(t, "anonlink_queue_chunks{state=\"pending\"}"), 0.0);
    }
}
