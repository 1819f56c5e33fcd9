//! Keys written by the search itself.
//!
//! A run sorted as packed keys (see `sort`) first has to find its distinct scores and
//! then pack every pair: two passes over the pairs with a hash lookup each. But a Dice
//! score is `2c / T` for the intersection `c` and the popcount total `T` of its two records
//! ([`score_of_total`]), so every score a search *can* find is known before it starts:
//! each `c` at or above the threshold for each total the records' popcounts allow. Ranked
//! once, highest first, they are a table indexed by `(T, c)`, and the search writes each
//! candidate as its key straight away: 8 bytes instead of a 24-byte pair, no pass to find
//! the scores, no pass to pack them. The ranks of scores that never occur only leave gaps,
//! which the sort does not mind, and a key decodes to the very score the pair would carry.

use super::sort::KeyLayout;
use crate::encoding::Clks;
use crate::similarity::score_of_total;

/// Most `(T, c)` entries the table may have (4 MiB of ranks); beyond it the search
/// writes pairs.
const MAX_ENTRIES: usize = 1 << 20;

/// The key layout of one search and the rank of each score it can find.
pub(crate) struct SearchKeys {
    layout: KeyLayout,
    /// The smallest popcount total a pair of this search can have.
    min_total: u32,
    /// For each total from `min_total`: the smallest intersection scoring at or above the
    /// threshold, and where that intersection's rank is in `ranks`.
    totals: Vec<(u32, u32)>,
    /// Score ranks, per total from its smallest intersection to `total / 2`.
    ranks: Vec<u32>,
}

impl SearchKeys {
    /// The keys of a search over `datasets` (dataset `i` against each `j > i`) at
    /// `threshold`; `None` when they do not fit in 64 bits, when the table would be too
    /// large, or when no record has a bit set.
    pub(crate) fn new(datasets: &[&Clks], threshold: f64) -> Option<SearchKeys> {
        let popcounts = datasets
            .iter()
            .flat_map(|d| d.popcounts())
            .copied()
            .filter(|&p| p > 0);
        let (low, high) = popcounts.fold(None, |range: Option<(u32, u32)>, p| {
            Some(range.map_or((p, p), |(lo, hi)| (lo.min(p), hi.max(p))))
        })?;
        let (min_total, max_total) = (2 * low, 2 * high);
        let mut totals = Vec::with_capacity((max_total - min_total + 1) as usize);
        let mut entries = 0usize;
        for total in min_total..=max_total {
            let first = first_count(total, threshold);
            totals.push((first, entries as u32));
            entries += (total / 2 + 1).saturating_sub(first) as usize;
            if entries > MAX_ENTRIES {
                return None;
            }
        }
        let scores: Vec<f64> = (min_total..=max_total)
            .zip(&totals)
            .flat_map(|(total, &(first, _))| {
                (first..=total / 2).map(move |c| score_of_total(c, total))
            })
            .collect();
        let mut distinct = scores.clone();
        distinct.sort_unstable_by(|a, b| b.total_cmp(a));
        distinct.dedup();
        let ranks = scores
            .iter()
            .map(|s| {
                // Every score is in `distinct`; ties cannot happen among distinct values.
                distinct.partition_point(|d| d > s) as u32
            })
            .collect();
        // Dataset i pairs with every j > i: dataset0 < n - 1 ≤ dataset1; rows as long as
        // the datasets on each side.
        let n = datasets.len();
        let longest = |ds: &[&Clks]| ds.iter().map(|d| d.len()).max().unwrap_or(0);
        let max_row = |ds: &[&Clks]| longest(ds).saturating_sub(1) as u32;
        let max = [
            n.saturating_sub(2) as u32,
            n.saturating_sub(1) as u32,
            max_row(&datasets[..n.saturating_sub(1)]),
            max_row(datasets.get(1..).unwrap_or_default()),
        ];
        let layout = KeyLayout::from_scores(distinct, max)?;
        Some(SearchKeys {
            layout,
            min_total,
            totals,
            ranks,
        })
    }

    /// The layout the keys decode with.
    pub(crate) fn layout(&self) -> &KeyLayout {
        &self.layout
    }

    /// The key of a pair of records with popcounts totalling `total` and `count` bits in
    /// common, if it scores at or above the threshold.
    #[inline]
    pub(crate) fn key(
        &self,
        count: u32,
        total: u32,
        datasets: (u32, u32),
        rows: (u32, u32),
    ) -> Option<u64> {
        let &(first, start) = self
            .totals
            .get(total.wrapping_sub(self.min_total) as usize)?;
        // A count above total / 2 cannot happen (it is at most the smaller popcount); the
        // check keeps a wrong one from reading the next total's ranks.
        if count < first || count > total / 2 {
            return None;
        }
        let rank = *self.ranks.get((start + count - first) as usize)?;
        Some(self.layout.key_of(u64::from(rank), datasets, rows))
    }
}

/// The smallest intersection of records totalling `total` bits that scores at or above
/// `threshold` (`total / 2 + 1` when none does), by the scores' own arithmetic.
fn first_count(total: u32, threshold: f64) -> u32 {
    let top = total / 2;
    let passes = |c: u32| score_of_total(c, total) >= threshold;
    let mut c = ((threshold * f64::from(total) / 2.0).floor().max(0.0) as u32).min(top);
    while c > 0 && passes(c - 1) {
        c -= 1;
    }
    while c <= top && !passes(c) {
        c += 1;
    }
    c
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::candidates::CandidatePair;
    use crate::similarity::score;

    fn clks(popcounts: &[u32], bytes: usize) -> Clks {
        let mut out = Clks::with_record_size(bytes).unwrap();
        for &p in popcounts {
            let mut record = vec![0u8; bytes];
            for bit in 0..p as usize {
                record[bit / 8] |= 1 << (bit % 8);
            }
            out.push(&record).unwrap();
        }
        out
    }

    #[test]
    fn first_count_is_the_exact_boundary() {
        for t in [0.0, 0.5, 2.0 / 3.0, 0.75, 0.8, 0.95, 1.0] {
            for total in 1..600 {
                let first = first_count(total, t);
                for c in 0..=total / 2 {
                    assert_eq!(c >= first, score_of_total(c, total) >= t, "{t} {total} {c}");
                }
            }
        }
    }

    #[test]
    fn keys_decode_to_the_pairs_and_order_them_canonically() {
        let a = clks(&[0, 40, 50, 64, 61], 8);
        let b = clks(&[33, 64, 1, 48], 8);
        let c = clks(&[45, 64], 8);
        let t = 0.7;
        let keys = SearchKeys::new(&[&a, &b, &c], t).unwrap();
        let mut made = Vec::new();
        for (ids, (x, y)) in [
            ((0u32, 1u32), (&a, &b)),
            ((0, 2), (&a, &c)),
            ((1, 2), (&b, &c)),
        ] {
            for r0 in 0..x.len() as u32 {
                for r1 in 0..y.len() as u32 {
                    let (pa, pb) = (x.popcount(r0 as usize), y.popcount(r1 as usize));
                    if pa == 0 || pb == 0 {
                        continue;
                    }
                    for count in 0..=pa.min(pb) {
                        let key = keys.key(count, pa + pb, ids, (r0, r1));
                        let s = score(count, pa, pb);
                        assert_eq!(key.is_some(), s >= t, "{count} {pa} {pb}");
                        if let Some(key) = key {
                            made.push((key, s, ids, r0, r1));
                        }
                    }
                }
            }
        }
        assert!(made.len() > 100);
        for &(key, s, ids, r0, r1) in &made {
            let p = keys.layout().pair(key);
            assert_eq!(p.score.to_bits(), s.to_bits());
            assert_eq!(
                (p.dataset0, p.dataset1, p.row0, p.row1),
                (ids.0, ids.1, r0, r1)
            );
        }
        // The keys' order is the canonical order.
        made.sort_by_key(|m| m.0);
        let decoded: Vec<CandidatePair> = made.iter().map(|m| keys.layout().pair(m.0)).collect();
        assert!(
            decoded
                .windows(2)
                .all(|w| w[0].canonical_cmp(&w[1]) == std::cmp::Ordering::Less)
        );
    }

    #[test]
    fn no_keys_without_bits() {
        let empty = clks(&[0, 0], 8);
        assert!(SearchKeys::new(&[&empty, &empty], 0.5).is_none());
        let a = clks(&[10, 20], 8);
        assert!(SearchKeys::new(&[&a, &a], 0.5).is_some());
    }
}
