//! `kill -9` of `anonlink serve` in the middle of a run: after a restart on the same data
//! directory the uploads are intact and the run completes with the right answer.

mod common;

use std::time::{Duration, Instant};

use anonlink_core::linkage::{LinkSpec, Linkage, ResultType, link};
use anonlink_core::testing::synthetic_pair;
use common::{Client, Server, free_port};

#[test]
fn kill_9_mid_run_then_restart_completes_the_run() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let mut server = Server::start(dir.path(), port);
    let api = Client::new(port);

    // Big enough that the run takes a few seconds on 2 cores.
    let (a, b) = synthetic_pair(60_000, 60_000, 0.5, 3);
    let (pid, token, project) = api.mapping_project();
    for (party, clks) in [&a, &b].into_iter().enumerate() {
        assert_eq!(
            api.upload_binary(&project, party, clks).unwrap().status(),
            201
        );
    }
    let rid = api.create_run(&pid, &token, 0.8);

    // Wait until the run is computing, then kill the server without warning.
    let start = Instant::now();
    loop {
        let s = api.get_json(&format!("projects/{pid}/runs/{rid}/status"), &token);
        assert_ne!(
            s["state"], "completed",
            "run finished before it could be interrupted"
        );
        if s["state"] == "running" && s["current_stage"]["progress"]["absolute"].as_u64() > Some(0)
        {
            break;
        }
        assert!(start.elapsed() < Duration::from_secs(60), "{s}");
        std::thread::sleep(Duration::from_millis(20));
    }
    server.kill();

    let mut server = Server::start(dir.path(), port);
    let description = api.get_json(&format!("projects/{pid}"), &token);
    assert_eq!(description["parties_contributed"], 2);
    assert_eq!(description["error"], false);
    let result = api.wait_result(&pid, &rid, &token);
    let (expected, _) = link(&[&a, &b], &LinkSpec::new(ResultType::Mapping, 0.8)).unwrap();
    assert!(matches!(expected, Linkage::Mapping(ref m) if m.len() > 10_000));
    assert_eq!(result, serde_json::to_value(&expected).unwrap());
    server.kill();
}
