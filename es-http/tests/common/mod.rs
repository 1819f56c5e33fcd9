//! A real server on an ephemeral port, and a small blocking client for it.
#![allow(dead_code)]

use std::path::PathBuf;
use std::time::{Duration, Instant};

use reqwest::blocking::{Client, Response};
use serde_json::{Value, json};

pub struct Server {
    pub url: String,
    pub client: Client,
    _runtime: tokio::runtime::Runtime,
    _dir: tempfile::TempDir,
}

/// The service's defaults, but with runs split into many small chunks computed by two
/// workers, so every test goes through chunking, concurrent claims and the k-way merge.
pub fn test_config() -> es_http::ServiceConfig {
    es_http::ServiceConfig {
        chunk_comparisons: 3_000_000,
        workers: 2,
        ..Default::default()
    }
}

impl Server {
    pub fn start() -> Server {
        Server::start_with(test_config())
    }

    pub fn start_with(config: es_http::ServiceConfig) -> Server {
        let dir = tempfile::tempdir().unwrap();
        let state = es_http::AppState::open(dir.path(), config).unwrap();
        Server::start_in(state, dir)
    }

    /// A server over a given state (any storage).
    pub fn start_state(state: es_http::AppState) -> Server {
        Server::start_in(state, tempfile::tempdir().unwrap())
    }

    fn start_in(state: es_http::AppState, dir: tempfile::TempDir) -> Server {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let listener = runtime
            .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
            .unwrap();
        let addr = listener.local_addr().unwrap();
        runtime.spawn(es_http::serve(listener, state, std::future::pending()));
        Server {
            // The reference's clients add a trailing slash: paths arrive as /api/v1//...
            url: format!("http://{addr}/api/v1/"),
            client: Client::builder()
                .timeout(Duration::from_secs(120))
                .build()
                .unwrap(),
            _runtime: runtime,
            _dir: dir,
        }
    }

    pub fn data_dir(&self) -> &std::path::Path {
        self._dir.path()
    }

    pub fn get(&self, path: &str, token: Option<&str>) -> Response {
        let mut req = self.client.get(format!("{}{path}", self.url));
        if let Some(t) = token {
            req = req.header("Authorization", t);
        }
        req.send().unwrap()
    }

    pub fn delete(&self, path: &str, token: Option<&str>) -> Response {
        let mut req = self.client.delete(format!("{}{path}", self.url));
        if let Some(t) = token {
            req = req.header("Authorization", t);
        }
        req.send().unwrap()
    }

    pub fn post_json(&self, path: &str, token: Option<&str>, body: &Value) -> Response {
        let mut req = self
            .client
            .post(format!("{}{path}", self.url))
            .header("Content-Type", "application/json")
            .body(body.to_string());
        if let Some(t) = token {
            req = req.header("Authorization", t);
        }
        req.send().unwrap()
    }

    pub fn create_project(&self, result_type: &str, parties: usize) -> Project {
        self.create_project_from(
            &json!({"schema": {}, "result_type": result_type, "number_parties": parties}),
        )
    }

    /// A project created from this request body (which must succeed).
    pub fn create_project_from(&self, body: &Value) -> Project {
        let r = self.post_json("projects", None, body);
        assert_eq!(r.status(), 201);
        let body: Value = r.json().unwrap();
        Project {
            id: body["project_id"].as_str().unwrap().into(),
            result_token: body["result_token"].as_str().unwrap().into(),
            update_tokens: body["update_tokens"]
                .as_array()
                .unwrap()
                .iter()
                .map(|t| t.as_str().unwrap().to_string())
                .collect(),
        }
    }

    pub fn upload_json(&self, project: &Project, party: usize, document: Vec<u8>) -> Response {
        self.client
            .post(format!("{}projects/{}/clks", self.url, project.id))
            .header("Authorization", &project.update_tokens[party])
            .header("Content-Type", "application/json")
            .body(document)
            .send()
            .unwrap()
    }

    pub fn upload_binary(
        &self,
        project: &Project,
        party: usize,
        count: usize,
        size: usize,
        body: Vec<u8>,
    ) -> Response {
        self.client
            .post(format!("{}projects/{}/clks", self.url, project.id))
            .header("Authorization", &project.update_tokens[party])
            .header("Content-Type", "application/octet-stream")
            .header("Hash-Count", count.to_string())
            .header("Hash-Size", size.to_string())
            .body(body)
            .send()
            .unwrap()
    }

    pub fn create_run(&self, project: &Project, threshold: f64) -> String {
        let r = self.post_json(
            &format!("projects/{}/runs", project.id),
            Some(&project.result_token),
            &json!({"threshold": threshold}),
        );
        assert_eq!(r.status(), 201);
        r.json::<Value>().unwrap()["run_id"]
            .as_str()
            .unwrap()
            .to_string()
    }

    /// The run's status, read with the result token.
    pub fn status(&self, project: &Project, run: &str) -> Value {
        self.get(
            &format!("projects/{}/runs/{run}/status", project.id),
            Some(&project.result_token),
        )
        .json()
        .unwrap()
    }

    /// Polls the status until completed; panics on error or timeout. Checks the progress
    /// invariants the reference's tests check on the way.
    pub fn wait_for_run(&self, project: &Project, run: &str) -> Value {
        let start = Instant::now();
        let (mut last_stage, mut last_relative) = (0, 0.0);
        loop {
            let status = self.status(project, run);
            let state = status["state"].as_str().unwrap().to_string();
            assert_ne!(state, "error", "run failed: {status}");
            let stage = status["current_stage"]["number"].as_u64().unwrap();
            assert!(stage >= last_stage, "stage went back: {status}");
            if stage > last_stage {
                last_relative = 0.0;
            }
            if let Some(rel) = status["current_stage"]["progress"]["relative"].as_f64() {
                assert!(rel <= 1.0 && rel >= last_relative, "progress: {status}");
                last_relative = rel;
            }
            last_stage = stage;
            if state == "completed" {
                return status;
            }
            assert!(
                start.elapsed() < Duration::from_secs(120),
                "run too slow: {status}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    pub fn result(&self, project: &Project, run: &str, token: &str) -> Value {
        let r = self.get(
            &format!("projects/{}/runs/{run}/result", project.id),
            Some(token),
        );
        assert_eq!(r.status(), 200);
        r.json().unwrap()
    }
}

pub struct Project {
    pub id: String,
    pub result_token: String,
    pub update_tokens: Vec<String>,
}

pub fn fixture(path: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../anonlink-core/tests/data")
        .join(path)
}

pub fn read_fixture(path: &str) -> Vec<u8> {
    std::fs::read(fixture(path)).unwrap()
}

/// The decoded records of a JSON fixture.
pub fn fixture_records(path: &str) -> Vec<Vec<u8>> {
    use base64::Engine;
    let doc: Value = serde_json::from_slice(&read_fixture(path)).unwrap();
    doc["clks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            base64::engine::general_purpose::STANDARD
                .decode(s.as_str().unwrap())
                .unwrap()
        })
        .collect()
}

pub fn json_document(records: &[Vec<u8>]) -> Vec<u8> {
    use base64::Engine;
    let clks: Vec<String> = records
        .iter()
        .map(|r| base64::engine::general_purpose::STANDARD.encode(r))
        .collect();
    serde_json::to_vec(&json!({"clks": clks})).unwrap()
}

pub fn groups_fixture(path: &str) -> Vec<Vec<[u32; 2]>> {
    serde_json::from_slice(&read_fixture(path)).unwrap()
}

pub fn canonical_groups(result: &Value) -> Vec<Vec<[u32; 2]>> {
    let mut groups: Vec<Vec<[u32; 2]>> = serde_json::from_value(result["groups"].clone()).unwrap();
    for g in &mut groups {
        g.sort();
    }
    groups.sort();
    groups
}

/// A two-party groups project with the febrl4 fixtures uploaded.
pub fn febrl4_groups_project(server: &Server) -> Project {
    let p = server.create_project("groups", 2);
    for (party, name) in ["a", "b"].into_iter().enumerate() {
        let records = fixture_records(&format!("febrl4/febrl4_{name}.json"));
        assert_eq!(
            server
                .upload_json(&p, party, json_document(&records))
                .status(),
            201
        );
    }
    p
}
