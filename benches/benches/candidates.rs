//! End-to-end candidate generation (compare, emit, sort) on 100K × 100K synthetic 1024-bit
//! CLKs with popcounts about N(690, 30) and 50% planted near-duplicates.
//! IDs: `candidates/100k_x_100k/t<threshold>/<threads>t`; throughput in pairs compared.
//! Also the k-way merge a scaled-out run's solver does: `candidates/merge/20x100k`, 20 sorted
//! chunk files of 100K pairs each merged into one canonical sequence; throughput in pairs.
// criterion_group! and criterion_main! generate undocumented items.
#![allow(missing_docs)]

use anonlink_core::candidates::{CandidatePair, Config, find, merge_sorted, write_file};
use anonlink_core::testing::synthetic_pair;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};

fn candidates(c: &mut Criterion) {
    let (a, b) = synthetic_pair(100_000, 100_000, 0.5, 42);
    let mut group = c.benchmark_group("candidates");
    group.sample_size(10);
    group.throughput(Throughput::Elements((a.len() * b.len()) as u64));
    for threshold in [0.8, 0.95] {
        for threads in [1, 2] {
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .expect("thread pool");
            let config = Config::new(threshold);
            let found = pool.install(|| find(&[&a, &b], &config).expect("valid input"));
            eprintln!("t={threshold}: {} candidates", found.len());
            group.bench_function(format!("100k_x_100k/t{threshold:.2}/{threads}t"), |bench| {
                bench.iter(|| pool.install(|| find(&[&a, &b], &config).expect("valid input")))
            });
        }
    }
    group.finish();
}

fn merge(c: &mut Criterion) {
    let (files, pairs) = (20u32, 100_000u32);
    // Distinct pairs with scores from a fixed sequence; each file sorted, as workers write them.
    let chunk_files: Vec<Vec<u8>> = (0..files)
        .map(|f| {
            let mut chunk: Vec<CandidatePair> = (0..pairs)
                .map(|i| {
                    let x = (u64::from(f) << 32 | u64::from(i)).wrapping_mul(0x9e37_79b9_7f4a_7c15);
                    CandidatePair {
                        score: 0.8 + (x >> 44) as f64 / f64::from(1u32 << 20) * 0.2,
                        dataset0: 0,
                        dataset1: 1,
                        row0: f * pairs + i,
                        row1: (x % 1_000_000) as u32,
                    }
                })
                .collect();
            chunk.sort_by(CandidatePair::canonical_cmp);
            let mut bytes = Vec::new();
            write_file(&chunk, &mut bytes).expect("in memory");
            bytes
        })
        .collect();
    let mut group = c.benchmark_group("candidates");
    group.sample_size(10);
    group.throughput(Throughput::Elements(u64::from(files * pairs)));
    group.bench_function(format!("merge/{files}x100k"), |bench| {
        bench.iter(|| {
            let inputs: Vec<&[u8]> = chunk_files.iter().map(Vec::as_slice).collect();
            merge_sorted(inputs)
                .expect("valid files")
                .collect::<Result<Vec<_>, _>>()
                .expect("sorted files")
        })
    });
    group.finish();
}

criterion_group!(benches, candidates, merge);
criterion_main!(benches);
