//! Synthetic data, deterministic for a seed: datasets that look like real 1024-bit CLKs
//! (for `anonlink benchmark`, the benches and the tests: random bits alone have no
//! near-miss pairs; these have realistic popcounts and planted near-duplicates), and in
//! [`people`] fake personal records with realistic errors, to hash with the encoder.

mod names;
pub mod people;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::encoding::Clks;

/// Two datasets like real 1024-bit CLKs: popcounts about N(690, 30), and a share
/// `overlap` of `a`'s records planted in `b` as near-duplicates (a few percent of bits
/// moved, Dice about 0.9–0.97), at random rows of `b`.
pub fn synthetic_pair(n_a: usize, n_b: usize, overlap: f64, seed: u64) -> (Clks, Clks) {
    let mut sets = synthetic_datasets(&[n_a, n_b], overlap, seed);
    let b = sets.pop().expect("two datasets");
    let a = sets.pop().expect("two datasets");
    (a, b)
}

/// Datasets of the given sizes like real 1024-bit CLKs (see [`synthetic_pair`]): a share
/// `overlap` of the smallest size is planted as near-duplicates of dataset 0's first records
/// in every other dataset, at random rows.
pub fn synthetic_datasets(sizes: &[usize], overlap: f64, seed: u64) -> Vec<Clks> {
    const BYTES: usize = 128;
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut sets: Vec<Vec<[u64; 16]>> = sizes
        .iter()
        .map(|&n| (0..n).map(|_| realistic_record(&mut rng)).collect())
        .collect();
    let smallest = sizes.iter().copied().min().unwrap_or(0);
    let planted = ((smallest as f64) * overlap) as usize;
    for d in 1..sets.len() {
        for i in 0..planted {
            let target = rng.random_range(0..sets[d].len());
            let mut copy = sets[0][i];
            for _ in 0..rng.random_range(5..40) {
                let off = rng.random_range(0..1024);
                let on = rng.random_range(0..1024);
                copy[off / 64] &= !(1u64 << (off % 64));
                copy[on / 64] |= 1u64 << (on % 64);
            }
            sets[d][target] = copy;
        }
    }
    sets.iter()
        .map(|records| {
            let mut clks = Clks::with_record_size(BYTES).expect("128 is a multiple of 8");
            clks.reserve(records.len());
            let mut bytes = [0u8; BYTES];
            for r in records {
                for (chunk, w) in bytes.chunks_exact_mut(8).zip(r) {
                    chunk.copy_from_slice(&w.to_be_bytes());
                }
                clks.push(&bytes).expect("same size");
            }
            clks
        })
        .collect()
}

fn realistic_record(rng: &mut ChaCha8Rng) -> [u64; 16] {
    // Box–Muller for a normal popcount without another dependency.
    let u1: f64 = rng.random_range(f64::EPSILON..1.0);
    let u2: f64 = rng.random();
    let normal = (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos();
    let target = (690.0 + 30.0 * normal).round().clamp(1.0, 1023.0) as u32;
    let mut words = [0u64; 16];
    let mut ones = 0;
    while ones < target {
        let bit = rng.random_range(0..1024);
        let mask = 1u64 << (bit % 64);
        if words[bit / 64] & mask == 0 {
            words[bit / 64] |= mask;
            ones += 1;
        }
    }
    words
}
