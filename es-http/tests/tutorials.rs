//! The seed tutorials end to end over HTTP, checked against the reference fixtures.

mod common;

use common::*;
use serde_json::Value;

#[test]
fn mapping_tutorial_matches_greedy_reference() {
    let server = Server::start();
    let project = server.create_project("mapping", 2);
    for (party, file) in ["febrl4/febrl4_a.json", "febrl4/febrl4_b.json"]
        .iter()
        .enumerate()
    {
        let r = server.upload_json(&project, party, read_fixture(file));
        assert_eq!(r.status(), 201);
        assert!(r.json::<Value>().unwrap()["receipt_token"].is_string());
    }
    let run = server.create_run(&project, 0.8);
    let status = server.wait_for_run(&project, &run);
    assert_eq!(status["total_number_comparisons"], 25_000_000);
    let result = server.result(&project, &run, &project.result_token);
    let mapping = result["mapping"].as_object().unwrap();
    let expected = groups_fixture("febrl4/greedy_groups_t0.8.json");
    assert_eq!(mapping.len(), expected.len());
    for g in expected {
        assert_eq!(mapping[&g[0][1].to_string()], g[1][1].to_string());
    }
}

#[test]
fn similarity_scores_tutorial_matches_candidates() {
    let server = Server::start();
    let project = server.create_project("similarity_scores", 2);
    // Party order of upload does not matter: party 1 first.
    assert_eq!(
        server
            .upload_json(&project, 1, read_fixture("febrl4/febrl4_b.json"))
            .status(),
        201
    );
    // A run posted before all data is there waits in `created`.
    let run = server.create_run(&project, 0.9);
    let status: Value = server
        .get(
            &format!("projects/{}/runs/{run}/status", project.id),
            Some(&project.result_token),
        )
        .json()
        .unwrap();
    assert_eq!(status["state"], "created");
    assert_eq!(status["current_stage"]["progress"]["absolute"], 1);
    assert_eq!(
        server
            .upload_json(&project, 0, read_fixture("febrl4/febrl4_a.json"))
            .status(),
        201
    );
    let status = server.wait_for_run(&project, &run);
    assert_eq!(status["stages"], 2);
    assert_eq!(status["current_stage"]["progress"]["relative"], 1.0);
    let result = server.result(&project, &run, &project.result_token);
    let scores = result["similarity_scores"].as_array().unwrap();
    let text = String::from_utf8(read_fixture("febrl4/candidates_t0.9.csv")).unwrap();
    let expected: Vec<&str> = text.lines().skip(1).collect();
    assert_eq!(scores.len(), expected.len());
    for (got, line) in scores.iter().zip(expected) {
        let f: Vec<&str> = line.split(',').collect();
        assert_eq!(got[0].as_u64().unwrap().to_string(), f[3]);
        assert_eq!(got[1].as_u64().unwrap().to_string(), f[4]);
        assert_eq!(
            got[2].as_f64().unwrap().to_bits(),
            f[0].parse::<f64>().unwrap().to_bits()
        );
    }
}

#[test]
fn permutations_tutorial_reproduces_the_mapping() {
    let server = Server::start();
    let project = server.create_project("permutations", 2);
    let mut receipts = Vec::new();
    for (party, file) in ["febrl4/febrl4_a.json", "febrl4/febrl4_b.json"]
        .iter()
        .enumerate()
    {
        let r = server.upload_json(&project, party, read_fixture(file));
        receipts.push(
            r.json::<Value>().unwrap()["receipt_token"]
                .as_str()
                .unwrap()
                .to_string(),
        );
    }
    let run = server.create_run(&project, 0.8);
    server.wait_for_run(&project, &run);
    let mask: Vec<u8> = serde_json::from_value(
        server.result(&project, &run, &project.result_token)["mask"].clone(),
    )
    .unwrap();
    let a = server.result(&project, &run, &receipts[0]);
    let b = server.result(&project, &run, &receipts[1]);
    assert_eq!(mask.len(), 5000);
    assert_eq!(a["rows"], 5000);
    assert_eq!(b["rows"], 5000);
    let perm_a: Vec<usize> = serde_json::from_value(a["permutation"].clone()).unwrap();
    let perm_b: Vec<usize> = serde_json::from_value(b["permutation"].clone()).unwrap();
    // Reorder both parties by their permutations; the masked positions hold the matches.
    let mut at_a = vec![usize::MAX; 5000];
    let mut at_b = vec![usize::MAX; 5000];
    for (row, &pos) in perm_a.iter().enumerate() {
        at_a[pos] = row;
    }
    for (row, &pos) in perm_b.iter().enumerate() {
        at_b[pos] = row;
    }
    let mut linked: Vec<[u32; 2]> = (0..5000)
        .filter(|&p| mask[p] == 1)
        .map(|p| [at_a[p] as u32, at_b[p] as u32])
        .collect();
    linked.sort();
    let mut expected: Vec<[u32; 2]> = groups_fixture("febrl4/greedy_groups_t0.8.json")
        .into_iter()
        .map(|g| [g[0][1], g[1][1]])
        .collect();
    expected.sort();
    assert_eq!(linked, expected);
    // A receipt token may describe a permutations project; an update token may not.
    assert_eq!(
        server
            .get(&format!("projects/{}", project.id), Some(&receipts[0]))
            .status(),
        200
    );
    assert_eq!(
        server
            .get(
                &format!("projects/{}", project.id),
                Some(&project.update_tokens[0])
            )
            .status(),
        403
    );
}

#[test]
fn five_party_groups_in_binary_match_reference() {
    let server = Server::start();
    let project = server.create_project("groups", 5);
    for party in 0..5 {
        let records = fixture_records(&format!("multiparty/clks-{}.json", party + 1));
        let body: Vec<u8> = records.concat();
        let r = server.upload_binary(&project, party, records.len(), 128, body);
        assert_eq!(r.status(), 201, "{:?}", r.text());
    }
    let run = server.create_run(&project, 0.8);
    server.wait_for_run(&project, &run);
    let result = server.result(&project, &run, &project.result_token);
    assert_eq!(
        canonical_groups(&result),
        groups_fixture("multiparty/greedy_groups_t0.8.json")
    );
}
