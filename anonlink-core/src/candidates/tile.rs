//! The comparison of one dataset pair: rows of A as queries against tiles of B.
//!
//! Both sides are ordered by popcount (records with no bit set are left out: they never
//! match) and copied into interleaved blocks. Queries go in blocks of [`QUERY_BLOCK`] rows,
//! handed to rayon's threads; each query block only visits the B window its popcount range
//! can match (exact Dice bound), in tiles of [`TILE_BLOCKS`] blocks so the tile stays in L2
//! while all the block's queries pass over it.

use rayon::prelude::*;

use super::keys::SearchKeys;
use super::top_k::retain_top_k;
use super::{CandidatePair, Config, Progress};
use crate::encoding::Clks;
use crate::pages::Words;
use crate::similarity::{
    Hit, Kernel, LANES, PreTest, ScanInput, interleave_into, interleaved_len, is_match, score,
};

/// Query rows per parallel task (a multiple of [`LANES`]).
const QUERY_BLOCK: usize = 64;
/// Candidate blocks per tile: 2048 records, 256 KiB of 1024-bit encodings.
const TILE_BLOCKS: usize = 256;

/// One side of the comparison, ordered by popcount and interleaved.
struct Side {
    /// Interleaved blocks; padding lanes are zero. On huge pages: the kernel streams
    /// every tile past every query block.
    blocks: Words,
    /// Pre-test offset of every slot; padding lanes get [`PreTest::NEVER`].
    offsets: Vec<u64>,
    /// Original row of every real slot.
    rows: Vec<u32>,
    /// Popcount of every real slot, ascending.
    popcounts: Vec<u32>,
}

impl Side {
    fn new(clks: &Clks, pre: &PreTest) -> Side {
        let mut rows: Vec<u32> = (0..clks.len() as u32)
            .filter(|&r| clks.popcount(r as usize) != 0)
            .collect();
        rows.sort_by_key(|&r| (clks.popcount(r as usize), r));
        let popcounts: Vec<u32> = rows.iter().map(|&r| clks.popcount(r as usize)).collect();
        let wpr = clks.words_per_record();
        let mut blocks = Words::zeroed(interleaved_len(rows.len(), wpr));
        interleave_into(
            rows.iter().map(|&r| clks.record_words(r as usize)),
            wpr,
            &mut blocks,
        );
        let mut offsets = vec![PreTest::NEVER; rows.len().div_ceil(LANES) * LANES];
        for (o, &p) in offsets.iter_mut().zip(&popcounts) {
            *o = pre.offset(p);
        }
        Side {
            blocks,
            offsets,
            rows,
            popcounts,
        }
    }
}

/// The range of B popcounts a query of popcount `pa` can match at `threshold`.
///
/// The best possible score against a record of popcount `pb` is `2·min(pa, pb)/(pa + pb)`
/// (all of the smaller record's bits shared), computed with the same f64 arithmetic as a real
/// score. It rises up to `pb = pa` and falls after, so the matchable `pb` form one interval
/// around `pa`, and both ends grow with `pa`.
fn matchable_popcounts(pa: u32, threshold: f64, max_bits: u32) -> (u32, u32) {
    let best = |pb: u32| score(pa.min(pb), pa, pb);
    // Smallest pb in 1..=pa with best(pb) >= threshold; best(pa) = 1 always qualifies.
    let (mut lo, mut hi) = (1u32, pa);
    while lo < hi {
        let mid = lo + (hi - lo) / 2;
        if best(mid) >= threshold {
            hi = mid;
        } else {
            lo = mid + 1;
        }
    }
    let low = lo;
    // Largest pb in pa..=max_bits with best(pb) >= threshold.
    let (mut lo, mut hi) = (pa, max_bits.max(pa));
    while lo < hi {
        let mid = lo + (hi - lo).div_ceil(2);
        if best(mid) >= threshold {
            lo = mid;
        } else {
            hi = mid - 1;
        }
    }
    (low, lo)
}

/// Compares every row of `a` with every row of `b`; returns the candidates (unsorted, or
/// sorted per task when top-k applies) with dataset indices `ids`.
pub(crate) fn compare(
    a: &Clks,
    b: &Clks,
    ids: (u32, u32),
    config: &Config,
    kernel: Kernel,
    progress: &Progress<'_>,
) -> Vec<CandidatePair> {
    let all = std::sync::Mutex::new(Vec::new());
    let deliver = |pairs: &mut Vec<CandidatePair>| {
        all.lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .append(pairs);
    };
    compare_each(a, b, ids, config, kernel, progress, Sink::Pairs(&deliver));
    all.into_inner()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Where a search sends each parallel task's candidates, as they are found (from any
/// thread), so that the caller decides where they go. A taker takes them out of the
/// vector it is given; the vector's memory is the next task's on that thread (no
/// allocation and no fresh pages per task).
pub(crate) enum Sink<'a> {
    /// The candidates as pairs (top-k applied per task when set).
    Pairs(&'a (dyn Fn(&mut Vec<CandidatePair>) + Sync)),
    /// Without top-k, each candidate as its key of `keys`.
    Keys {
        keys: &'a SearchKeys,
        deliver: &'a (dyn Fn(&mut Vec<u64>) + Sync),
    },
}

/// As [`compare`], handing each parallel task's candidates to `sink`.
pub(crate) fn compare_each(
    a: &Clks,
    b: &Clks,
    ids: (u32, u32),
    config: &Config,
    kernel: Kernel,
    progress: &Progress<'_>,
    sink: Sink<'_>,
) {
    match sink {
        Sink::Pairs(deliver) => {
            each_task(a, b, config, kernel, progress, deliver, |window, out| {
                window.scan(|qslot, cslot, score| {
                    out.push(CandidatePair {
                        score,
                        dataset0: ids.0,
                        dataset1: ids.1,
                        row0: window.queries.rows[qslot],
                        row1: window.cands.rows[cslot],
                    });
                });
                if let Some(k) = config.k {
                    out.sort_unstable_by(CandidatePair::canonical_cmp);
                    retain_top_k(out, k);
                }
            })
        }
        Sink::Keys { keys, deliver } => {
            debug_assert!(config.k.is_none(), "top-k needs the pairs' scores per task");
            each_task(a, b, config, kernel, progress, deliver, |window, out| {
                window.scan_counts(|qslot, cslot, count, pa, pb| {
                    let rows = (window.queries.rows[qslot], window.cands.rows[cslot]);
                    if let Some(key) = keys.key(count, pa + pb, ids, rows) {
                        out.push(key);
                    }
                });
            })
        }
    }
}

/// Runs the comparison of `a` with `b` as parallel tasks of [`QUERY_BLOCK`] query rows:
/// `fill` puts a task's candidates into its (emptied) vector, then `deliver` takes them.
fn each_task<T: Send>(
    a: &Clks,
    b: &Clks,
    config: &Config,
    kernel: Kernel,
    progress: &Progress<'_>,
    deliver: &(dyn Fn(&mut Vec<T>) + Sync),
    fill: impl Fn(&Window<'_>, &mut Vec<T>) + Sync,
) {
    let threshold = config.threshold;
    let pre = PreTest::new(threshold);
    let wpr = a.words_per_record();
    let max_bits = a.bits_per_record() as u32;
    let queries = Side::new(a, &pre);
    let cands = Side::new(b, &pre);
    let b_len = b.len() as u64;
    // Rows of `a` with no bit set are compared with nothing, but count as done.
    progress.advance((a.len() - queries.rows.len()) as u64 * b_len);

    let n_tasks = queries.rows.len().div_ceil(QUERY_BLOCK);
    (0..n_tasks)
        .into_par_iter()
        .with_min_len(1)
        .for_each_init(Vec::new, |out, task| {
            let first = task * QUERY_BLOCK;
            let last = (first + QUERY_BLOCK).min(queries.rows.len());
            if progress.is_cancelled() {
                return;
            }
            out.clear();
            let window = Window {
                queries: &queries,
                first,
                last,
                cands: &cands,
                wpr,
                max_bits,
                threshold,
                prune: config.prune,
                kernel,
            };
            fill(&window, out);
            progress.advance((last - first) as u64 * b_len);
            if !out.is_empty() {
                deliver(out);
            }
        });
}

/// For every row of `a`, how many rows of `b` it is a candidate with at `threshold`
/// (without top-k): the comparison of [`compare`], counting instead of emitting, so that
/// memory stays at one counter per row whatever the threshold.
pub(crate) fn count(a: &Clks, b: &Clks, threshold: f64, kernel: Kernel) -> Vec<u64> {
    let pre = PreTest::new(threshold);
    let queries = Side::new(a, &pre);
    let cands = Side::new(b, &pre);
    let n_tasks = queries.rows.len().div_ceil(QUERY_BLOCK);
    let per_task: Vec<Vec<(u32, u64)>> = (0..n_tasks)
        .into_par_iter()
        .with_min_len(1)
        .map(|task| {
            let first = task * QUERY_BLOCK;
            let last = (first + QUERY_BLOCK).min(queries.rows.len());
            let mut counts = vec![0u64; last - first];
            let window = Window {
                queries: &queries,
                first,
                last,
                cands: &cands,
                wpr: a.words_per_record(),
                max_bits: a.bits_per_record() as u32,
                threshold,
                prune: true,
                kernel,
            };
            window.scan(|qslot, _, _| counts[qslot - first] += 1);
            (first..last)
                .map(|slot| queries.rows[slot])
                .zip(counts)
                .collect()
        })
        .collect();
    let mut by_row = vec![0u64; a.len()];
    for (row, n) in per_task.into_iter().flatten() {
        by_row[row as usize] = n;
    }
    by_row
}

/// One task's share of the comparison: query slots `first..last` against the candidates
/// their popcounts can match.
struct Window<'s> {
    queries: &'s Side,
    first: usize,
    last: usize,
    cands: &'s Side,
    wpr: usize,
    max_bits: u32,
    threshold: f64,
    prune: bool,
    kernel: Kernel,
}

impl Window<'_> {
    /// Calls `emit(query slot, candidate slot, score)` for every pair at or above the
    /// threshold.
    fn scan(&self, mut emit: impl FnMut(usize, usize, f64)) {
        let threshold = self.threshold;
        self.scan_counts(|qslot, cslot, count, pa, pb| {
            if is_match(count, pa, pb, threshold) {
                emit(qslot, cslot, score(count, pa, pb));
            }
        });
    }

    /// Calls `emit(query slot, candidate slot, intersection, query popcount, candidate
    /// popcount)` for every pair that passes the kernel's pre-test: all pairs at or above
    /// the threshold, and a few below it that `emit` must check.
    #[inline]
    fn scan_counts(&self, mut emit: impl FnMut(usize, usize, u32, u32, u32)) {
        let Window {
            queries,
            first,
            last,
            cands,
            wpr,
            max_bits,
            threshold,
            prune,
            kernel,
        } = *self;
        let block_words = LANES * wpr;
        // Query slots first..last are whole blocks of the interleaved side except at the
        // end.
        debug_assert_eq!(first % LANES, 0);
        let first_block = first / LANES;
        let last_block = last.div_ceil(LANES);

        let (lo_slot, hi_slot) = if prune {
            let (lo, _) = matchable_popcounts(queries.popcounts[first], threshold, max_bits);
            let (_, hi) = matchable_popcounts(queries.popcounts[last - 1], threshold, max_bits);
            (
                cands.popcounts.partition_point(|&p| p < lo),
                cands.popcounts.partition_point(|&p| p <= hi),
            )
        } else {
            (0, cands.rows.len())
        };
        if lo_slot >= hi_slot {
            return;
        }
        let cand_first_block = lo_slot / LANES;
        let cand_last_block = hi_slot.div_ceil(LANES);

        let mut hits: Vec<Hit> = Vec::new();
        let mut tile_start = cand_first_block;
        while tile_start < cand_last_block {
            let tile_end = (tile_start + TILE_BLOCKS).min(cand_last_block);
            let tile = &cands.blocks[tile_start * block_words..tile_end * block_words];
            let tile_offsets = &cands.offsets[tile_start * LANES..tile_end * LANES];
            for qb in first_block..last_block {
                let qwords = &queries.blocks[qb * block_words..(qb + 1) * block_words];
                let mut qoff = [0u64; LANES];
                qoff.copy_from_slice(&queries.offsets[qb * LANES..(qb + 1) * LANES]);
                hits.clear();
                let input = ScanInput {
                    words_per_record: wpr,
                    queries: qwords,
                    query_offsets: &qoff,
                    blocks: tile,
                    offsets: tile_offsets,
                };
                kernel.scan(input, &mut hits);
                for hit in &hits {
                    let qslot = qb * LANES + hit.query as usize;
                    let cslot = tile_start * LANES + hit.slot as usize;
                    let (Some(&pa), Some(&pb)) =
                        (queries.popcounts.get(qslot), cands.popcounts.get(cslot))
                    else {
                        continue; // padding lanes carry NEVER offsets and cannot get here
                    };
                    emit(qslot, cslot, hit.count, pa, pb);
                }
            }
            tile_start = tile_end;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn popcount_window_is_exact() {
        for t in [0.5, 0.8, 0.9, 0.95, 1.0, 2.0 / 3.0] {
            for pa in 1..300u32 {
                let (lo, hi) = matchable_popcounts(pa, t, 512);
                for pb in 1..=512u32 {
                    let possible = score(pa.min(pb), pa, pb) >= t;
                    assert_eq!(possible, (lo..=hi).contains(&pb), "t {t} pa {pa} pb {pb}");
                }
            }
        }
    }
}
