//! Runs whose chunks are compared on a device: the emulated GPU (the host side of the GPU
//! backend, exactly the emissions of the CUDA kernel) gives the reference's answers, and a
//! service asked for a GPU on a machine without one compares on the CPU.

mod common;

use std::sync::Arc;

use common::*;

#[test]
fn chunks_compared_on_the_emulated_device_give_the_reference_groups() {
    let dir = tempfile::tempdir().unwrap();
    let meta =
        Arc::new(es_http::storage::SqliteStore::open(&dir.path().join("meta.sqlite")).unwrap());
    let blobs = Arc::new(es_http::storage::FsBlobs::open(&dir.path().join("blobs")).unwrap());
    let device: anonlink_core::gpu::SharedDevice = Arc::new(anonlink_core::gpu::Emulated);
    let state = es_http::AppState::new_on_device(test_config(), meta, blobs, Some(device));
    // 25M comparisons in chunks of 3M: several chunks, each on the device.
    assert_eq!(
        febrl4_groups(&Server::start_state(state), 0.8),
        groups_fixture("febrl4/greedy_groups_t0.8.json")
    );
}

/// The groups of a run over the febrl4 fixtures at `threshold`.
fn febrl4_groups(server: &Server, threshold: f64) -> Vec<Vec<[u32; 2]>> {
    let p = febrl4_groups_project(server);
    let run = server.create_run(&p, threshold);
    server.wait_for_run(&p, &run);
    canonical_groups(&server.result(&p, &run, &p.result_token))
}

#[test]
fn a_gpu_asked_for_where_there_is_none_compares_on_the_cpu() {
    let server = Server::start_with(es_http::ServiceConfig {
        device: anonlink_core::gpu::Backend::Gpu,
        ..test_config()
    });
    assert_eq!(
        febrl4_groups(&server, 0.9),
        groups_fixture("febrl4/greedy_groups_t0.9.json")
    );
}
