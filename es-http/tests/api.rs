//! Authorization, deletion and bad input over HTTP (API reference §3, §4, §6, §7).

mod common;

use common::*;
use serde_json::{Value, json};

fn detail(r: reqwest::blocking::Response) -> (u16, String) {
    let status = r.status().as_u16();
    let ct = r
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default();
    let body: Value = r.json().unwrap();
    assert!(
        status < 400 || ct.starts_with("application/problem+json"),
        "{ct}"
    );
    (status, body["detail"].as_str().unwrap_or("").to_string())
}

fn small_records(n: usize, size: usize, seed: u8) -> Vec<Vec<u8>> {
    (0..n)
        .map(|i| {
            // A distinct pseudo-random record per row, about half the bits set.
            let mut state = (i as u64 + 1).wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ u64::from(seed);
            (0..size)
                .map(|_| {
                    state ^= state << 13;
                    state ^= state >> 7;
                    state ^= state << 17;
                    state as u8
                })
                .collect()
        })
        .collect()
}

#[test]
fn status_version_and_unknown_paths() {
    let server = Server::start();
    let s: Value = server.get("status", None).json().unwrap();
    assert_eq!(s["status"], "ok");
    assert_eq!(s["project_count"], 0);
    assert_eq!(s["rate"], 1);
    assert!(server.get("version", None).json::<Value>().unwrap()["anonlink"].is_string());
    assert_eq!(server.get("nope", None).status(), 404);
    assert_eq!(server.delete("status", None).status(), 405);
}

#[test]
fn project_creation_validation() {
    let server = Server::start();
    for (rt, parties) in [
        ("mapping", 1),
        ("mapping", 3),
        ("similarity_scores", 4),
        ("permutations", 5),
        ("groups", 1),
    ] {
        let r = server.post_json(
            "projects",
            None,
            &json!({"schema": {}, "result_type": rt, "number_parties": parties}),
        );
        assert_eq!(r.status(), 400, "{rt} {parties}");
    }
    let (code, d) = detail(server.post_json(
        "projects",
        None,
        &json!({"schema": {}, "result_type": "mapping", "number_parties": 3}),
    ));
    assert_eq!(
        (code, d.as_str()),
        (400, "Multi-party linkage requires result type 'groups'.")
    );
    let (code, d) = detail(server.post_json("projects", None, &json!({"result_type": "mapping"})));
    assert_eq!((code, d.as_str()), (400, "'schema' is a required property"));
    let (code, _) = detail(server.post_json(
        "projects",
        None,
        &json!({"schema": {}, "result_type": "nope"}),
    ));
    assert_eq!(code, 400);
    let (code, _) = detail(server.post_json(
        "projects",
        None,
        &json!({"schema": {}, "result_type": "groups", "number_parties": 2.5}),
    ));
    assert_eq!(code, 400);
    let (code, _) = detail(server.post_json(
        "projects",
        None,
        &json!({"schema": {}, "result_type": "groups", "name": null}),
    ));
    assert_eq!(code, 400);
    let r = server
        .client
        .post(format!("{}projects", server.url))
        .header("Content-Type", "text/plain")
        .body("x")
        .send()
        .unwrap();
    assert_eq!(r.status(), 415);
    let r = server
        .client
        .post(format!("{}projects", server.url))
        .header("Content-Type", "application/json")
        .body("{not json")
        .send()
        .unwrap();
    assert_eq!(r.status(), 400);
    // Nothing was created by any of these.
    assert_eq!(
        server
            .get("projects", None)
            .json::<Value>()
            .unwrap()
            .as_array()
            .unwrap()
            .len(),
        0
    );

    let p = server.create_project("groups", 3);
    assert_eq!(p.update_tokens.len(), 3);
    let d: Value = server
        .get(&format!("projects/{}", p.id), Some(&p.result_token))
        .json()
        .unwrap();
    assert_eq!(d["name"], "");
    assert_eq!(d["notes"], "");
    assert_eq!(d["error"], false);
    assert_eq!(d["number_parties"], 3);
    assert_eq!(d["parties_contributed"], 0);
    let listed: Value = server.get("projects", None).json().unwrap();
    assert_eq!(listed[0]["project_id"], p.id.as_str());
    assert!(
        listed[0]["time_added"]
            .as_str()
            .unwrap()
            .ends_with("+00:00")
    );
}

#[test]
fn authorization_matrix() {
    let server = Server::start();
    let p = server.create_project("mapping", 2);
    let other = server.create_project("mapping", 2);
    let path = format!("projects/{}", p.id);
    // Missing header → 400; wrong or foreign token, unknown project → 403.
    assert_eq!(
        detail(server.get(&path, None)),
        (400, "Missing header parameter 'Authorization'".into())
    );
    assert_eq!(server.get(&path, Some("nope")).status(), 403);
    assert_eq!(server.get(&path, Some(&other.result_token)).status(), 403);
    assert_eq!(server.get(&path, Some(&p.update_tokens[0])).status(), 403);
    assert_eq!(
        detail(server.get("projects/fakeprojectid", Some(&p.result_token))),
        (403, "Invalid access token or project doesn't exist".into())
    );
    assert_eq!(server.get(&format!("{path}/runs"), None).status(), 400);
    assert_eq!(
        server.get(&format!("{path}/runs"), Some("nope")).status(),
        403
    );
    assert_eq!(
        server
            .get(&format!("{path}/runs"), Some(&p.update_tokens[0]))
            .status(),
        403
    );
    // An update token only uploads to its own project.
    let records = small_records(10, 16, 3);
    let r = server
        .client
        .post(format!("{}projects/{}/clks", server.url, p.id))
        .header("Authorization", &other.update_tokens[0])
        .header("Content-Type", "application/json")
        .body(json_document(&records))
        .send()
        .unwrap();
    assert_eq!(r.status(), 403);
    // The result token cannot upload.
    let r = server
        .client
        .post(format!("{}projects/{}/clks", server.url, p.id))
        .header("Authorization", &p.result_token)
        .header("Content-Type", "application/json")
        .body(json_document(&records))
        .send()
        .unwrap();
    assert_eq!(r.status(), 403);
    // Upload, then the token is spent.
    let r = server.upload_json(&p, 0, json_document(&records));
    assert_eq!(r.status(), 201);
    let receipt = r.json::<Value>().unwrap()["receipt_token"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(
        detail(server.upload_json(&p, 0, json_document(&records))),
        (
            403,
            "This token has already been used to upload clks.".into()
        )
    );
    assert_eq!(
        server.upload_json(&p, 1, json_document(&records)).status(),
        201
    );
    let run = server.create_run(&p, 0.9);
    server.wait_for_run(&p, &run);
    let run_path = format!("{path}/runs/{run}");
    // Receipt tokens read nothing of a mapping project.
    for sub in ["", "/status", "/result"] {
        assert_eq!(
            server
                .get(&format!("{run_path}{sub}"), Some(&receipt))
                .status(),
            403,
            "{sub}"
        );
        assert_eq!(
            server
                .get(&format!("{run_path}{sub}"), Some(&p.update_tokens[1]))
                .status(),
            403,
            "{sub}"
        );
        assert_eq!(
            server
                .get(&format!("{run_path}{sub}"), Some(&other.result_token))
                .status(),
            403,
            "{sub}"
        );
        assert_eq!(
            server
                .get(&format!("{run_path}{sub}"), Some(&p.result_token))
                .status(),
            200,
            "{sub}"
        );
    }
    assert_eq!(server.get(&path, Some(&receipt)).status(), 403);
    // A run id of another project is unknown here.
    assert_eq!(
        server
            .get(
                &format!("projects/{}/runs/{run}", other.id),
                Some(&other.result_token)
            )
            .status(),
        403
    );
    assert_eq!(
        server
            .get(&format!("{path}/runs/invalid"), Some(&p.result_token))
            .status(),
        403
    );
}

#[test]
fn groups_receipts_and_run_lifecycle() {
    let server = Server::start();
    let p = server.create_project("groups", 3);
    // Ten runs posted before any data: all listed as created, results 404.
    let runs: Vec<String> = (0..10).map(|_| server.create_run(&p, 0.99)).collect();
    let listed: Value = server
        .get(&format!("projects/{}/runs", p.id), Some(&p.result_token))
        .json()
        .unwrap();
    assert_eq!(listed.as_array().unwrap().len(), 10);
    assert!(
        listed
            .as_array()
            .unwrap()
            .iter()
            .all(|r| r["state"] == "created")
    );
    assert_eq!(
        detail(server.get(
            &format!("projects/{}/runs/{}/result", p.id, runs[0]),
            Some("bogus")
        )),
        (404, "run is not complete".into())
    );
    // The same 1000 records from every party: 1000 groups of one row from each party.
    let records = small_records(1000, 128, 11);
    let mut receipt = String::new();
    for party in 0..3 {
        let r = server.upload_json(&p, party, json_document(&records));
        receipt = r.json::<Value>().unwrap()["receipt_token"]
            .as_str()
            .unwrap()
            .to_string();
        let d: Value = server
            .get(&format!("projects/{}", p.id), Some(&p.result_token))
            .json()
            .unwrap();
        assert_eq!(d["parties_contributed"], party + 1);
    }
    server.wait_for_run(&p, &runs[9]);
    let result = server.result(&p, &runs[9], &receipt);
    let groups = canonical_groups(&result);
    assert_eq!(groups.len(), 1000);
    for g in &groups {
        assert_eq!(g.len(), 3);
        assert!(
            g.iter()
                .enumerate()
                .all(|(party, r)| r[0] == party as u32 && r[1] == g[0][1]),
            "{g:?}"
        );
    }
    // Deleting a run: gone from the listing, every endpoint 403, project unaffected.
    assert_eq!(
        server
            .delete(
                &format!("projects/{}/runs/{}", p.id, runs[0]),
                Some(&p.result_token)
            )
            .status(),
        204
    );
    assert_eq!(
        server
            .delete(
                &format!("projects/{}/runs/{}", p.id, runs[0]),
                Some(&p.result_token)
            )
            .status(),
        403
    );
    for sub in ["", "/status", "/result"] {
        assert_eq!(
            server
                .get(
                    &format!("projects/{}/runs/{}{sub}", p.id, runs[0]),
                    Some(&p.result_token)
                )
                .status(),
            403
        );
    }
    let listed: Value = server
        .get(&format!("projects/{}/runs", p.id), Some(&p.result_token))
        .json()
        .unwrap();
    assert_eq!(listed.as_array().unwrap().len(), 9);
    assert_eq!(
        server
            .get(&format!("projects/{}", p.id), Some(&p.result_token))
            .status(),
        200
    );
}

#[test]
fn project_deletion_removes_everything() {
    let server = Server::start();
    let p = server.create_project("mapping", 2);
    let records = small_records(50, 64, 5);
    server.upload_json(&p, 0, json_document(&records));
    server.upload_json(&p, 1, json_document(&records));
    let run = server.create_run(&p, 0.9);
    server.wait_for_run(&p, &run);
    assert_eq!(
        server
            .delete(&format!("projects/{}", p.id), Some(&p.update_tokens[0]))
            .status(),
        403
    );
    assert_eq!(
        server
            .delete(&format!("projects/{}", p.id), Some(&p.result_token))
            .status(),
        204
    );
    assert_eq!(
        server
            .delete(&format!("projects/{}", p.id), Some(&p.result_token))
            .status(),
        403
    );
    for path in [
        "",
        "/runs",
        &format!("/runs/{run}"),
        &format!("/runs/{run}/status"),
        &format!("/runs/{run}/result"),
    ] {
        assert_eq!(
            server
                .get(&format!("projects/{}{path}", p.id), Some(&p.result_token))
                .status(),
            403,
            "{path}"
        );
    }
    let r = server.post_json(
        &format!("projects/{}/runs", p.id),
        Some(&p.result_token),
        &json!({"threshold": 0.9}),
    );
    assert_eq!(r.status(), 403);
    // Still counted, as in the reference.
    assert_eq!(
        server.get("status", None).json::<Value>().unwrap()["project_count"],
        1
    );
}

#[test]
fn bad_uploads_and_runs() {
    let server = Server::start();
    let p = server.create_project("mapping", 2);
    let up = |ct: Option<&str>, body: &str, headers: &[(&str, &str)]| {
        let mut req = server
            .client
            .post(format!("{}projects/{}/clks", server.url, p.id))
            .header("Authorization", &p.update_tokens[0])
            .body(body.to_string());
        if let Some(ct) = ct {
            req = req.header("Content-Type", ct);
        }
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        detail(req.send().unwrap())
    };
    assert_eq!(
        up(Some("application/json"), "{}", &[]),
        (400, "Missing CLKs information".into())
    );
    assert_eq!(
        up(Some("application/json"), r#"{"clks": []}"#, &[]),
        (400, "Missing CLKs information".into())
    );
    assert_eq!(up(Some("application/json"), "{nope", &[]).0, 400);
    assert_eq!(
        up(Some("text/csv"), "a,b", &[]),
        (400, "Content Type not supported".into())
    );
    assert_eq!(
        up(None, "a,b", &[]),
        (400, "Content Type not supported".into())
    );
    let bin = Some("application/octet-stream");
    assert_eq!(
        up(bin, "", &[]),
        (
            400,
            "Binary upload requires 'Hash-Count' and 'Hash-Size' headers".into()
        )
    );
    assert_eq!(
        up(bin, "", &[("Hash-Count", "1"), ("Hash-Size", "2048")]),
        (400, "Invalid value for Hash-Size header".into())
    );
    assert_eq!(
        up(bin, "", &[("Hash-Count", "1"), ("Hash-Size", "x")]),
        (400, "Invalid value for Hash-Size header".into())
    );
    for count in ["-1", "0", "x"] {
        assert_eq!(
            up(bin, "", &[("Hash-Count", count), ("Hash-Size", "8")]),
            (400, "Invalid value for Hash-Count header".into())
        );
    }
    for count in ["1000000", "3"] {
        assert_eq!(
            up(
                bin,
                "12345678",
                &[("Hash-Count", count), ("Hash-Size", "8")]
            )
            .1,
            "Uploaded data did not match the expected size. Check request headers are correct"
        );
    }
    // None of those used the token up.
    let d: Value = server
        .get(&format!("projects/{}", p.id), Some(&p.result_token))
        .json()
        .unwrap();
    assert_eq!(d["parties_contributed"], 0);
    assert_eq!(
        up(bin, "12345678", &[("Hash-Count", "1"), ("Hash-Size", "8")]).0,
        201
    );

    // Bad thresholds; unknown run body fields.
    for t in [0.0, -0.5, 1.5] {
        let r = server.post_json(
            &format!("projects/{}/runs", p.id),
            Some(&p.result_token),
            &json!({"threshold": t}),
        );
        assert_eq!(detail(r), (400, "Threshold parameter out of range".into()));
    }
    let r = server.post_json(
        &format!("projects/{}/runs", p.id),
        Some(&p.result_token),
        &json!({}),
    );
    assert_eq!(
        detail(r),
        (400, "'threshold' is a required property".into())
    );

    // Encodings of illegal sizes are accepted, then flag the project.
    for size in [4usize, 20, 4096] {
        let q = server.create_project("mapping", 2);
        let records = small_records(5, size, 7);
        assert_eq!(
            server.upload_json(&q, 0, json_document(&records)).status(),
            201,
            "{size}"
        );
        assert_eq!(
            server.upload_json(&q, 1, json_document(&records)).status(),
            201,
            "{size}"
        );
        let d: Value = server
            .get(&format!("projects/{}", q.id), Some(&q.result_token))
            .json()
            .unwrap();
        assert_eq!(d["error"], true, "{size}");
        let r = server.post_json(
            &format!("projects/{}/runs", q.id),
            Some(&q.result_token),
            &json!({"threshold": 0.9}),
        );
        assert_eq!(
            detail(r),
            (500, "Can't post run as project has errors".into())
        );
    }
    // Parties with different sizes: accepted, then the project is in error and runs fail.
    let q = server.create_project("mapping", 2);
    let run = server.create_run(&q, 0.9);
    server.upload_json(&q, 0, json_document(&small_records(5, 16, 1)));
    server.upload_json(&q, 1, json_document(&small_records(5, 32, 1)));
    let status = server.status(&q, &run);
    assert_eq!(status["state"], "error");
    assert!(
        status["message"].as_str().unwrap().contains("32 bytes"),
        "{status}"
    );
    assert_eq!(
        detail(server.get(
            &format!("projects/{}/runs/{run}/result", q.id),
            Some(&q.result_token)
        )),
        (500, "Error during computation of run".into())
    );
}

#[test]
fn candidate_limit_fails_the_run_with_a_message() {
    // Over the limit in one chunk (many pairs near 0.5); and only over all chunks: 100 equal
    // record pairs at 0.9 in 20 chunks of at most 25 each, against a limit of 50.
    for (limit, chunk_comparisons, threshold) in [(10, 3_000_000, 0.5), (50, 500, 0.9)] {
        let config = es_http::ServiceConfig {
            max_candidate_pairs: limit,
            max_streamed_candidate_pairs: limit,
            chunk_comparisons,
            ..common::test_config()
        };
        let server = Server::start_with(config);
        let p = server.create_project("groups", 2);
        let records = small_records(100, 64, 9);
        server.upload_json(&p, 0, json_document(&records));
        server.upload_json(&p, 1, json_document(&records));
        let run = server.create_run(&p, threshold);
        let start = std::time::Instant::now();
        loop {
            let status = server.status(&p, &run);
            if status["state"] == "error" {
                let message = status["message"].as_str().unwrap();
                assert!(
                    message.starts_with(
                        "This run has created more than the global limit of candidate pairs."
                    ),
                    "{message}"
                );
                // Known before computing: the estimate is in the message.
                assert!(message.contains("Estimated before computing"), "{message}");
                break;
            }
            assert_ne!(status["state"], "completed", "limit {limit}: {status}");
            assert!(start.elapsed().as_secs() < 30, "{status}");
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
    }
}

/// Runs whose solve streams (two-party greedy, similarity scores) answer under their own,
/// higher limit; a run whose solver keeps state per pair (probabilistic, three parties)
/// stays under the lower one.
#[test]
fn streamed_runs_have_a_limit_of_their_own() {
    let server = Server::start_with(es_http::ServiceConfig {
        max_candidate_pairs: 10,
        max_streamed_candidate_pairs: 1_000_000,
        ..common::test_config()
    });
    let records = small_records(100, 64, 9);
    let wait = |p: &Project, run: &str| {
        let start = std::time::Instant::now();
        loop {
            let status = server.status(p, run);
            if status["state"] == "completed" || status["state"] == "error" {
                return status;
            }
            assert!(start.elapsed().as_secs() < 30, "{status}");
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
    };
    for result_type in ["groups", "similarity_scores"] {
        let p = server.create_project(result_type, 2);
        server.upload_json(&p, 0, json_document(&records));
        server.upload_json(&p, 1, json_document(&records));
        let run = server.create_run(&p, 0.5);
        assert_eq!(wait(&p, &run)["state"], "completed", "{result_type}");
    }
    let p = server
        .create_project_from(&json!({"schema": {}, "result_type": "groups", "number_parties": 3}));
    for party in 0..3 {
        server.upload_json(&p, party, json_document(&records));
    }
    let answer = server.post_json(
        &format!("projects/{}/runs", p.id),
        Some(&p.result_token),
        &json!({"threshold": 0.5, "solver": "probabilistic"}),
    );
    let run = answer.json::<Value>().unwrap()["run_id"]
        .as_str()
        .unwrap()
        .to_string();
    let status = wait(&p, &run);
    assert_eq!(status["state"], "error", "{status}");
    assert!(
        status["message"]
            .as_str()
            .unwrap()
            .contains("limit of candidate pairs"),
        "{status}"
    );
}

#[test]
fn blocking_uploads_compare_only_within_blocks() {
    use anonlink_core::candidates::{Config, find_blocked};
    use anonlink_core::encoding::{Clks, SizeLimits, block_id};
    use base64::Engine;
    // Six chunks, so that block lists are sliced to row ranges and merged.
    let server = Server::start_with(es_http::ServiceConfig {
        chunk_comparisons: 500,
        ..common::test_config()
    });
    let p = server.create_project_from(
        &json!({"schema": {}, "result_type": "similarity_scores", "uses_blocking": true}),
    );
    let d: Value = server
        .get(&format!("projects/{}", p.id), Some(&p.result_token))
        .json()
        .unwrap();
    assert_eq!(d["uses_blocking"], true);
    let records = small_records(60, 64, 13);
    let b64 = |r: &Vec<u8>| base64::engine::general_purpose::STANDARD.encode(r);
    // Party 0 in clknblocks form, two blocks by row parity (row 0 in both); party 1 in
    // encodings + blocks form, rows 30.. left to the default block "1".
    let blocks_a: Vec<Vec<String>> = (0..60)
        .map(|i| {
            if i == 0 {
                vec!["even".into(), "odd".into()]
            } else if i % 2 == 0 {
                vec!["even".into()]
            } else {
                vec!["odd".into()]
            }
        })
        .collect();
    let clknblocks: Vec<Value> = records
        .iter()
        .zip(&blocks_a)
        .map(|(r, b)| {
            let mut item = vec![json!(b64(r))];
            item.extend(b.iter().map(|x| json!(x)));
            Value::Array(item)
        })
        .collect();
    // A blocking project refuses plain clks, and a plain project refuses blocks.
    assert_eq!(
        detail(server.upload_json(&p, 0, json_document(&records))).0,
        403
    );
    assert_eq!(
        server
            .upload_json(
                &p,
                0,
                serde_json::to_vec(&json!({"clknblocks": clknblocks})).unwrap()
            )
            .status(),
        201
    );
    let mut block_map = serde_json::Map::new();
    let mut blocks_b: Vec<Vec<String>> = Vec::new();
    for i in 0..60 {
        if i < 30 {
            let name = if i % 3 == 0 { "odd" } else { "even" };
            block_map.insert(i.to_string(), json!([name]));
            blocks_b.push(vec![name.into()]);
        } else {
            blocks_b.push(vec!["1".into()]);
        }
    }
    let doc =
        json!({"encodings": records.iter().map(b64).collect::<Vec<_>>(), "blocks": block_map});
    assert_eq!(
        server
            .upload_json(&p, 1, serde_json::to_vec(&doc).unwrap())
            .status(),
        201
    );
    let run = server.create_run(&p, 0.5);
    server.wait_for_run(&p, &run);
    let result = server.result(&p, &run, &p.result_token);

    let clks = Clks::from_records(&records, &SizeLimits::default()).unwrap();
    let ids = |b: &Vec<Vec<String>>| {
        b.iter()
            .map(|l| l.iter().map(|x| block_id(x)).collect())
            .collect::<Vec<Vec<u64>>>()
    };
    let expected = find_blocked(
        &[&clks, &clks],
        &[ids(&blocks_a), ids(&blocks_b)],
        &Config::new(0.5),
    )
    .unwrap();
    let got = result["similarity_scores"].as_array().unwrap();
    assert_eq!(got.len(), expected.len());
    assert!(!got.is_empty());
    for (g, e) in got.iter().zip(expected.iter()) {
        assert_eq!(
            (g[0].as_u64().unwrap() as u32, g[1].as_u64().unwrap() as u32),
            (e.row0, e.row1)
        );
    }

    let plain = server.create_project("mapping", 2);
    assert_eq!(
        detail(server.upload_json(
            &plain,
            0,
            serde_json::to_vec(&json!({"clknblocks": [[b64(&records[0]), "x"]]})).unwrap()
        )),
        (
            403,
            "Blocking has been disabled for this project, but received blocking information".into()
        )
    );
}

#[test]
fn oversized_bodies_are_refused_without_state_change() {
    let config = es_http::ServiceConfig {
        max_request_bytes: 10_000,
        ..common::test_config()
    };
    let server = Server::start_with(config);
    let p = server.create_project("mapping", 2);
    let big = json_document(&small_records(200, 64, 3));
    assert!(big.len() > 10_000);
    assert_eq!(server.upload_json(&p, 0, big).status(), 413);
    let r = server.upload_binary(&p, 0, 200, 64, vec![0u8; 200 * 64]);
    assert_eq!(r.status(), 413);
    let d: Value = server
        .get(&format!("projects/{}", p.id), Some(&p.result_token))
        .json()
        .unwrap();
    assert_eq!(d["parties_contributed"], 0);
    assert_eq!(
        server
            .upload_json(&p, 0, json_document(&small_records(20, 64, 3)))
            .status(),
        201
    );
}

#[test]
fn chunks_over_their_memory_budget_spill_and_give_the_same_result() {
    use anonlink_core::encoding::{SizeLimits, decode_json_slice};
    use anonlink_core::linkage::{LinkSpec, ResultType, link};
    // A budget of 200 pairs: every chunk of febrl4 at 0.75 writes several runs to disk.
    let config = es_http::ServiceConfig {
        chunk_memory_bytes: 24 * 200,
        ..common::test_config()
    };
    let server = Server::start_with(config);
    let p = server.create_project("similarity_scores", 2);
    for (party, path) in ["febrl4/febrl4_a.json", "febrl4/febrl4_b.json"]
        .iter()
        .enumerate()
    {
        server.upload_json(&p, party, common::read_fixture(path));
    }
    let run = server.create_run(&p, 0.75);
    server.wait_for_run(&p, &run);
    let got = server.result(&p, &run, &p.result_token);
    let local =
        |path| decode_json_slice(&common::read_fixture(path), &SizeLimits::default()).unwrap();
    let (a, b) = (local("febrl4/febrl4_a.json"), local("febrl4/febrl4_b.json"));
    let (expected, _) = link(
        &[&a, &b],
        &LinkSpec::new(ResultType::SimilarityScores, 0.75),
    )
    .unwrap();
    assert_eq!(got, serde_json::to_value(&expected).unwrap());
    assert!(got["similarity_scores"].as_array().unwrap().len() > 5_000);
}
