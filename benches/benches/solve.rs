//! Solvers on realistic candidate lists.
//! - `solve/greedy/synthetic_100k`: the candidates of 100K × 100K synthetic CLKs at 0.8.
//! - `solve/greedy/130k`: 130K candidates between two datasets of 100K records, one true
//!   match per planted record plus noise pairs, in canonical order.
//! - `solve/probabilistic/5_party`: 5 × 20K records, merge threshold 0.5, deduplicated.
// criterion_group! and criterion_main! generate undocumented items.
#![allow(missing_docs)]

use anonlink_core::candidates::{CandidatePair, CandidatePairs, Config, find};
use anonlink_core::solve::{greedy, probabilistic};
use anonlink_core::testing::synthetic_pair;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};

/// A deterministic candidate list: `n_true` matches (i, π(i)) scored 0.85–1.0, plus noise
/// pairs scored 0.80–0.90 between random rows.
fn planted(n_datasets: u32, n_rows: u32, n_true: u32, n_noise: u32) -> CandidatePairs {
    let mut state = 0x2545_f491_4f6c_dd1du64;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let mut pairs = Vec::new();
    for i in 0..n_true {
        for d0 in 0..n_datasets {
            for d1 in d0 + 1..n_datasets {
                pairs.push(CandidatePair {
                    score: 0.85 + (next() % 1000) as f64 / 6667.0,
                    dataset0: d0,
                    dataset1: d1,
                    row0: (i * 7 + d0 * 13) % n_rows,
                    row1: (i * 7 + d1 * 13) % n_rows,
                });
            }
        }
    }
    for _ in 0..n_noise {
        let d0 = (next() % u64::from(n_datasets - 1)) as u32;
        let d1 = d0 + 1 + (next() % u64::from(n_datasets - d0 - 1)) as u32;
        pairs.push(CandidatePair {
            score: 0.8 + (next() % 1000) as f64 / 10000.0,
            dataset0: d0,
            dataset1: d1,
            row0: (next() % u64::from(n_rows)) as u32,
            row1: (next() % u64::from(n_rows)) as u32,
        });
    }
    CandidatePairs::from_unsorted(pairs)
}

fn solvers(c: &mut Criterion) {
    let mut group = c.benchmark_group("solve");
    let (a, b) = synthetic_pair(100_000, 100_000, 0.5, 42);
    let real = find(&[&a, &b], &Config::new(0.8)).expect("valid input");
    group.throughput(Throughput::Elements(real.len() as u64));
    group.bench_function(format!("greedy/synthetic_100k_{}", real.len()), |bench| {
        bench.iter(|| greedy(real.as_slice()))
    });

    let list = planted(2, 100_000, 100_000, 30_000);
    group.throughput(Throughput::Elements(list.len() as u64));
    group.bench_function(format!("greedy/{}", list.len()), |bench| {
        bench.iter(|| greedy(list.as_slice()))
    });

    let multi = planted(5, 20_000, 15_000, 50_000);
    group.throughput(Throughput::Elements(multi.len() as u64));
    group.bench_function(format!("probabilistic/5_party_{}", multi.len()), |bench| {
        bench.iter(|| probabilistic(multi.as_slice(), 0.5, true).expect("valid threshold"))
    });
    group.finish();
}

criterion_group!(benches, solvers);
criterion_main!(benches);
