//! Dice kernel throughput: every available kernel on 1024-bit CLKs at threshold 0.8, on 1
//! and 2 threads. IDs: `kernel/<name>/1024b/<threads>t`; throughput in pairs compared.
// criterion_group! and criterion_main! generate undocumented items.
#![allow(missing_docs)]

use anonlink_core::candidates::{Config, find};
use anonlink_core::similarity::Kernel;
use anonlink_core::testing::synthetic_pair;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};

fn kernels(c: &mut Criterion) {
    let (a, b) = synthetic_pair(4_096, 32_768, 0.5, 7);
    let mut group = c.benchmark_group("kernel");
    group.sample_size(10);
    group.throughput(Throughput::Elements((a.len() * b.len()) as u64));
    for kernel in Kernel::available() {
        for threads in [1, 2] {
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .expect("thread pool");
            let config = Config::new(0.8).with_kernel(kernel).without_pruning();
            group.bench_function(format!("{}/1024b/{threads}t", kernel.name()), |bench| {
                bench.iter(|| pool.install(|| find(&[&a, &b], &config).expect("valid input")))
            });
        }
    }
    group.finish();
}

criterion_group!(benches, kernels);
criterion_main!(benches);
