//! Top-k: keep the `k` best candidates of each record of the lower-indexed dataset.

use rustc_hash::FxHashMap;

use super::CandidatePair;

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
