//! End-to-end candidate generation (compare, emit, sort) on 100K × 100K synthetic 1024-bit
//! CLKs with popcounts about N(690, 30) and 50% planted near-duplicates.
//! IDs: `candidates/100k_x_100k/t<threshold>/<threads>t`; throughput in pairs compared.
// criterion_group! and criterion_main! generate undocumented items.
#![allow(missing_docs)]

use anonlink_core::candidates::{Config, find};
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

criterion_group!(benches, candidates);
criterion_main!(benches);
