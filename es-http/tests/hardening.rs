//! What an adversarial run against the service found (issue 15), each reproduced over a
//! real socket: early refusals of large bodies still answered, slow clients cut off,
//! storage failures told apart from client errors, every error body problem+json, one bad
//! record not burning a token, limits on unauthenticated work, and the operator settings.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anonlink_core::service::store::{BlobStore, StoreError};
use common::*;
use es_http::storage::{FsBlobs, SqliteStore};
use serde_json::{Value, json};

/// The address `host:port` of a server's URL.
fn address(server: &Server) -> String {
    server
        .url
        .trim_start_matches("http://")
        .split('/')
        .next()
        .unwrap()
        .to_string()
}

/// Sends a whole request (headers, then all of `body`) before reading anything, as
/// Python's `http.client` does; returns the status and the body of the answer.
fn send_whole(server: &Server, head: &str, body: &[u8]) -> (u16, Value) {
    let mut stream = TcpStream::connect(address(server)).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(60)))
        .unwrap();
    let request = format!(
        "{head}Host: test\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    stream.write_all(request.as_bytes()).unwrap();
    stream
        .write_all(body)
        .expect("the server read the whole body before answering");
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).unwrap();
    parse_answer(&answer)
}

fn parse_answer(answer: &[u8]) -> (u16, Value) {
    let text = String::from_utf8_lossy(answer);
    let status: u16 = text
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no status line in {text:?}"));
    let body = text.split("\r\n\r\n").nth(1).unwrap_or("");
    // Chunked or not: the JSON object is the part between the outer braces.
    let json = match (body.find('{'), body.rfind('}')) {
        (Some(a), Some(b)) => serde_json::from_str(&body[a..=b]).unwrap_or(Value::Null),
        _ => Value::Null,
    };
    (status, json)
}

fn upload_head(project: &Project, party: usize) -> String {
    format!(
        "POST /api/v1/projects/{}/clks HTTP/1.1\r\nAuthorization: {}\r\nContent-Type: application/json\r\n",
        project.id, project.update_tokens[party]
    )
}

/// 70 000 valid 128-byte records as base64 strings (about 12 MB of JSON).
fn valid_records() -> Vec<String> {
    use base64::Engine;
    (0..70_000u32)
        .map(|i| {
            let mut r = [0u8; 128];
            r[..4].copy_from_slice(&i.to_be_bytes());
            format!(
                "\"{}\"",
                base64::engine::general_purpose::STANDARD.encode(r)
            )
        })
        .collect()
}

#[test]
fn early_refusals_of_large_uploads_are_answered_and_leave_the_token_usable() {
    let server = Server::start();
    let project = server.create_project("mapping", 2);
    let records = valid_records();

    // Invalid base64 at record 0, then 12 MB of valid records.
    let body = format!("{{\"clks\": [\"!!!!\", {}]}}", records.join(", "));
    assert!(body.len() > 12_000_000);
    let (status, answer) = send_whole(&server, &upload_head(&project, 0), body.as_bytes());
    assert_eq!(status, 400, "{answer}");
    assert!(
        answer["detail"].as_str().unwrap().contains("record 0"),
        "{answer}"
    );
    // Records of different sizes: refused naming the record.
    let body = format!(
        "{{\"clks\": [{}, \"AAAAAAAAAAA=\", {}]}}",
        records[0],
        records[1..].join(", ")
    );
    let (status, answer) = send_whole(&server, &upload_head(&project, 0), body.as_bytes());
    assert_eq!(status, 400, "{answer}");
    assert!(
        answer["detail"].as_str().unwrap().contains("record 1"),
        "{answer}"
    );
    // Not an upload document at all, with a large tail.
    let body = format!("{{\"clks\": 5, \"x\": \"{}\"}}", "a".repeat(12_000_000));
    let (status, answer) = send_whole(&server, &upload_head(&project, 0), body.as_bytes());
    assert_eq!(status, 400, "{answer}");
    assert_eq!(answer["status"], 400);

    // Nothing was recorded: the token still uploads, once.
    let description: Value = server
        .get(
            &format!("projects/{}", project.id),
            Some(&project.result_token),
        )
        .json()
        .unwrap();
    assert_eq!(
        (
            description["parties_contributed"].as_u64(),
            &description["error"]
        ),
        (Some(0), &json!(false))
    );
    let body = format!("{{\"clks\": [{}]}}", records[..1000].join(", "));
    let (status, answer) = send_whole(&server, &upload_head(&project, 0), body.as_bytes());
    assert_eq!(status, 201, "{answer}");
    let (status, _) = send_whole(&server, &upload_head(&project, 0), body.as_bytes());
    assert_eq!(status, 403);
}

#[test]
fn unusable_sizes_are_still_accepted_and_flag_the_project() {
    // The reference's clients rely on a 201 here (its e2e tests do).
    let server = Server::start();
    let project = server.create_project("mapping", 2);
    let r = server.upload_json(&project, 0, json_document(&[vec![0u8; 20], vec![1u8; 20]]));
    assert_eq!(r.status(), 201);
    let r = server.upload_json(&project, 1, json_document(&[vec![0u8; 20]]));
    assert_eq!(r.status(), 201);
    let description: Value = server
        .get(
            &format!("projects/{}", project.id),
            Some(&project.result_token),
        )
        .json()
        .unwrap();
    assert_eq!(description["error"], true);
}

#[test]
fn slow_clients_are_cut_off() {
    let config = es_http::ServiceConfig {
        http: es_http::HttpSettings {
            header_read_timeout: Duration::from_secs(1),
            body_idle_timeout: Duration::from_secs(1),
            ..Default::default()
        },
        ..test_config()
    };
    let server = Server::start_with(config);
    // Headers never finished: the connection is closed.
    let mut stream = TcpStream::connect(address(&server)).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    stream
        .write_all(b"POST /api/v1/projects HTTP/1.1\r\nHost: x\r\n")
        .unwrap();
    let start = Instant::now();
    let mut rest = Vec::new();
    let _ = stream.read_to_end(&mut rest);
    assert!(start.elapsed() < Duration::from_secs(5), "still open");

    // A body that stops arriving: the request fails and the connection closes.
    let project = server.create_project("mapping", 2);
    let mut stream = TcpStream::connect(address(&server)).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let head = format!(
        "{}Host: x\r\nContent-Length: 100000\r\n\r\n{{\"clks\": [",
        upload_head(&project, 0)
    );
    stream.write_all(head.as_bytes()).unwrap();
    let start = Instant::now();
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer);
    assert!(start.elapsed() < Duration::from_secs(5), "still open");
    if !answer.is_empty() {
        let (status, body) = parse_answer(&answer);
        assert_eq!(
            (status, body["status"].as_u64()),
            (400, Some(400)),
            "{body}"
        );
    }
    // The party's slot was given back.
    let r = server.upload_json(&project, 0, json_document(&[vec![0u8; 8]]));
    assert_eq!(r.status(), 201);
}

/// File blobs whose writes fail (a full disk).
struct FullDisk(FsBlobs);

impl BlobStore for FullDisk {
    fn put(&self, _: &str, data: &mut dyn Read) -> Result<u64, StoreError> {
        let mut first = [0u8; 1];
        let _ = data.read(&mut first);
        Err(std::io::Error::new(std::io::ErrorKind::StorageFull, "No space left on device").into())
    }
    fn open(&self, key: &str) -> Result<Box<dyn Read + Send>, StoreError> {
        self.0.open(key)
    }
    fn delete(&self, key: &str) -> Result<(), StoreError> {
        self.0.delete(key)
    }
    fn delete_prefix(&self, prefix: &str) -> Result<(), StoreError> {
        self.0.delete_prefix(prefix)
    }
}

#[test]
fn storage_failures_are_5xx_without_their_cause_and_deletion_mid_upload_is_403() {
    let dir = tempfile::tempdir().unwrap();
    let state = es_http::AppState::new(
        test_config(),
        Arc::new(SqliteStore::open(&dir.path().join("meta.sqlite")).unwrap()),
        Arc::new(FullDisk(FsBlobs::open(&dir.path().join("blobs")).unwrap())),
    );
    let server = Server::start_state(state);
    let project = server.create_project("mapping", 2);
    let r = server.upload_binary(&project, 0, 2, 8, vec![0u8; 16]);
    assert_eq!(r.status(), 500);
    let body: Value = r.json().unwrap();
    assert_eq!(
        body["detail"],
        "Sorry, the server couldn't handle that request"
    );
    let r = server.upload_json(&project, 0, json_document(&[vec![0u8; 8]]));
    assert_eq!(r.status(), 500);

    // The project deleted while the body arrives.
    let server = Server::start();
    let project = server.create_project("mapping", 2);
    let mut stream = TcpStream::connect(address(&server)).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let len = 1_000_000u64 * 8;
    let head = format!(
        "POST /api/v1/projects/{}/clks HTTP/1.1\r\nHost: x\r\nAuthorization: {}\r\nContent-Type: application/octet-stream\r\nHash-Count: 1000000\r\nHash-Size: 8\r\nContent-Length: {len}\r\nConnection: close\r\n\r\n",
        project.id, project.update_tokens[0]
    );
    stream.write_all(head.as_bytes()).unwrap();
    stream.write_all(&vec![1u8; 4_000_000]).unwrap();
    std::thread::sleep(Duration::from_millis(300));
    let r = server.delete(
        &format!("projects/{}", project.id),
        Some(&project.result_token),
    );
    assert_eq!(r.status(), 204);
    let _ = stream.write_all(&vec![1u8; 4_000_000]);
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer);
    let (status, body) = parse_answer(&answer);
    assert_eq!(status, 403, "{body}");
    assert!(
        !server
            .data_dir()
            .join("blobs/projects")
            .join(&project.id)
            .exists(),
        "the deleted project's directory is gone"
    );
}

#[test]
fn a_killed_writers_temporary_files_are_swept_at_start_up() {
    let dir = tempfile::tempdir().unwrap();
    let uploads = dir.path().join("blobs/projects/p/uploads");
    std::fs::create_dir_all(&uploads).unwrap();
    std::fs::write(uploads.join(".tmp-123-abc"), vec![0u8; 1 << 20]).unwrap();
    drop(es_http::AppState::open(dir.path(), test_config()).unwrap());
    assert!(!uploads.join(".tmp-123-abc").exists());
    assert!(!dir.path().join("blobs/projects/p").exists());
}

#[test]
fn every_error_body_is_problem_json() {
    let config = es_http::ServiceConfig {
        max_request_bytes: 10_000,
        ..test_config()
    };
    let server = Server::start_with(config);
    let check = |status: u16, answer: (u16, Value)| {
        assert_eq!(answer.0, status, "{}", answer.1);
        assert_eq!(
            answer.1["status"].as_u64(),
            Some(u64::from(status)),
            "{}",
            answer.1
        );
        assert!(answer.1["detail"].is_string(), "{}", answer.1);
    };
    // A body over the limit on the JSON routes, sent whole.
    let big = format!(
        "{{\"schema\": {{}}, \"result_type\": \"mapping\", \"x\": \"{}\"}}",
        "a".repeat(20_000)
    );
    check(
        413,
        send_whole(
            &server,
            "POST /api/v1/projects HTTP/1.1\r\nContent-Type: application/json\r\n",
            big.as_bytes(),
        ),
    );
    let project = server.create_project("mapping", 2);
    let head = format!(
        "POST /api/v1/projects/{}/runs HTTP/1.1\r\nAuthorization: {}\r\nContent-Type: application/json\r\n",
        project.id, project.result_token
    );
    check(413, send_whole(&server, &head, big.as_bytes()));
    // A huge declared length is refused at once, before any body is sent.
    for path in [
        "/api/v1/projects",
        &format!("/api/v1/projects/{}/clks", project.id),
    ] {
        let mut stream = TcpStream::connect(address(&server)).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        let head = format!(
            "POST {path} HTTP/1.1\r\nHost: x\r\nAuthorization: {}\r\nContent-Type: application/json\r\nContent-Length: 100000000000\r\n\r\n",
            project.update_tokens[1]
        );
        stream.write_all(head.as_bytes()).unwrap();
        let start = Instant::now();
        let mut answer = Vec::new();
        let _ = stream.read_to_end(&mut answer);
        assert!(start.elapsed() < Duration::from_secs(5));
        check(413, parse_answer(&answer));
    }
    // A path id that is not UTF-8.
    let r = server.get("projects/%ff%fe", Some("token"));
    let status = r.status().as_u16();
    assert_eq!(
        r.headers()["content-type"].to_str().unwrap(),
        "application/problem+json"
    );
    let body: Value = r.json().unwrap();
    assert_eq!((status, body["status"].as_u64()), (400, Some(400)));
}

#[test]
fn limits_on_unauthenticated_work() {
    let config = es_http::ServiceConfig {
        max_parties: 10,
        http: es_http::HttpSettings {
            rate_limit: std::num::NonZeroU32::new(1),
            ..Default::default()
        },
        ..test_config()
    };
    let server = Server::start_with(config);
    let r = server.post_json(
        "projects",
        None,
        &json!({"schema": {}, "result_type": "groups", "number_parties": 11}),
    );
    assert_eq!(r.status(), 400);
    let body: Value = r.json().unwrap();
    assert!(
        body["detail"].as_str().unwrap().contains("limit of 10"),
        "{body}"
    );
    // Over 1 request a second (bursts of 2), however slow the machine: 429 with the usual
    // body.
    let statuses: Vec<u16> = (0..40)
        .map(|_| server.get("status", None).status().as_u16())
        .collect();
    assert!(statuses.contains(&429), "{statuses:?}");
    assert!(statuses.contains(&200), "{statuses:?}");
    let r = server.get("status", None);
    if r.status() == 429 {
        assert!(r.headers().contains_key("retry-after"));
        let body: Value = r.json().unwrap();
        assert_eq!(body["status"], 429);
    }
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(server.get("status", None).status(), 200);
}

#[test]
fn racing_uploads_with_one_token_are_refused_before_they_are_read() {
    let server = Arc::new(Server::start());
    let project = Arc::new(server.create_project("mapping", 2));
    let records: Vec<Vec<u8>> = (0..20_000u32)
        .map(|i| {
            let mut r = vec![0u8; 128];
            r[..4].copy_from_slice(&i.to_be_bytes());
            r
        })
        .collect();
    let document = Arc::new(json_document(&records));
    let racers: Vec<_> = (0..10)
        .map(|_| {
            let (server, project, document) = (server.clone(), project.clone(), document.clone());
            std::thread::spawn(move || {
                server
                    .upload_json(&project, 0, document.to_vec())
                    .status()
                    .as_u16()
            })
        })
        .collect();
    let mut statuses: Vec<u16> = racers.into_iter().map(|t| t.join().unwrap()).collect();
    statuses.sort();
    assert_eq!(
        statuses.iter().filter(|&&s| s == 201).count(),
        1,
        "{statuses:?}"
    );
    assert!(
        statuses.iter().all(|&s| s == 201 || s == 409 || s == 403),
        "{statuses:?}"
    );
}

#[test]
fn operator_settings_listing_and_cors() {
    let config = es_http::ServiceConfig {
        http: es_http::HttpSettings {
            list_projects: false,
            cors_origins: vec!["https://linkage.example".into()],
            ..Default::default()
        },
        ..test_config()
    };
    let server = Server::start_with(config);
    let r = server.get("projects", None);
    assert_eq!(r.status(), 403);
    let body: Value = r.json().unwrap();
    assert!(body["detail"].as_str().unwrap().contains("disabled"));
    let r = server
        .client
        .request(reqwest::Method::OPTIONS, format!("{}projects", server.url))
        .header("Origin", "https://linkage.example")
        .header("Access-Control-Request-Method", "POST")
        .header(
            "Access-Control-Request-Headers",
            "authorization, content-type",
        )
        .send()
        .unwrap();
    assert!(r.status().is_success(), "{}", r.status());
    assert_eq!(
        r.headers()["access-control-allow-origin"],
        "https://linkage.example"
    );
    let r = server
        .client
        .request(reqwest::Method::OPTIONS, format!("{}projects", server.url))
        .header("Origin", "https://elsewhere.example")
        .header("Access-Control-Request-Method", "POST")
        .send()
        .unwrap();
    assert!(r.headers().get("access-control-allow-origin").is_none());
}
