//! Starting the real `anonlink serve` binary, and running `anonlink` commands.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A running server; killed on drop.
pub struct Server {
    pub child: Child,
    pub port: u16,
}

impl Server {
    pub fn start(dir: &Path, port: u16) -> Server {
        let child = spawn_serve(dir, port, &[], "warn", Stdio::null());
        Server { child, port }
    }

    pub fn root(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Starts `anonlink serve` on `port` over `dir` with `extra` arguments, logging at
/// `log_level` to `stdout`, and waits until it accepts connections.
pub fn spawn_serve(dir: &Path, port: u16, extra: &[&str], log_level: &str, stdout: Stdio) -> Child {
    let child = Command::new(env!("CARGO_BIN_EXE_anonlink"))
        .args([
            "serve",
            "--bind",
            &format!("127.0.0.1:{port}"),
            "--data-dir",
        ])
        .arg(dir)
        .args(extra)
        .env("RUST_LOG", log_level)
        .stdout(stdout)
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let start = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "server did not start"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    child
}

/// Runs `anonlink args...` with `SERVER` set to `server`.
pub fn anonlink(server: &str, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_anonlink"))
        .args(args)
        .env("SERVER", server)
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

pub fn fixture(path: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../anonlink-core/tests/data")
        .join(path)
}

pub fn fixture_str(path: &str) -> String {
    fixture(path).to_str().unwrap().to_string()
}

/// A blocking HTTP client for the service at `url` (`http://host:port/api/v1`).
pub struct Client {
    pub url: String,
    pub http: reqwest::blocking::Client,
}

impl Client {
    pub fn new(port: u16) -> Client {
        Client {
            url: format!("http://127.0.0.1:{port}/api/v1"),
            http: reqwest::blocking::Client::builder()
                .timeout(Duration::from_secs(60))
                .build()
                .unwrap(),
        }
    }

    pub fn wait_up(&self) {
        let start = Instant::now();
        while self
            .http
            .get(format!("{}/status", self.url))
            .send()
            .is_err()
        {
            assert!(
                start.elapsed() < Duration::from_secs(30),
                "server did not start"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub fn get_json(&self, path: &str, token: &str) -> serde_json::Value {
        self.http
            .get(format!("{}/{path}", self.url))
            .header("Authorization", token)
            .send()
            .unwrap()
            .json()
            .unwrap()
    }

    /// A mapping project: (project id, result token, the creation answer).
    pub fn mapping_project(&self) -> (String, String, serde_json::Value) {
        self.project("mapping", 2)
    }

    /// A project of `result_type` for `parties` parties: its id, result token and the whole
    /// answer (update tokens).
    pub fn project(
        &self,
        result_type: &str,
        parties: usize,
    ) -> (String, String, serde_json::Value) {
        let project: serde_json::Value = self
            .http
            .post(format!("{}/projects", self.url))
            .json(&serde_json::json!({
                "schema": {},
                "result_type": result_type,
                "number_parties": parties,
            }))
            .send()
            .unwrap()
            .json()
            .unwrap();
        let pid = project["project_id"].as_str().unwrap().to_string();
        let token = project["result_token"].as_str().unwrap().to_string();
        (pid, token, project)
    }

    pub fn upload_binary(
        &self,
        project: &serde_json::Value,
        party: usize,
        clks: &anonlink_core::encoding::Clks,
    ) -> reqwest::Result<reqwest::blocking::Response> {
        let mut body = Vec::new();
        anonlink_core::encoding::encode_binary(clks, &mut body).unwrap();
        self.http
            .post(format!(
                "{}/projects/{}/clks",
                self.url,
                project["project_id"].as_str().unwrap()
            ))
            .header(
                "Authorization",
                project["update_tokens"][party].as_str().unwrap(),
            )
            .header("Content-Type", "application/octet-stream")
            .header("Hash-Count", clks.len().to_string())
            .header("Hash-Size", clks.bytes_per_record().to_string())
            .body(body)
            .send()
    }

    pub fn create_run(&self, pid: &str, token: &str, threshold: f64) -> String {
        let run: serde_json::Value = self
            .http
            .post(format!("{}/projects/{pid}/runs", self.url))
            .header("Authorization", token)
            .json(&serde_json::json!({"threshold": threshold}))
            .send()
            .unwrap()
            .json()
            .unwrap();
        run["run_id"].as_str().unwrap().to_string()
    }

    /// Waits for the run to complete (failing on error) and returns its result.
    pub fn wait_result(&self, pid: &str, rid: &str, token: &str) -> serde_json::Value {
        let start = Instant::now();
        loop {
            let s = self.get_json(&format!("projects/{pid}/runs/{rid}/status"), token);
            assert_ne!(s["state"], "error", "{s}");
            if s["state"] == "completed" {
                return self.get_json(&format!("projects/{pid}/runs/{rid}/result"), token);
            }
            assert!(start.elapsed() < Duration::from_secs(120), "{s}");
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

/// A fresh PostgreSQL database and object-store prefix on the test services, or `None`
/// (with a skip notice) when scripts/services.sh has not set them up.
pub fn fresh_shared_storage() -> Option<(String, String)> {
    let (Ok(base_url), Ok(s3_base)) = (
        std::env::var("ANONLINK_TEST_DATABASE_URL"),
        std::env::var("ANONLINK_TEST_S3_URL"),
    ) else {
        eprintln!(
            "skip: ANONLINK_TEST_DATABASE_URL / ANONLINK_TEST_S3_URL are not set (run scripts/services.sh)"
        );
        return None;
    };
    let tag = &anonlink_core::service::token::generate()[..16];
    let mut admin = postgres::Client::connect(&base_url, postgres::NoTls).unwrap();
    admin
        .batch_execute(&format!("CREATE DATABASE anonlink_{tag}"))
        .unwrap();
    let db = format!("{}/anonlink_{tag}", base_url.rsplit_once('/').unwrap().0);
    Some((db, format!("{s3_base}/{tag}")))
}
