//! Runs with `"threshold": "auto"` and a solver: an extension no v1 client notices. The
//! service chooses the floor, fits the score model over the merged chunks and gives the
//! same answer as `link_auto` on the same files; numeric runs stay the reference's.

mod common;

use anonlink_core::encoding::{Clks, SizeLimits, decode_json_slice};
use anonlink_core::linkage::{self, LinkSpec, Linkage, ResultType, Solver};
use common::{Project, Server, canonical_groups, json_document, read_fixture};
use serde_json::{Value, json};

const ABC: [&str; 3] = [
    "abc/clks-alice.json",
    "abc/clks-bob.json",
    "abc/clks-charlie.json",
];

fn local(path: &str) -> Clks {
    decode_json_slice(&read_fixture(path), &SizeLimits::default()).unwrap()
}

fn create(server: &Server, project: &Project, body: Value) -> (u16, Value) {
    let r = server.post_json(
        &format!("projects/{}/runs", project.id),
        Some(&project.result_token),
        &body,
    );
    (r.status().as_u16(), r.json().unwrap_or(Value::Null))
}

fn upload_all(server: &Server, project: &Project, paths: &[&str]) -> String {
    let mut receipt = String::new();
    for (party, path) in paths.iter().enumerate() {
        let records = common::fixture_records(path);
        let r = server.upload_json(project, party, json_document(&records));
        receipt = r.json::<Value>().unwrap()["receipt_token"]
            .as_str()
            .unwrap()
            .to_string();
    }
    receipt
}

#[test]
fn auto_groups_run_equals_the_local_auto_linkage() {
    let server = Server::start();
    let p = server.create_project("groups", 3);
    let receipt = upload_all(&server, &p, &ABC);
    let (status, created) = create(&server, &p, json!({"threshold": "auto", "name": "auto"}));
    assert_eq!(status, 201, "{created}");
    assert_eq!(created["solver"], "bayes");
    assert_eq!(created["auto"], true);
    let run = created["run_id"].as_str().unwrap().to_string();
    let finished = server.wait_for_run(&p, &run);
    let threshold = finished["threshold"]
        .as_f64()
        .expect("the chosen threshold");

    let sets: Vec<Clks> = ABC.iter().map(|p| local(p)).collect();
    let refs: Vec<&Clks> = sets.iter().collect();
    let (expected, choice, _) =
        linkage::link_auto(&refs, &LinkSpec::new(ResultType::Groups, 0.0), None).unwrap();
    let Linkage::Groups(expected) = expected else {
        unreachable!()
    };
    assert_eq!(threshold, choice.threshold);
    let got = canonical_groups(&server.result(&p, &run, &p.result_token));
    let want: Vec<Vec<[u32; 2]>> = expected
        .iter()
        .map(|g| g.iter().map(|r| [r.dataset, r.row]).collect())
        .collect();
    assert_eq!(got, want);

    // The description shows the threshold chosen; the estimate is the result token's.
    let described: Value = server
        .get(
            &format!("projects/{}/runs/{run}", p.id),
            Some(&p.result_token),
        )
        .json()
        .unwrap();
    assert_eq!(described["threshold"].as_f64(), Some(threshold));
    let estimate = format!("projects/{}/runs/{run}/estimate", p.id);
    let r = server.get(&estimate, Some(&p.result_token));
    assert_eq!(r.status(), 200);
    let doc: Value = r.json().unwrap();
    assert_eq!(doc["floor"].as_f64(), Some(choice.floor));
    assert!(doc["suggested"]["f1"].as_f64().unwrap() > 0.8 && doc["curve"].is_array());
    assert_eq!(server.get(&estimate, Some(&receipt)).status(), 403);
    assert_eq!(server.get(&estimate, Some("bogus")).status(), 403);
}

#[test]
fn numeric_runs_stay_the_references_and_solvers_are_checked() {
    let server = Server::start();
    let p = server.create_project("mapping", 2);
    upload_all(
        &server,
        &p,
        &["febrl4/febrl4_a.json", "febrl4/febrl4_b.json"],
    );
    let (status, created) = create(&server, &p, json!({"threshold": 0.9}));
    assert_eq!(status, 201);
    // Nothing a v1 client has not seen.
    let keys: Vec<&str> = created
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(keys, ["name", "notes", "run_id", "threshold"]);
    let numeric = created["run_id"].as_str().unwrap().to_string();
    let status = server.wait_for_run(&p, &numeric);
    assert!(status.get("threshold").is_none() && status.get("solver").is_none());
    let r = server.get(
        &format!("projects/{}/runs/{numeric}/estimate", p.id),
        Some(&p.result_token),
    );
    assert_eq!(r.status(), 404);

    for (body, message) in [
        (
            json!({"threshold": "auto", "solver": "nope"}),
            "unknown solver",
        ),
        (json!({"threshold": "0.5"}), "is not of type 'number'"),
        (
            json!({"threshold": "auto", "solver": 3}),
            "is not of type 'string'",
        ),
    ] {
        let (status, answer) = create(&server, &p, body);
        assert_eq!(status, 400, "{answer}");
        assert!(
            answer["detail"].as_str().unwrap().contains(message),
            "{answer}"
        );
    }

    // Auto with the greedy solver: the mapping at the suggested threshold, as locally.
    let (_, created) = create(
        &server,
        &p,
        json!({"threshold": "auto", "solver": "greedy"}),
    );
    assert_eq!(created["solver"], "greedy");
    let run = created["run_id"].as_str().unwrap().to_string();
    let status = server.wait_for_run(&p, &run);
    let a = local("febrl4/febrl4_a.json");
    let b = local("febrl4/febrl4_b.json");
    let (expected, choice, _) = linkage::link_auto(
        &[&a, &b],
        &LinkSpec::new(ResultType::Mapping, 0.0),
        Some(Solver::Greedy),
    )
    .unwrap();
    assert_eq!(status["threshold"].as_f64(), Some(choice.threshold));
    assert_eq!(
        server.result(&p, &run, &p.result_token),
        serde_json::to_value(&expected).unwrap()
    );
    // A numeric threshold with the Bayes solver: the model sees the pairs above it.
    let (_, created) = create(&server, &p, json!({"threshold": 0.8, "solver": "bayes"}));
    assert_eq!(created["solver"], "bayes");
    assert!(created.get("auto").is_none());
    let run = created["run_id"].as_str().unwrap().to_string();
    server.wait_for_run(&p, &run);
    let spec = LinkSpec {
        solver: Solver::Bayes,
        ..LinkSpec::new(ResultType::Mapping, 0.8)
    };
    let (expected, _) = linkage::link(&[&a, &b], &spec).unwrap();
    assert_eq!(
        server.result(&p, &run, &p.result_token),
        serde_json::to_value(&expected).unwrap()
    );
}
