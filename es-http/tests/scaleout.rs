//! PostgreSQL + S3-compatible storage, with one API and two worker states sharing them.
//! Needs the services of scripts/services.sh (ANONLINK_TEST_DATABASE_URL,
//! ANONLINK_TEST_S3_URL and the AWS_* variables); without them each test reports a skip.

mod common;

use std::sync::Arc;

use anonlink_core::service::conformance;
use anonlink_core::service::store::{BlobStore, MetadataStore};
use common::*;
use es_http::storage::{ObjectBlobs, PgStore};
use es_http::{AppState, Role, ServiceConfig};
use serde_json::Value;

/// A fresh database on the test server, so every run starts empty.
fn fresh_database() -> Option<String> {
    let Ok(url) = std::env::var("ANONLINK_TEST_DATABASE_URL") else {
        eprintln!("skip: ANONLINK_TEST_DATABASE_URL is not set (run scripts/services.sh)");
        return None;
    };
    let name = format!(
        "anonlink_{}",
        &anonlink_core::service::token::generate()[..16]
    );
    let mut admin =
        postgres::Client::connect(&url, postgres::NoTls).expect("test database reachable");
    admin
        .batch_execute(&format!("CREATE DATABASE {name}"))
        .expect("create a test database");
    let base = url.rsplit_once('/').map(|(b, _)| b).unwrap_or(&url);
    Some(format!("{base}/{name}"))
}

fn fresh_bucket_prefix() -> Option<String> {
    let Ok(url) = std::env::var("ANONLINK_TEST_S3_URL") else {
        eprintln!("skip: ANONLINK_TEST_S3_URL is not set (run scripts/services.sh)");
        return None;
    };
    Some(format!(
        "{url}/{}",
        &anonlink_core::service::token::generate()[..16]
    ))
}

#[test]
fn postgres_store_conforms() {
    let Some(url) = fresh_database() else { return };
    conformance::metadata(&PgStore::connect(&url).unwrap());
    // Connecting again runs the migration again, harmlessly.
    PgStore::connect(&url).unwrap();
}

#[test]
fn postgres_store_survives_dropped_connections() {
    let Some(url) = fresh_database() else { return };
    let store = PgStore::connect(&url).unwrap();
    let put = |value: &str| {
        store
            .transact(&mut |tx| tx.put_setting("k", value))
            .unwrap();
    };
    put("1");
    // As after a server restart or a failover: every connection of the store is cut.
    let mut admin = postgres::Client::connect(&url, postgres::NoTls).unwrap();
    let cut = admin
        .query(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity
             WHERE datname = current_database() AND pid <> pg_backend_pid()",
            &[],
        )
        .unwrap();
    assert!(!cut.is_empty(), "the store held a connection");
    put("2");
    let mut read = None;
    store
        .transact(&mut |tx| {
            read = tx.setting("k")?;
            Ok(())
        })
        .unwrap();
    assert_eq!(read.as_deref(), Some("2"));
}

#[test]
fn s3_blob_store_conforms() {
    let Some(url) = fresh_bucket_prefix() else {
        return;
    };
    let blobs = ObjectBlobs::open(&url).unwrap();
    conformance::blobs(&blobs);

    // Big enough for a multipart upload (several parts), read back whole and by range.
    let data: Vec<u8> = (0..20 << 20).map(|i: usize| (i % 251) as u8).collect();
    assert_eq!(blobs.put("big", &mut &data[..]).unwrap(), data.len() as u64);
    let mut back = Vec::new();
    std::io::Read::read_to_end(&mut blobs.open("big").unwrap(), &mut back).unwrap();
    assert!(back == data, "the multipart blob reads back whole");
    let mut range = Vec::new();
    let reader = &mut blobs.open_range("big", (8 << 20) - 5, 100).unwrap();
    std::io::Read::read_to_end(reader, &mut range).unwrap();
    assert_eq!(range, data[(8 << 20) - 5..(8 << 20) + 95]);
}

#[test]
fn api_and_two_workers_share_postgres_and_s3() {
    let (Some(db), Some(s3)) = (fresh_database(), fresh_bucket_prefix()) else {
        return;
    };
    let state = |role| {
        let config = ServiceConfig {
            role,
            ..common::test_config()
        };
        AppState::new(
            config,
            Arc::new(PgStore::connect(&db).unwrap()),
            Arc::new(ObjectBlobs::open(&s3).unwrap()),
        )
    };
    let server = Server::start_state(state(Role::Api));
    let runtime = tokio::runtime::Runtime::new().unwrap();
    for _ in 0..2 {
        runtime.spawn(es_http::run_workers(
            state(Role::Worker),
            std::future::pending(),
        ));
    }

    // Two-party mapping on febrl4 and a 5-party groups run, computed by the workers.
    let project = server.create_project("mapping", 2);
    for (party, file) in ["febrl4/febrl4_a.json", "febrl4/febrl4_b.json"]
        .iter()
        .enumerate()
    {
        assert_eq!(
            server
                .upload_json(&project, party, read_fixture(file))
                .status(),
            201
        );
    }
    let run = server.create_run(&project, 0.8);
    server.wait_for_run(&project, &run);
    let mapping = server.result(&project, &run, &project.result_token);
    assert_eq!(
        mapping["mapping"].as_object().unwrap().len(),
        groups_fixture("febrl4/greedy_groups_t0.8.json").len()
    );

    let groups_project = server.create_project("groups", 5);
    for party in 0..5 {
        let records = fixture_records(&format!("multiparty/clks-{}.json", party + 1));
        let r = server.upload_binary(&groups_project, party, records.len(), 128, records.concat());
        assert_eq!(r.status(), 201);
    }
    let runs: Vec<String> = (0..3)
        .map(|_| server.create_run(&groups_project, 0.8))
        .collect();
    for run in &runs {
        server.wait_for_run(&groups_project, run);
        let result = server.result(&groups_project, run, &groups_project.result_token);
        assert_eq!(
            canonical_groups(&result),
            groups_fixture("multiparty/greedy_groups_t0.8.json")
        );
    }
    // Each run was computed exactly once.
    let listed: Value = server
        .get(
            &format!("projects/{}/runs", groups_project.id),
            Some(&groups_project.result_token),
        )
        .json()
        .unwrap();
    assert_eq!(listed.as_array().unwrap().len(), 3);

    // Deleting the project removes its objects from the bucket.
    assert_eq!(
        server
            .delete(
                &format!("projects/{}", project.id),
                Some(&project.result_token)
            )
            .status(),
        204
    );
    let blobs = ObjectBlobs::open(&s3).unwrap();
    use anonlink_core::service::store::BlobStore;
    assert!(
        blobs
            .open(&format!("projects/{}/runs/{run}/result.json", project.id))
            .is_err()
    );
    drop(runtime);
}

/// Regression: processes starting together raced the migration (a session lock released
/// before the tables were committed); each start must now succeed.
#[test]
fn regression_concurrent_migrations() {
    let Some(url) = fresh_database() else { return };
    let handles: Vec<_> = (0..6)
        .map(|_| {
            let url = url.clone();
            std::thread::spawn(move || PgStore::connect(&url).map(|_| ()))
        })
        .collect();
    for h in handles {
        h.join()
            .unwrap()
            .expect("every concurrent start migrates or finds the tables");
    }
}
