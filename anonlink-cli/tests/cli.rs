//! The `anonlink` binary end to end: local linkage against the reference fixtures, and the
//! Entity Service client against a real server, including its error paths.

mod common;

use common::*;
use serde_json::Value;

fn ok(out: &std::process::Output) -> Value {
    assert!(
        out.status.success(),
        "failed: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap_or(Value::Null)
}

/// `anonlink create-project ARGS -o CREDS` against `root`; the credentials it wrote.
fn create_project(root: &str, args: &[&str], creds: &std::path::Path) -> Value {
    let out = creds.to_str().unwrap();
    let mut all = vec!["create-project"];
    all.extend_from_slice(args);
    all.extend(["-o", out]);
    ok(&anonlink(root, &all));
    serde_json::from_slice(&std::fs::read(creds).unwrap()).unwrap()
}

fn fails_with(out: &std::process::Output, needle: &str) {
    assert!(!out.status.success(), "should have failed");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains(needle), "stderr lacks {needle:?}: {stderr}");
}

fn canonical(groups: &Value) -> Vec<Vec<[u32; 2]>> {
    let mut groups: Vec<Vec<[u32; 2]>> = serde_json::from_value(groups.clone()).unwrap();
    for g in &mut groups {
        g.sort();
    }
    groups.sort();
    groups
}

#[test]
fn link_matches_the_reference_fixtures() {
    let files: Vec<String> = (1..=5)
        .map(|i| fixture_str(&format!("multiparty/clks-{i}.json")))
        .collect();
    let mut args = vec!["link", "-t", "0.8", "--quiet"];
    args.extend(files.iter().map(String::as_str));
    let groups = ok(&anonlink("", &args));
    let expected: Value = serde_json::from_slice(
        &std::fs::read(fixture("multiparty/greedy_groups_t0.8.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(canonical(&groups["groups"]), canonical(&expected));

    let mut args = vec!["link", "-t", "0.7", "--quiet", "--solver", "probabilistic"];
    args.extend(files.iter().map(String::as_str));
    let groups = ok(&anonlink("", &args));
    let expected: Value = serde_json::from_slice(
        &std::fs::read(fixture("multiparty/probabilistic_groups_t0.7_m0.5.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(canonical(&groups["groups"]), canonical(&expected));

    let dir = tempfile::tempdir().unwrap();
    let out_file = dir.path().join("mapping.json");
    let out = anonlink(
        "",
        &[
            "link",
            &fixture_str("febrl4/febrl4_a.json"),
            &fixture_str("febrl4/febrl4_b.json"),
            "-t",
            "0.8",
            "--type",
            "mapping",
            "--truth",
            &fixture_str("febrl4/febrl4_truth.csv"),
            "-o",
            out_file.to_str().unwrap(),
        ],
    );
    ok(&out);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("precision 1.0000, recall 0.9928"),
        "{stderr}"
    );
    // The estimate printed before linking is within 2× of what was found.
    let number_after = |marker: &str| -> f64 {
        let at = stderr
            .find(marker)
            .unwrap_or_else(|| panic!("{marker:?} in {stderr}"));
        stderr[at + marker.len()..]
            .trim_start_matches("about ")
            .split(|c: char| !c.is_ascii_digit() && c != '.')
            .next()
            .unwrap()
            .parse()
            .unwrap()
    };
    let estimated = number_after("estimated candidates: ");
    let found = number_after("comparisons, ");
    assert!(
        estimated <= 2.0 * found && estimated >= found / 2.0,
        "{estimated} vs {found}: {stderr}"
    );
    let mapping: Value = serde_json::from_slice(&std::fs::read(out_file).unwrap()).unwrap();
    assert_eq!(mapping["mapping"].as_object().unwrap().len(), 4964);

    // Bad inputs: a missing file, mixed sizes, one dataset.
    fails_with(
        &anonlink(
            "",
            &[
                "link",
                "/nonexistent.json",
                "/nonexistent.json",
                "-t",
                "0.8",
            ],
        ),
        "/nonexistent.json: i/o error",
    );
    let bad = dir.path().join("bad.json");
    std::fs::write(
        &bad,
        r#"{"clks": ["AAAAAAAAAAA=", "AAAAAAAAAAAAAAAAAAAAAA=="]}"#,
    )
    .unwrap();
    fails_with(
        &anonlink(
            "",
            &[
                "link",
                bad.to_str().unwrap(),
                bad.to_str().unwrap(),
                "-t",
                "0.8",
            ],
        ),
        "record 1",
    );
    assert_eq!(
        anonlink("", &["link", bad.to_str().unwrap(), "-t", "0.8"])
            .status
            .code(),
        Some(2)
    );
}

#[test]
fn describe_and_histogram() {
    let out = anonlink("", &["describe", &fixture_str("febrl4/febrl4_a.json")]);
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("5000 records of 128 bytes (1024 bits)"),
        "{text}"
    );
    assert!(text.contains("popcount min 552"), "{text}");
    let out = anonlink(
        "",
        &[
            "scores-histogram",
            &fixture_str("febrl4/febrl4_a.json"),
            &fixture_str("febrl4/febrl4_b.json"),
            "--from",
            "0.8",
            "--bins",
            "4",
        ],
    );
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("5474 candidate pairs with score >= 0.8"),
        "{text}"
    );
}

#[test]
fn client_runs_the_tutorial_against_a_server() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), free_port());
    let root = server.root();
    let status = ok(&anonlink(&root, &["status"]));
    assert_eq!(status["status"], "ok");
    assert!(ok(&anonlink(&root, &["version"]))["anonlink"].is_string());

    let creds_file = dir.path().join("creds.json");
    let creds = create_project(&root, &["--type", "mapping", "--name", "cli"], &creds_file);
    let pid = creds["project_id"].as_str().unwrap();
    let rt = creds["result_token"].as_str().unwrap();
    let t0 = creds["update_tokens"][0].as_str().unwrap();
    let t1 = creds["update_tokens"][1].as_str().unwrap();

    // Party 0 uploads JSON; party 1 binary (its records written out first).
    let receipt = ok(&anonlink(
        &root,
        &[
            "upload",
            "--project",
            pid,
            "--apikey",
            t0,
            &fixture_str("febrl4/febrl4_a.json"),
        ],
    ));
    assert!(receipt["receipt_token"].is_string());
    fails_with(
        &anonlink(
            &root,
            &[
                "upload",
                "--project",
                pid,
                "--apikey",
                t0,
                &fixture_str("febrl4/febrl4_a.json"),
            ],
        ),
        "This token has already been used",
    );
    let b = anonlink_core::encoding::decode_json(
        std::fs::File::open(fixture("febrl4/febrl4_b.json")).unwrap(),
        &anonlink_core::encoding::SizeLimits::default(),
    )
    .unwrap();
    let bin = dir.path().join("b.bin");
    let mut bytes = Vec::new();
    anonlink_core::encoding::encode_binary(&b, &mut bytes).unwrap();
    std::fs::write(&bin, bytes).unwrap();
    fails_with(
        &anonlink(
            &root,
            &[
                "upload",
                "--project",
                pid,
                "--apikey",
                "wrong",
                "--binary",
                bin.to_str().unwrap(),
            ],
        ),
        "403",
    );
    fails_with(
        &anonlink(
            &root,
            &[
                "upload",
                "--project",
                pid,
                "--apikey",
                t1,
                "/nonexistent.bin",
            ],
        ),
        "opening /nonexistent.bin",
    );
    ok(&anonlink(
        &root,
        &[
            "upload",
            "--project",
            pid,
            "--apikey",
            t1,
            "--binary",
            "--hash-size",
            "128",
            bin.to_str().unwrap(),
        ],
    ));

    let run = ok(&anonlink(
        &root,
        &[
            "create",
            "--project",
            pid,
            "--apikey",
            rt,
            "--threshold",
            "0.8",
        ],
    ));
    let rid = run["run_id"].as_str().unwrap();
    let out = anonlink(
        &root,
        &[
            "results",
            "--project",
            pid,
            "--apikey",
            rt,
            "--run",
            rid,
            "--watch",
            "--interval",
            "0.1",
        ],
    );
    let result = ok(&out);
    assert!(String::from_utf8_lossy(&out.stderr).contains("completed"));
    let mapping = result["mapping"].as_object().unwrap();
    let expected: Vec<Vec<[u32; 2]>> =
        serde_json::from_slice(&std::fs::read(fixture("febrl4/greedy_groups_t0.8.json")).unwrap())
            .unwrap();
    assert_eq!(mapping.len(), expected.len());
    for g in &expected {
        assert_eq!(mapping[&g[0][1].to_string()], g[1][1].to_string());
    }
    let runs = ok(&anonlink(
        &root,
        &["list-runs", "--project", pid, "--apikey", rt],
    ));
    assert_eq!(runs.as_array().unwrap().len(), 1);
    fails_with(
        &anonlink(
            &root,
            &["results", "--project", pid, "--apikey", t0, "--run", rid],
        ),
        "403",
    );
    assert!(
        anonlink(
            &root,
            &["delete-run", "--project", pid, "--apikey", rt, "--run", rid]
        )
        .status
        .success()
    );
    fails_with(
        &anonlink(
            &root,
            &["results", "--project", pid, "--apikey", rt, "--run", rid],
        ),
        "403",
    );
    assert!(
        anonlink(&root, &["delete-project", "--project", pid, "--apikey", rt])
            .status
            .success()
    );
    fails_with(
        &anonlink(&root, &["list-runs", "--project", pid, "--apikey", rt]),
        "Invalid access token or project doesn't exist",
    );

    // A failing run ends --watch with its message.
    let creds = create_project(&root, &["--type", "groups"], &creds_file);
    let pid = creds["project_id"].as_str().unwrap();
    let rt = creds["result_token"].as_str().unwrap();
    let small = dir.path().join("small.json");
    std::fs::write(&small, r#"{"clks": ["AAAAAAAAAAA="]}"#).unwrap();
    let large = dir.path().join("large.json");
    std::fs::write(&large, r#"{"clks": ["AAAAAAAAAAAAAAAAAAAAAA=="]}"#).unwrap();
    let run = ok(&anonlink(
        &root,
        &[
            "create",
            "--project",
            pid,
            "--apikey",
            rt,
            "--threshold",
            "0.8",
        ],
    ));
    ok(&anonlink(
        &root,
        &[
            "upload",
            "--project",
            pid,
            "--apikey",
            creds["update_tokens"][0].as_str().unwrap(),
            small.to_str().unwrap(),
        ],
    ));
    ok(&anonlink(
        &root,
        &[
            "upload",
            "--project",
            pid,
            "--apikey",
            creds["update_tokens"][1].as_str().unwrap(),
            large.to_str().unwrap(),
        ],
    ));
    fails_with(
        &anonlink(
            &root,
            &[
                "results",
                "--project",
                pid,
                "--apikey",
                rt,
                "--run",
                run["run_id"].as_str().unwrap(),
                "--watch",
            ],
        ),
        "the run failed: party 1 uploaded encodings of 16 bytes",
    );

    // The benchmark, on a tiny experiment.
    let experiments = dir.path().join("experiments.json");
    std::fs::write(&experiments, r#"[{"sizes": ["2K", 1500], "threshold": 0.8, "repetitions": 2}, {"sizes": [500, 500, 500], "threshold": 0.9}]"#).unwrap();
    let report = ok(&anonlink(
        &root,
        &["benchmark", "--experiments", experiments.to_str().unwrap()],
    ));
    let report = report.as_array().unwrap();
    assert_eq!(report.len(), 3);
    assert_eq!(report[0]["comparisons"], 3_000_000);
    assert!(report[0]["groups"].as_u64().unwrap() >= 400, "{report:?}");
    assert_eq!(report[2]["comparisons"], 750_000);
}

#[test]
fn client_reports_a_server_that_is_down() {
    let port = free_port();
    let root = format!("http://127.0.0.1:{port}");
    fails_with(&anonlink(&root, &["status"]), "cannot reach the server");
    fails_with(
        &anonlink(&root, &["create-project"]),
        "cannot reach the server",
    );
}

#[test]
fn link_reads_blocks_and_binary_files() {
    use anonlink_core::encoding::{
        SizeLimits, block_id, decode_json, encode_base64_record, encode_binary,
    };
    let dir = tempfile::tempdir().unwrap();
    let a = decode_json(
        std::fs::File::open(fixture("febrl4/febrl4_a.json")).unwrap(),
        &SizeLimits::default(),
    )
    .unwrap();
    let b = decode_json(
        std::fs::File::open(fixture("febrl4/febrl4_b.json")).unwrap(),
        &SizeLimits::default(),
    )
    .unwrap();
    // Binary files with the size in their names.
    for (name, clks) in [("a.128.bin", &a), ("b-128.bin", &b)] {
        let mut bytes = Vec::new();
        encode_binary(clks, &mut bytes).unwrap();
        std::fs::write(dir.path().join(name), bytes).unwrap();
    }
    let path = |n: &str| dir.path().join(n).to_str().unwrap().to_string();
    let from_binary = ok(&anonlink(
        "",
        &[
            "link",
            &path("a.128.bin"),
            &path("b-128.bin"),
            "-t",
            "0.9",
            "--type",
            "mapping",
            "-q",
        ],
    ));
    let from_json = ok(&anonlink(
        "",
        &[
            "link",
            &fixture_str("febrl4/febrl4_a.json"),
            &fixture_str("febrl4/febrl4_b.json"),
            "-t",
            "0.9",
            "--type",
            "mapping",
            "-q",
        ],
    ));
    assert_eq!(from_binary, from_json);
    std::fs::copy(path("a.128.bin"), path("a.bin")).unwrap();
    fails_with(
        &anonlink(
            "",
            &["link", &path("a.bin"), &path("b-128.bin"), "-t", "0.9"],
        ),
        "--binary-size",
    );

    // Blocks: rows in block (row % 3) on both sides; compare with the core's blocked search.
    let block_of = |row: usize| (row % 3).to_string();
    for (name, clks) in [("a.json", &a), ("b.json", &b)] {
        let items: Vec<Value> = (0..clks.len())
            .map(|r| serde_json::json!([encode_base64_record(&clks.record_bytes(r)), block_of(r)]))
            .collect();
        std::fs::write(
            dir.path().join(name),
            serde_json::to_vec(&serde_json::json!({"clknblocks": items})).unwrap(),
        )
        .unwrap();
    }
    let blocked = ok(&anonlink(
        "",
        &[
            "link",
            &path("a.json"),
            &path("b.json"),
            "-t",
            "0.8",
            "--type",
            "similarity_scores",
            "-q",
        ],
    ));
    let ids = |n: usize| {
        (0..n)
            .map(|r| vec![block_id(&block_of(r))])
            .collect::<Vec<_>>()
    };
    let expected = anonlink_core::candidates::find_blocked(
        &[&a, &b],
        &[ids(a.len()), ids(b.len())],
        &anonlink_core::candidates::Config::new(0.8),
    )
    .unwrap();
    let got = blocked["similarity_scores"].as_array().unwrap();
    assert_eq!(got.len(), expected.len());
    assert!(got.len() < 5474);
    fails_with(
        &anonlink(
            "",
            &[
                "link",
                &path("a.json"),
                &fixture_str("febrl4/febrl4_b.json"),
                "-t",
                "0.8",
            ],
        ),
        "some inputs carry block ids",
    );
}

#[test]
fn hash_matches_clkhash_vectors_and_reports_bad_values() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("a.json");
    let secret = dir.path().join("secret.txt");
    std::fs::write(&secret, "horse staple\n").unwrap();
    let run = anonlink(
        "",
        &[
            "hash",
            &fixture_str("febrl4/febrl4_a_pii.csv"),
            "--schema",
            &fixture_str("febrl4/febrl4_schema.json"),
            "--secret-file",
            secret.to_str().unwrap(),
            "-o",
            out.to_str().unwrap(),
            "--validate",
        ],
    );
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let ours: Value = serde_json::from_slice(&std::fs::read(&out).unwrap()).unwrap();
    let reference: Value =
        serde_json::from_slice(&std::fs::read(fixture("febrl4/febrl4_a.json")).unwrap()).unwrap();
    assert_eq!(ours, reference);
    // The secret never shows up in what the command prints.
    assert!(!String::from_utf8_lossy(&run.stderr).contains("horse"));

    // abc: schema v2, header skipped unchecked, binary output.
    let bin = dir.path().join("alice.bin");
    ok(&anonlink(
        "",
        &[
            "hash",
            &fixture_str("abc/dataset-alice.csv"),
            "--schema",
            &fixture_str("abc/schema_ABC.json"),
            "--secret",
            "correct horse",
            "--ignore-header",
            "--binary",
            "-o",
            bin.to_str().unwrap(),
            "-q",
        ],
    ));
    let alice = anonlink_core::encoding::decode_json(
        std::fs::File::open(fixture("abc/clks-alice.json")).unwrap(),
        &anonlink_core::encoding::SizeLimits::default(),
    )
    .unwrap();
    let mut expected = Vec::new();
    anonlink_core::encoding::encode_binary(&alice, &mut expected).unwrap();
    assert_eq!(std::fs::read(&bin).unwrap(), expected);

    // Bad values are listed with row and field; a checked header must match.
    let csv = dir.path().join("bad.csv");
    std::fs::write(&csv, "rec_id,given_name,surname,street_number,address_1,address_2,suburb,postcode,state,date_of_birth,soc_sec_id\n\
        r1,anna,smith,12,a st,,b,10,nsw,19800101,1\n\
        r2,bob,jones,x,a st,,b,99999,nsw,19800101,1\n").unwrap();
    let run = anonlink(
        "",
        &[
            "hash",
            csv.to_str().unwrap(),
            "--schema",
            &fixture_str("febrl4/febrl4_schema.json"),
            "--secret",
            "s",
            "-o",
            out.to_str().unwrap(),
            "--validate",
        ],
    );
    fails_with(&run, "3 invalid values");
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(
        stderr.contains("row 0, field \"postcode\"")
            && stderr.contains("row 1, field \"street_number\""),
        "{stderr}"
    );
    fails_with(
        &anonlink(
            "",
            &[
                "hash",
                &fixture_str("abc/dataset-alice.csv"),
                "--schema",
                &fixture_str("abc/schema_ABC.json"),
                "--secret",
                "s",
                "-o",
                out.to_str().unwrap(),
            ],
        ),
        "does not match the schema's identifiers",
    );
    fails_with(
        &anonlink(
            "",
            &[
                "hash",
                &fixture_str("abc/dataset-alice.csv"),
                "--schema",
                &fixture_str("abc/schema_ABC.json"),
                "-o",
                out.to_str().unwrap(),
            ],
        ),
        "give the secret",
    );
    let schema_out = dir.path().join("schema.json");
    ok(&anonlink(
        "",
        &["generate-default-schema", schema_out.to_str().unwrap()],
    ));
    assert!(
        anonlink("", &["validate-schema", schema_out.to_str().unwrap()])
            .status
            .success()
    );
    let bad_schema = dir.path().join("bad-schema.json");
    std::fs::write(&bad_schema, r#"{"version": 3, "clkConfig": {"l": 1000, "kdf": {"type": "HKDF"}}, "features": [{"identifier": "a", "format": {"type": "string"}, "hashing": {"comparison": {"type": "ngram", "n": 2}, "strategy": {"bitsPerToken": 5}}}]}"#).unwrap();
    fails_with(
        &anonlink("", &["validate-schema", bad_schema.to_str().unwrap()]),
        "feature 0 (\"a\"): blakeHash needs a filter length that is a power of two",
    );
}

#[test]
fn link_in_little_memory_spills_and_gives_the_same_answer() {
    let tmp = tempfile::tempdir().unwrap();
    let runs_dir = tmp.path().join("runs");
    std::fs::create_dir(&runs_dir).unwrap();
    for result_type in ["similarity_scores", "mapping", "groups"] {
        let args = |extra: &[&str]| {
            let mut all = vec![
                "link".to_string(),
                fixture_str("febrl4/febrl4_a.json"),
                fixture_str("febrl4/febrl4_b.json"),
                "-t".into(),
                "0.75".into(),
                "--type".into(),
                result_type.into(),
                "--quiet".into(),
            ];
            all.extend(extra.iter().map(|s| s.to_string()));
            all
        };
        let run = |a: Vec<String>| {
            let refs: Vec<&str> = a.iter().map(String::as_str).collect();
            anonlink("", &refs)
        };
        let in_memory = run(args(&[]));
        let spilled = run(args(&[
            "--memory-limit",
            "1",
            "--temp-dir",
            runs_dir.to_str().unwrap(),
        ]));
        let (a, b) = (ok(&in_memory), ok(&spilled));
        assert!(a.get(result_type).is_some(), "{result_type}");
        assert_eq!(a, b, "{result_type}");
        assert_eq!(
            in_memory.stdout, spilled.stdout,
            "{result_type}: byte for byte"
        );
        assert_eq!(
            std::fs::read_dir(&runs_dir).unwrap().count(),
            0,
            "no temporary files are left"
        );
    }
    let scores = ok(&anonlink(
        "",
        &[
            "link",
            &fixture_str("febrl4/febrl4_a.json"),
            &fixture_str("febrl4/febrl4_b.json"),
            "-t",
            "0.75",
            "--type",
            "similarity_scores",
            "--quiet",
        ],
    ));
    // Enough pairs that a 1 MiB budget wrote several runs.
    assert!(scores["similarity_scores"].as_array().unwrap().len() > 3 * (1 << 20) / 24);
}

#[test]
fn generate_hash_estimate_and_link_auto_end_to_end() {
    let dir = tempfile::tempdir().unwrap();
    let path = |name: &str| dir.path().join(name).to_str().unwrap().to_string();
    let run = |args: &[&str]| anonlink("http://127.0.0.1:9", args);

    // One file as clkutil generate writes it.
    ok(&run(&[
        "generate",
        "50",
        &path("people.csv"),
        "--seed",
        "3",
    ]));
    let text = std::fs::read_to_string(path("people.csv")).unwrap();
    assert!(text.starts_with("INDEX,NAME freetext,DOB YYYY/MM/DD,GENDER M or F\n"));
    assert_eq!(text.lines().count(), 51);
    // Linked datasets with noise and the truth; the same seed, the same files.
    let linked = |out: &str| {
        ok(&run(&[
            "generate",
            "1500",
            out,
            "--parties",
            "3",
            "--overlap",
            "0.6",
            "--corruption",
            "low",
            "--seed",
            "8",
        ]))
    };
    linked(&path("set.csv"));
    linked(&path("again.csv"));
    assert_eq!(
        std::fs::read(path("set-2.csv")).unwrap(),
        std::fs::read(path("again-2.csv")).unwrap()
    );
    ok(&run(&["generate-default-schema", &path("schema.json")]));
    for p in 1..=3 {
        ok(&run(&[
            "hash",
            &path(&format!("set-{p}.csv")),
            "--schema",
            &path("schema.json"),
            "--secret",
            "shared",
            "-o",
            &path(&format!("set-{p}.json")),
            "-q",
        ]));
    }
    let clks: Vec<String> = (1..=3).map(|p| path(&format!("set-{p}.json"))).collect();

    // The estimate: a table on stdout, JSON and an SVG chart on request.
    let (est_json, est_svg) = (path("est.json"), path("est.svg"));
    let mut args = vec!["estimate", "-q", "--output", &est_json, "--plot", &est_svg];
    args.extend(clks.iter().map(String::as_str));
    let out = run(&args);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let table = String::from_utf8_lossy(&out.stdout);
    assert!(
        table.contains("suggested threshold") && table.contains("precision"),
        "{table}"
    );
    let est: Value = serde_json::from_slice(&std::fs::read(path("est.json")).unwrap()).unwrap();
    assert_eq!(est["dataset_pairs"].as_array().unwrap().len(), 3);
    let svg = std::fs::read_to_string(path("est.svg")).unwrap();
    assert!(
        svg.starts_with("<svg") && svg.contains("Estimated quality"),
        "{}",
        &svg[..200]
    );

    // link --threshold auto: groups, the choice on stderr, accuracy against the truth.
    let (truth, groups_json) = (path("set-truth.csv"), path("groups.json"));
    let mut args = vec!["link", "-t", "auto", "--truth", &truth, "-o", &groups_json];
    args.extend(clks.iter().map(String::as_str));
    let out = run(&args);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("solver bayes") && stderr.contains("estimated:"),
        "{stderr}"
    );
    let f1: f64 = stderr
        .split("pairwise precision")
        .nth(1)
        .and_then(|s| s.split("F1 ").nth(1))
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or_else(|| panic!("no accuracy in {stderr}"));
    assert!(f1 > 0.9, "{stderr}");
    let groups: Value =
        serde_json::from_slice(&std::fs::read(path("groups.json")).unwrap()).unwrap();
    for g in groups["groups"].as_array().unwrap() {
        let parties: std::collections::HashSet<u64> = g
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r[0].as_u64().unwrap())
            .collect();
        assert_eq!(parties.len(), g.as_array().unwrap().len());
    }

    // Clear errors, nothing guessed.
    fails_with(
        &run(&["link", "-t", "often", &clks[0], &clks[1]]),
        "neither a number",
    );
    fails_with(
        &run(&["link", "-t", "auto", "--k", "3", &clks[0], &clks[1]]),
        "--k does not apply",
    );
    fails_with(&run(&["estimate", &clks[0]]), "required");
    fails_with(
        &run(&[
            "generate",
            "10",
            &path("x.csv"),
            "--parties",
            "2",
            "--corruption",
            "2",
        ]),
        "outside [0, 1]",
    );
}

#[test]
fn link_on_a_gpu_that_is_not_there_says_so_and_uses_the_cpu() {
    let a = fixture_str("febrl4/febrl4_a.json");
    let b = fixture_str("febrl4/febrl4_b.json");
    let run = |device: &str| {
        anonlink(
            "http://127.0.0.1:9",
            &[
                "link",
                &a,
                &b,
                "-t",
                "0.9",
                "--type",
                "similarity_scores",
                "--device",
                device,
            ],
        )
    };
    let (cpu, gpu) = (run("cpu"), run("gpu"));
    assert!(cpu.status.success() && gpu.status.success());
    assert_eq!(gpu.stdout, cpu.stdout);
    let stderr = String::from_utf8_lossy(&gpu.stderr);
    // This machine has no GPU (and the default build no GPU backend).
    assert!(stderr.contains("comparing on the CPU"), "{stderr}");
}

/// Blocking end to end: PII hashed and blocked in one command (`hash --blocking`), the
/// `clknblocks` documents uploaded to `anonlink serve` into a blocking project, a blocked
/// run whose result equals `anonlink link` on the same files; `block-stats` with the truth
/// reports the pairs completeness the run's recall is bounded by.
#[test]
fn hash_with_blocks_then_a_blocked_run_equals_local_link() {
    let dir = tempfile::tempdir().unwrap();
    let path = |n: &str| dir.path().join(n).to_str().unwrap().to_string();
    let secret = dir.path().join("secret.txt");
    std::fs::write(&secret, "blocking secret\n").unwrap();
    let blocking_schema = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../examples/blocking/febrl4-psig.json")
        .to_str()
        .unwrap()
        .to_string();
    for (party, csv) in [
        ("a", "febrl4/febrl4_a_pii.csv"),
        ("b", "febrl4/febrl4_b_pii.csv"),
    ] {
        let out = anonlink(
            "",
            &[
                "hash",
                &fixture_str(csv),
                "--schema",
                &fixture_str("febrl4/febrl4_schema.json"),
                "--secret-file",
                secret.to_str().unwrap(),
                "--blocking",
                &blocking_schema,
                "-o",
                &path(&format!("{party}.json")),
            ],
        );
        ok(&out);
        assert!(String::from_utf8_lossy(&out.stderr).contains("blocks"));
        ok(&anonlink(
            "",
            &[
                "block",
                &fixture_str(csv),
                "--schema",
                &blocking_schema,
                "-o",
                &path(&format!("{party}-blocks.json")),
                "-q",
            ],
        ));
    }
    let doc: Value = serde_json::from_slice(&std::fs::read(path("a.json")).unwrap()).unwrap();
    let items = doc["clknblocks"].as_array().unwrap();
    assert_eq!(items.len(), 5000);
    // The block ids are those `anonlink block` gives the same records.
    let blocks: Value =
        serde_json::from_slice(&std::fs::read(path("a-blocks.json")).unwrap()).unwrap();
    assert_eq!(
        items[0].as_array().unwrap()[1..],
        blocks["blocks"]["0"].as_array().unwrap()[..]
    );

    let local = ok(&anonlink(
        "",
        &[
            "link",
            &path("a.json"),
            &path("b.json"),
            "-t",
            "0.8",
            "--type",
            "groups",
            "-q",
        ],
    ));

    let server = Server::start(dir.path(), free_port());
    let root = server.root();
    let creds = create_project(
        &root,
        &["--type", "groups", "--blocking", "--name", "blocked"],
        &dir.path().join("creds.json"),
    );
    let pid = creds["project_id"].as_str().unwrap();
    let rt = creds["result_token"].as_str().unwrap();
    for (i, party) in ["a", "b"].iter().enumerate() {
        let token = creds["update_tokens"][i].as_str().unwrap();
        ok(&anonlink(
            &root,
            &[
                "upload",
                "--project",
                pid,
                "--apikey",
                token,
                &path(&format!("{party}.json")),
            ],
        ));
    }
    let run = ok(&anonlink(
        &root,
        &[
            "create",
            "--project",
            pid,
            "--apikey",
            rt,
            "--threshold",
            "0.8",
        ],
    ));
    let rid = run["run_id"].as_str().unwrap();
    let served = ok(&anonlink(
        &root,
        &[
            "results",
            "--project",
            pid,
            "--apikey",
            rt,
            "--run",
            rid,
            "--watch",
            "--interval",
            "0.1",
        ],
    ));
    assert_eq!(canonical(&served["groups"]), canonical(&local["groups"]));

    // Pairs completeness against the truth, and the run's recall beneath it.
    let truth_pairs = std::fs::read_to_string(fixture("febrl4/febrl4_truth.csv")).unwrap();
    let mut truth = String::from("party,row,entity\n");
    for (e, line) in truth_pairs.lines().skip(1).enumerate() {
        let (a, b) = line.split_once(',').unwrap();
        truth.push_str(&format!("0,{a},{e}\n1,{b},{e}\n"));
    }
    std::fs::write(path("truth.csv"), truth).unwrap();
    let stats = ok(&anonlink(
        "",
        &[
            "block-stats",
            &path("a-blocks.json"),
            &path("b-blocks.json"),
            "--truth",
            &path("truth.csv"),
            "--json",
        ],
    ));
    let pair = &stats["two_party"];
    let completeness = pair["pairs_completeness"].as_f64().unwrap();
    assert_eq!(pair["true_matches"], 5000);
    assert!(completeness > 0.9 && completeness < 1.0, "{pair}");
    assert!(pair["reduction_ratio"].as_f64().unwrap() > 0.99, "{pair}");
    let found = canonical(&served["groups"]).len() as f64;
    assert!(found / 5000.0 <= completeness + 1e-9);
    let table = anonlink(
        "",
        &[
            "block-stats",
            &path("a-blocks.json"),
            &path("b-blocks.json"),
        ],
    );
    assert!(String::from_utf8_lossy(&table.stdout).contains("reduction ratio"));
}

#[test]
fn block_refuses_a_bad_schema_naming_the_field() {
    let dir = tempfile::tempdir().unwrap();
    let schema = dir.path().join("bad.json");
    std::fs::write(
        &schema,
        r#"{"type": "p-sig", "version": 1, "config": {"blocking-features": [1],
            "filter": {"type": "ratio", "max": 2},
            "blocking-filter": {"type": "bloom filter", "number-hash-functions": 4, "bf-len": 2048},
            "signatureSpecs": [[{"type": "metaphone", "feature": 1}]]}}"#,
    )
    .unwrap();
    let out = dir.path().join("blocks.json");
    fails_with(
        &anonlink(
            "",
            &[
                "block",
                &fixture_str("febrl4/febrl4_a_pii.csv"),
                "--schema",
                schema.to_str().unwrap(),
                "-o",
                out.to_str().unwrap(),
            ],
        ),
        "config.filter.max",
    );
    assert!(!out.exists());
}
