//! Seeded synthetic encodings and naive reference implementations, shared by tests,
//! benches and the shells' tests (feature `testing`).
//!
//! Nothing here is fast; everything here is deterministic for a given seed.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::candidates::{CandidatePair, CandidatePairs};
use crate::encoding::Clks;
use crate::similarity::{is_match, score};

/// `n` records of `bytes` bytes with independent random bits (density about one half).
///
/// # Panics
/// When `bytes` is not a positive multiple of 8.
pub fn random_clks(n: usize, bytes: usize, seed: u64) -> Clks {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut clks = Clks::with_record_size(bytes).expect("a multiple of 8");
    let mut record = vec![0u8; bytes];
    for _ in 0..n {
        rng.fill(&mut record[..]);
        clks.push(&record).expect("same size");
    }
    clks
}

/// A candidate pair between rows of datasets 0 and 1.
pub fn pair(score: f64, row0: u32, row1: u32) -> CandidatePair {
    CandidatePair {
        score,
        dataset0: 0,
        dataset1: 1,
        row0,
        row1,
    }
}

/// One [`related_clks`] dataset per entry of `sizes` (dataset `d` has `sizes[d]` records),
/// all from the pool of `seed`.
///
/// # Panics
/// When `bytes` is not a positive multiple of 8.
pub fn related_datasets(sizes: &[usize], bytes: usize, seed: u64) -> Vec<Clks> {
    sizes
        .iter()
        .enumerate()
        .map(|(d, &n)| related_clks(n, bytes, seed, d as u64))
        .collect()
}

/// Records of dataset `dataset` drawn from a pool shared by all datasets with the same
/// `seed`: many records of different datasets are equal or differ in a few bits, so pairs
/// land on, above and below usual thresholds, with exact ties. Some records are all zeros.
///
/// # Panics
/// When `bytes` is not a positive multiple of 8.
pub fn related_clks(n: usize, bytes: usize, seed: u64, dataset: u64) -> Clks {
    let mut pool_rng = ChaCha8Rng::seed_from_u64(seed);
    let pool_size = 12;
    let density = pool_rng.random_range(0.2..0.8);
    let pool: Vec<Vec<u8>> = (0..pool_size)
        .map(|_| {
            (0..bytes)
                .map(|_| {
                    let mut b = 0u8;
                    for bit in 0..8 {
                        if pool_rng.random_bool(density) {
                            b |= 1 << bit;
                        }
                    }
                    b
                })
                .collect()
        })
        .collect();
    let mut rng =
        ChaCha8Rng::seed_from_u64(seed ^ (dataset + 1).wrapping_mul(0x9e37_79b9_7f4a_7c15));
    let mut clks = Clks::with_record_size(bytes).expect("a multiple of 8");
    for _ in 0..n {
        let mut record = pool[rng.random_range(0..pool_size)].clone();
        match rng.random_range(0..10) {
            0 => record.iter_mut().for_each(|b| *b = 0),
            1..=3 => {}
            _ => {
                for _ in 0..rng.random_range(1..4) {
                    let bit = rng.random_range(0..bytes * 8);
                    record[bit / 8] ^= 1 << (bit % 8);
                }
            }
        }
        clks.push(&record).expect("same size");
    }
    clks
}

pub use crate::synthetic::{synthetic_datasets, synthetic_pair};

/// The naive O(n·m) candidate search: every pair of every dataset pair `i < j`, exact
/// counts, then top-k by the reference's two-step rule, in canonical order.
pub fn naive_candidates(datasets: &[&Clks], threshold: f64, k: Option<usize>) -> CandidatePairs {
    let mut out = Vec::new();
    for i in 0..datasets.len() {
        for j in i + 1..datasets.len() {
            let (a, b) = (datasets[i], datasets[j]);
            for r0 in 0..a.len() {
                let mut row: Vec<CandidatePair> = Vec::new();
                for r1 in 0..b.len() {
                    let count: u32 = a
                        .record_words(r0)
                        .iter()
                        .zip(b.record_words(r1))
                        .map(|(x, y)| (x & y).count_ones())
                        .sum();
                    let (pa, pb) = (a.popcount(r0), b.popcount(r1));
                    if is_match(count, pa, pb, threshold) {
                        row.push(CandidatePair {
                            score: score(count, pa, pb),
                            dataset0: i as u32,
                            dataset1: j as u32,
                            row0: r0 as u32,
                            row1: r1 as u32,
                        });
                    }
                }
                row.sort_by(|x, y| y.score.total_cmp(&x.score).then(x.row1.cmp(&y.row1)));
                if let Some(k) = k {
                    row.truncate(k);
                }
                out.extend(row);
            }
        }
    }
    let mut sorted = CandidatePairs::from_unsorted(out).into_vec();
    if let Some(k) = k {
        // The reference's second step: per record and dataset pair, counting every pair.
        let mut seen = std::collections::HashMap::new();
        sorted.retain(|p| {
            let a = seen
                .entry((p.dataset0, p.dataset1, p.row1))
                .or_insert(0usize);
            *a += 1;
            let a = *a;
            let b = seen
                .entry((p.dataset1, p.dataset0, p.row0))
                .or_insert(0usize);
            *b += 1;
            a <= k && *b <= k
        });
    }
    CandidatePairs::from_sorted(sorted).expect("sorted above")
}
