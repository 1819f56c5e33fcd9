//! `anonlink serve` as an operator runs it: SIGTERM while a client holds a half-sent
//! request ends the process within the shutdown grace; logs as JSON lines, and no colour
//! codes when the output is not a terminal.

mod common;

use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{free_port, spawn_serve};

fn serve(dir: &std::path::Path, port: u16, extra: &[&str]) -> Child {
    spawn_serve(dir, port, extra, "info", Stdio::piped())
}

fn wait_exit(child: &mut Child, patience: Duration) -> Option<std::process::ExitStatus> {
    let start = Instant::now();
    while start.elapsed() < patience {
        if let Some(status) = child.try_wait().unwrap() {
            return Some(status);
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    None
}

#[test]
fn sigterm_with_a_half_sent_request_ends_within_the_grace() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let mut child = serve(
        dir.path(),
        port,
        &["--shutdown-grace", "2", "--body-timeout", "600"],
    );
    // Headers sent, and 10 of the 1000 body bytes announced.
    let mut stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
    stream
        .write_all(
            b"POST /api/v1/projects HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{\"schema\":",
        )
        .unwrap();
    std::thread::sleep(Duration::from_millis(300));
    let killed = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let started = Instant::now();
    let status = wait_exit(&mut child, Duration::from_secs(15));
    let _ = child.kill();
    let status = status.expect("the server is still running 15 s after SIGTERM");
    assert!(status.success(), "{status}");
    assert!(
        started.elapsed() < Duration::from_secs(8),
        "took {:?}",
        started.elapsed()
    );
    drop(stream);
}

#[test]
fn logs_are_json_lines_or_plain_text() {
    for (format, check) in [
        (
            "json",
            (|line: &str| {
                let v: serde_json::Value =
                    serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"));
                assert!(v["level"].is_string() && v["fields"].is_object(), "{line}");
            }) as fn(&str),
        ),
        ("text", |line: &str| {
            assert!(!line.contains('\u{1b}'), "colour codes in {line:?}");
        }),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        let mut child = serve(dir.path(), port, &["--log-format", format]);
        let _ = TcpStream::connect(("127.0.0.1", port))
            .and_then(|mut s| s.write_all(b"GET /api/v1/status HTTP/1.1\r\nHost: x\r\n\r\n"));
        std::thread::sleep(Duration::from_millis(300));
        let _ = child.kill();
        let _ = child.wait();
        let lines: Vec<String> = BufReader::new(child.stdout.take().unwrap())
            .lines()
            .map_while(Result::ok)
            .collect();
        assert!(!lines.is_empty(), "no log lines ({format})");
        for line in &lines {
            check(line);
        }
    }
}

#[test]
fn metrics_can_have_a_port_of_their_own() {
    let dir = tempfile::tempdir().unwrap();
    let (port, metrics) = (free_port(), free_port());
    let mut child = serve(
        dir.path(),
        port,
        &["--metrics-bind", &format!("127.0.0.1:{metrics}")],
    );
    let get = |port: u16, path: &str| {
        reqwest::blocking::get(format!("http://127.0.0.1:{port}{path}")).unwrap()
    };
    let start = Instant::now();
    let answer = loop {
        match reqwest::blocking::get(format!("http://127.0.0.1:{metrics}/metrics")) {
            Ok(r) => break r,
            Err(_) if start.elapsed() < Duration::from_secs(10) => {
                std::thread::sleep(Duration::from_millis(50))
            }
            Err(e) => panic!("no metrics port: {e}"),
        }
    };
    assert_eq!(answer.status(), 200);
    let text = answer.text().unwrap();
    assert!(text.contains("anonlink_runs{state=\"queued\"} 0"), "{text}");
    // Not on the API port any more; the API still answers there.
    assert_eq!(get(port, "/metrics").status(), 404);
    assert_eq!(get(port, "/api/v1/status").status(), 200);
    let _ = child.kill();
    let _ = child.wait();
}

/// The path and body of every request a receiver got.
type Received = std::sync::Arc<std::sync::Mutex<Vec<(String, Vec<u8>)>>>;

/// A minimal OTLP/HTTP receiver: records the path and body of every POST, answers 200.
fn otlp_receiver() -> (u16, Received) {
    use std::io::Read;
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let record = seen.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(stream) = stream else { continue };
            let mut reader = BufReader::new(stream);
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap_or(0) == 0 {
                    break;
                }
                let path = line.split_whitespace().nth(1).unwrap_or("").to_string();
                let mut length = 0;
                loop {
                    let mut header = String::new();
                    reader.read_line(&mut header).unwrap();
                    if header.trim().is_empty() {
                        break;
                    }
                    if let Some(v) = header.to_ascii_lowercase().strip_prefix("content-length:") {
                        length = v.trim().parse().unwrap();
                    }
                }
                let mut body = vec![0; length];
                reader.read_exact(&mut body).unwrap();
                record.lock().unwrap().push((path, body));
                reader
                    .get_mut()
                    .write_all(b"HTTP/1.1 200 OK\r\ncontent-type: application/x-protobuf\r\ncontent-length: 0\r\n\r\n")
                    .unwrap();
            }
        }
    });
    (port, seen)
}

#[test]
fn traces_go_to_an_otlp_endpoint_when_one_is_configured() {
    let (receiver, seen) = otlp_receiver();
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let mut child = Command::new(env!("CARGO_BIN_EXE_anonlink"))
        .args([
            "serve",
            "--bind",
            &format!("127.0.0.1:{port}"),
            "--chunk-comparisons",
            "5000000",
            "--data-dir",
        ])
        .arg(dir.path())
        .env(
            "OTEL_EXPORTER_OTLP_ENDPOINT",
            format!("http://127.0.0.1:{receiver}"),
        )
        .env("OTEL_BSP_SCHEDULE_DELAY", "100")
        .env("RUST_LOG", "info")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let start = Instant::now();
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "server did not start"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let answer = reqwest::blocking::get(format!("http://127.0.0.1:{port}/api/v1/status")).unwrap();
    assert_eq!(answer.status(), 200);
    // A run of several chunks: its work, done by whichever worker, is one trace.
    let root = format!("http://127.0.0.1:{port}");
    let creds = dir.path().join("creds.json");
    let run_file = dir.path().join("run.json");
    let cli = |args: &[&str]| {
        let out = common::anonlink(&root, args);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    cli(&[
        "create-project",
        "--type",
        "groups",
        "-o",
        creds.to_str().unwrap(),
    ]);
    for (party, file) in [("0", "febrl4/febrl4_a.json"), ("1", "febrl4/febrl4_b.json")] {
        cli(&[
            "upload",
            "--credentials",
            creds.to_str().unwrap(),
            "--party",
            party,
            &common::fixture_str(file),
        ]);
    }
    cli(&[
        "create",
        "--credentials",
        creds.to_str().unwrap(),
        "--threshold",
        "0.8",
        "-o",
        run_file.to_str().unwrap(),
    ]);
    cli(&[
        "results",
        "--credentials",
        creds.to_str().unwrap(),
        "--run-file",
        run_file.to_str().unwrap(),
        "--watch",
        "--interval",
        "0.1",
        "-o",
        dir.path().join("result.json").to_str().unwrap(),
    ]);
    // SIGTERM flushes what is left.
    Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(wait_exit(&mut child, Duration::from_secs(15)).is_some_and(|s| s.success()));
    let seen = seen.lock().unwrap();
    let spans: Vec<opentelemetry_proto::tonic::trace::v1::Span> = seen
        .iter()
        .filter(|(path, _)| path == "/v1/traces")
        .flat_map(|(_, body)| {
            use prost::Message;
            let export =
                opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest::decode(&body[..])
                    .expect("an OTLP protobuf export");
            export
                .resource_spans
                .into_iter()
                .flat_map(|r| r.scope_spans)
                .flat_map(|s| s.spans)
        })
        .collect();
    let named = |name: &str| spans.iter().filter(|s| s.name == name).collect::<Vec<_>>();
    assert!(!named("request").is_empty(), "{} spans", spans.len());
    let run_work: Vec<_> = named("chunk_compare")
        .into_iter()
        .chain(named("merge_solve"))
        .collect();
    assert!(
        named("chunk_compare").len() > 1 && named("merge_solve").len() == 1,
        "{:?}",
        spans.iter().map(|s| &s.name).collect::<Vec<_>>()
    );
    let trace = &run_work[0].trace_id;
    assert!(
        run_work.iter().all(|s| &s.trace_id == trace),
        "a run's chunks and solve are one trace"
    );
    // Each request is a trace of its own, apart from the run's.
    let requests = named("request");
    assert!(requests.iter().all(|r| &r.trace_id != trace));
    let distinct: std::collections::HashSet<_> = requests.iter().map(|r| &r.trace_id).collect();
    assert_eq!(distinct.len(), requests.len());
}
