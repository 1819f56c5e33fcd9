//! Top-k, as the reference library does it, in two steps:
//!
//! 1. while comparing, each record of the lower-indexed dataset keeps its `k` best
//!    candidates in the other dataset (per block, when blocking): [`retain_top_k`];
//! 2. over the merged, canonically ordered result, a pair is kept only if neither of its
//!    records has already been seen in `k` pairs with the other dataset, counting pairs
//!    that were dropped: [`enforce_k`].

use rustc_hash::FxHashMap;

use super::CandidatePair;
use crate::error::Result;

/// Keeps, for each `(dataset0, dataset1, row0)`, its first `k` pairs.
///
/// `pairs` must be in canonical order, so "first" means highest score, ties broken by the
/// lower `row1`, as the reference library does.
pub(crate) fn retain_top_k(pairs: &mut Vec<CandidatePair>, k: usize) {
    let mut kept: FxHashMap<(u32, u32, u32), usize> = FxHashMap::default();
    pairs.retain(|p| {
        let n = kept.entry((p.dataset0, p.dataset1, p.row0)).or_insert(0);
        *n += 1;
        *n <= k
    });
}

/// Step 2: walks `pairs` in canonical order and keeps a pair only while both of its records
/// have been seen in at most `k` pairs with the other dataset (the reference's
/// `_enforce_k`, which counts every pair it sees, kept or not).
pub(crate) fn enforce_k(pairs: &mut Vec<CandidatePair>, k: usize) {
    let mut seen: FxHashMap<(u32, u32, u32), usize> = FxHashMap::default();
    pairs.retain(|p| {
        let mut count = |key| {
            let n = seen.entry(key).or_insert(0);
            *n += 1;
            *n
        };
        let second = count((p.dataset0, p.dataset1, p.row1));
        let first = count((p.dataset1, p.dataset0, p.row0));
        first <= k && second <= k
    });
}

/// The reference's top-k enforcement over a stream of pairs in canonical order: memory is one counter per
/// record seen, not per pair.
pub struct EnforceK<I> {
    pairs: I,
    k: usize,
    seen: FxHashMap<(u32, u32, u32), usize>,
}

impl<I> std::fmt::Debug for EnforceK<I> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EnforceK")
            .field("k", &self.k)
            .finish_non_exhaustive()
    }
}

impl<I> EnforceK<I> {
    /// Keeps a pair of `pairs` only while both of its records have been seen in at most `k`
    /// pairs with the other dataset, as the reference's top-k does after merging.
    pub fn new(pairs: I, k: usize) -> EnforceK<I> {
        EnforceK {
            pairs,
            k,
            seen: FxHashMap::default(),
        }
    }
}

impl<I: Iterator<Item = Result<CandidatePair>>> Iterator for EnforceK<I> {
    type Item = Result<CandidatePair>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            let p = match self.pairs.next()? {
                Ok(p) => p,
                Err(e) => return Some(Err(e)),
            };
            let mut count = |key| {
                let n = self.seen.entry(key).or_insert(0);
                *n += 1;
                *n
            };
            let second = count((p.dataset0, p.dataset1, p.row1));
            let first = count((p.dataset1, p.dataset0, p.row0));
            if first <= self.k && second <= self.k {
                return Some(Ok(p));
            }
        }
    }
}
