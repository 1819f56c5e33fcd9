//! Canonical order at memory speed: a radix sort of packed keys, done in the pairs' own
//! memory.
//!
//! At low thresholds the candidates outnumber what a comparison sort handles quickly (one
//! pair per hundred comparisons is tens of millions per run, and a comparison sort spends
//! ~100 ns on each). But a run's canonical order is the order of a small integer: the
//! rank of the score among the run's distinct scores (Dice scores of CLKs take few
//! values), then the datasets and rows, each in as many bits as its largest value needs.
//! Where that key fits in 64 bits (two parties of up to millions of records do), the
//! pairs are sorted as keys:
//!
//! 1. every pair's key is written into its own first word and the keys are packed into
//!    the first third of the buffer; the second third is the scratch space of the sort,
//!    so no memory is added to the run's budget;
//! 2. one most-significant-digit pass splits the keys into buckets by score, and each
//!    bucket is finished by least-significant-digit passes, the buckets in parallel;
//! 3. the keys are spread back and decoded into pairs (the score from its rank).
//!
//! Keys are distinct (two pairs never share datasets and rows), so the order is exactly
//! [`CandidatePair::canonical_cmp`]'s; where the key does not fit, that comparison sort
//! is used. A search without top-k writes the keys itself (`keys`): then only step 2
//! runs, with scratch space as large as the keys while they sort.

use rayon::prelude::*;
use rustc_hash::{FxHashMap, FxHashSet};

use super::CandidatePair;
use crate::pages::{Words, WordsIter};

/// Fewer pairs than this are sorted by comparison: the radix passes would not pay.
const MIN_RADIX_PAIRS: usize = 1 << 15;

/// Bits of the first (most significant) digit: 2048 buckets, each written in order.
const DIGIT_BITS: u32 = 11;

/// Most bits of a digit within a bucket: a bucket fits in the second-level cache, and
/// its counters too, so wider digits (fewer passes) pay.
const BUCKET_DIGIT_BITS: u32 = 14;

/// Buckets smaller than this are finished by a comparison sort of their keys.
const SMALL_BUCKET: usize = 512;

/// Sorts `pairs` into canonical order.
pub(crate) fn sort_canonical(pairs: &mut [CandidatePair]) {
    match sort_as_keys(pairs, MIN_RADIX_PAIRS) {
        Some(layout) => unpack_keys(bytemuck::cast_slice_mut(pairs), &layout),
        None => pairs.par_sort_unstable_by(CandidatePair::canonical_cmp),
    }
}

/// Packs the keys of `pairs` into the first third of their memory and sorts them there;
/// `None` (and `pairs` untouched) for fewer than `min_pairs` pairs (at least one) or keys
/// that do not fit in 64 bits.
fn sort_as_keys(pairs: &mut [CandidatePair], min_pairs: usize) -> Option<KeyLayout> {
    let n = pairs.len();
    if n < min_pairs.max(1) {
        return None;
    }
    let layout = KeyLayout::of(pairs)?;
    let rank_of: FxHashMap<u64, u64> = layout
        .scores
        .iter()
        .enumerate()
        .map(|(rank, s)| (s.to_bits(), rank as u64))
        .collect();
    let words: &mut [u64] = bytemuck::cast_slice_mut(pairs);
    pack_keys(words, &layout, &rank_of);
    let (keys, rest) = words.split_at_mut(n);
    sort_keys(keys, &mut rest[..n], layout.bits);
    Some(layout)
}

/// A run in canonical order, as pairs or as the sorted keys they decode from.
pub(crate) enum SortedRun {
    /// Pairs, sorted by comparison.
    Pairs(std::vec::IntoIter<CandidatePair>),
    /// Keys: a third of the memory, decoded as they are read.
    Keys { keys: WordsIter, layout: KeyLayout },
}

impl SortedRun {
    /// Sorts `pairs`; a run sorted as keys keeps its keys and gives the rest of its
    /// memory back, instead of spreading the pairs out again.
    pub(crate) fn sort(mut pairs: Vec<CandidatePair>) -> SortedRun {
        let n = pairs.len();
        let Some(layout) = sort_as_keys(&mut pairs, MIN_RADIX_PAIRS) else {
            pairs.par_sort_unstable_by(CandidatePair::canonical_cmp);
            return SortedRun::Pairs(pairs.into_iter());
        };
        match bytemuck::allocation::try_cast_vec::<CandidatePair, u64>(pairs) {
            Ok(mut keys) => {
                keys.truncate(n);
                keys.shrink_to_fit();
                SortedRun::Keys {
                    keys: Words::from(keys).into_iter(),
                    layout,
                }
            }
            // Not reached (a pair is three aligned words); spread the pairs out instead.
            Err((_, mut pairs)) => {
                unpack_keys(bytemuck::cast_slice_mut(&mut pairs), &layout);
                SortedRun::Pairs(pairs.into_iter())
            }
        }
    }

    /// Sorts keys of `layout` (as the search writes them); the scratch space the sort
    /// needs (as much as the keys) is taken for the sort and given back after.
    pub(crate) fn from_keys(mut keys: Words, layout: KeyLayout) -> SortedRun {
        sort_key_run(&mut keys, layout.bits);
        SortedRun::Keys {
            keys: keys.into_iter(),
            layout,
        }
    }
}

impl Iterator for SortedRun {
    type Item = CandidatePair;

    #[inline]
    fn next(&mut self) -> Option<CandidatePair> {
        match self {
            SortedRun::Pairs(pairs) => pairs.next(),
            SortedRun::Keys { keys, layout } => keys.next().map(|k| layout.pair(k)),
        }
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        match self {
            SortedRun::Pairs(pairs) => pairs.size_hint(),
            SortedRun::Keys { keys, .. } => keys.size_hint(),
        }
    }
}

/// Bits needed for values up to `max`.
fn width(max: u64) -> u32 {
    64 - max.leading_zeros()
}

/// How a pair packs into a key: the score's rank, then datasets and rows.
#[derive(Clone)]
pub(crate) struct KeyLayout {
    /// Distinct scores, highest first: rank → score.
    scores: Vec<f64>,
    /// Shift and mask of rank, dataset0, dataset1, row0 and row1 (a field of no bits has
    /// mask 0 and shift 0, so that no shift reaches 64).
    fields: [(u32, u64); 5],
    /// Bits of the key in all.
    bits: u32,
}

impl KeyLayout {
    /// The layout for `pairs`, or `None` when their key needs more than 64 bits.
    fn of(pairs: &[CandidatePair]) -> Option<KeyLayout> {
        let (distinct, max) = pairs
            .par_chunks(1 << 14)
            .fold(
                || (FxHashSet::default(), [0u32; 4]),
                |(mut set, mut max), chunk| {
                    for p in chunk {
                        set.insert(p.score.to_bits());
                        max[0] = max[0].max(p.dataset0);
                        max[1] = max[1].max(p.dataset1);
                        max[2] = max[2].max(p.row0);
                        max[3] = max[3].max(p.row1);
                    }
                    (set, max)
                },
            )
            .reduce(
                || (FxHashSet::default(), [0u32; 4]),
                |(a, ma), (b, mb)| {
                    // The larger set takes the smaller one.
                    let (mut big, small) = if a.len() >= b.len() { (a, b) } else { (b, a) };
                    big.extend(small);
                    (big, std::array::from_fn(|i| ma[i].max(mb[i])))
                },
            );
        let mut scores: Vec<f64> = distinct.into_iter().map(f64::from_bits).collect();
        scores.sort_unstable_by(|a, b| b.total_cmp(a));
        KeyLayout::from_scores(scores, max)
    }

    /// The layout for pairs whose scores are among `scores` (distinct, highest first) and
    /// whose dataset0, dataset1, row0 and row1 are at most `max`; `None` when that key
    /// needs more than 64 bits.
    pub(crate) fn from_scores(scores: Vec<f64>, max: [u32; 4]) -> Option<KeyLayout> {
        debug_assert!(
            scores.windows(2).all(|w| w[0] > w[1]),
            "distinct, highest first"
        );
        let widths = [
            width(scores.len().saturating_sub(1) as u64),
            width(u64::from(max[0])),
            width(u64::from(max[1])),
            width(u64::from(max[2])),
            width(u64::from(max[3])),
        ];
        let bits: u32 = widths.iter().sum();
        if bits > 64 {
            return None;
        }
        let mut fields = [(0u32, 0u64); 5];
        let mut shift = bits;
        for (field, &w) in fields.iter_mut().zip(&widths) {
            shift -= w;
            if w > 0 {
                *field = (shift, u64::MAX >> (64 - w));
            }
        }
        Some(KeyLayout {
            scores,
            fields,
            bits,
        })
    }

    /// The key of a pair given its score's rank (its index in the layout's scores).
    #[inline]
    pub(crate) fn key_of(&self, rank: u64, datasets: (u32, u32), rows: (u32, u32)) -> u64 {
        let values = [
            rank,
            u64::from(datasets.0),
            u64::from(datasets.1),
            u64::from(rows.0),
            u64::from(rows.1),
        ];
        values
            .iter()
            .zip(&self.fields)
            .fold(0, |key, (&v, &(shift, mask))| key | ((v & mask) << shift))
    }

    /// The key of `p`, its score ranked by `rank_of` (score bits → rank).
    #[inline]
    fn key(&self, p: &CandidatePair, rank_of: &FxHashMap<u64, u64>) -> u64 {
        let rank = rank_of.get(&p.score.to_bits()).copied().unwrap_or(0);
        self.key_of(rank, (p.dataset0, p.dataset1), (p.row0, p.row1))
    }

    /// Bits of the key in all.
    pub(crate) fn bits(&self) -> u32 {
        self.bits
    }

    /// The pair a key decodes to.
    #[inline]
    pub(crate) fn pair(&self, key: u64) -> CandidatePair {
        let field = |i: usize| (key >> self.fields[i].0) & self.fields[i].1;
        let rank = field(0) as usize;
        CandidatePair {
            score: self.scores.get(rank).copied().unwrap_or(0.0),
            dataset0: field(1) as u32,
            dataset1: field(2) as u32,
            row0: field(3) as u32,
            row1: field(4) as u32,
        }
    }
}

/// Ranges `[lo, hi)` covering `1..n` with `hi ≤ 3·lo`: within one, the words of keys
/// `lo..hi` and the words of pairs `lo..hi` (three each, from word `3·lo`) are disjoint,
/// so a range is packed or unpacked in parallel once the ranges before (packing) or
/// after it (unpacking) are done.
fn ranges(n: usize) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    let mut lo = 1;
    while lo < n {
        let hi = (3 * lo).min(n);
        out.push((lo, hi));
        lo = hi;
    }
    out
}

/// Replaces the pairs in `words` (three words each, `n` pairs) by their keys in words
/// `0..n`, scores ranked by `rank_of`.
fn pack_keys(words: &mut [u64], layout: &KeyLayout, rank_of: &FxHashMap<u64, u64>) {
    let n = words.len() / 3;
    let first: [u64; 3] = [words[0], words[1], words[2]];
    words[0] = layout.key(&bytemuck::cast(first), rank_of);
    for (lo, hi) in ranges(n) {
        let (head, tail) = words.split_at_mut(3 * lo);
        let pairs: &[[u64; 3]] = bytemuck::cast_slice(&tail[..3 * (hi - lo)]);
        head[lo..hi]
            .par_iter_mut()
            .zip(pairs.par_iter())
            .for_each(|(key, slot)| *key = layout.key(&bytemuck::cast(*slot), rank_of));
    }
}

/// Replaces the keys in words `0..n` by their pairs (three words each, filling `words`).
fn unpack_keys(words: &mut [u64], layout: &KeyLayout) {
    let n = words.len() / 3;
    for (lo, hi) in ranges(n).into_iter().rev() {
        let (head, tail) = words.split_at_mut(3 * lo);
        let pairs: &mut [[u64; 3]] = bytemuck::cast_slice_mut(&mut tail[..3 * (hi - lo)]);
        pairs
            .par_iter_mut()
            .zip(head[lo..hi].par_iter())
            .for_each(|(slot, &key)| *slot = bytemuck::cast(layout.pair(key)));
    }
    let first: [u64; 3] = bytemuck::cast(layout.pair(words[0]));
    words[..3].copy_from_slice(&first);
}

/// Sorts a run of `keys` (of `bits` significant bits), with scratch space as large taken
/// while it sorts.
pub(crate) fn sort_key_run(keys: &mut [u64], bits: u32) {
    // Zeroed as fresh pages when the parallel scatter first writes them, on the threads
    // that write them (growing the keys' own vector instead zeroed it all on this one
    // thread first: 2% of a 44M-candidate linkage), and huge ones.
    let mut scratch = Words::zeroed(keys.len());
    sort_keys(keys, &mut scratch, bits);
}

/// Sorts `keys` (of `bits` significant bits) using `scratch` (as long) as scratch space.
fn sort_keys(keys: &mut [u64], scratch: &mut [u64], bits: u32) {
    if bits == 0 {
        return;
    }
    let top = bits.min(DIGIT_BITS);
    let shift = bits - top;
    let digit = |k: u64| (k >> shift) as usize;
    let buckets = 1usize << top;
    // Chunks scatter in parallel, each into its own part of every bucket.
    let chunk = keys
        .len()
        .div_ceil(2 * rayon::current_num_threads())
        .max(1 << 16);
    let chunks: Vec<&[u64]> = keys.chunks(chunk).collect();
    let histograms: Vec<Vec<usize>> = chunks
        .par_iter()
        .map(|c| {
            let mut h = vec![0usize; buckets];
            for &k in c.iter() {
                h[digit(k)] += 1;
            }
            h
        })
        .collect();
    let mut parts: Vec<Vec<&mut [u64]>> = (0..chunks.len())
        .map(|_| Vec::with_capacity(buckets))
        .collect();
    let mut rest: &mut [u64] = &mut *scratch;
    let mut sizes = vec![0usize; buckets];
    for (b, size) in sizes.iter_mut().enumerate() {
        for (c, h) in histograms.iter().enumerate() {
            let (part, after) = std::mem::take(&mut rest).split_at_mut(h[b]);
            parts[c].push(part);
            rest = after;
            *size += h[b];
        }
    }
    chunks
        .into_par_iter()
        .zip(parts.into_par_iter())
        .for_each(|(chunk, mut parts)| {
            let mut filled = vec![0usize; buckets];
            for &k in chunk {
                let d = digit(k);
                parts[d][filled[d]] = k;
                filled[d] += 1;
            }
        });
    // Each bucket: its keys in `scratch`, its place in `keys`; finished independently.
    let mut work = Vec::with_capacity(buckets);
    let (mut from, mut to) = (scratch, keys);
    for &c in sizes.iter().filter(|&&c| c > 0) {
        let (f, rest_f) = from.split_at_mut(c);
        let (t, rest_t) = to.split_at_mut(c);
        work.push((f, t));
        from = rest_f;
        to = rest_t;
    }
    work.into_par_iter()
        .for_each(|(from, to)| finish_bucket(from, to, shift));
}

/// Sorts `from`'s keys by their low `bits` bits (the rest are equal) into `to`; both are
/// changed.
fn finish_bucket(from: &mut [u64], to: &mut [u64], bits: u32) {
    if bits == 0 || from.len() <= SMALL_BUCKET {
        from.sort_unstable();
        to.copy_from_slice(from);
        return;
    }
    let passes = bits.div_ceil(BUCKET_DIGIT_BITS);
    let digit_bits = bits.div_ceil(passes);
    let mask = (1u64 << digit_bits) - 1;
    let mut counts = vec![vec![0u32; 1 << digit_bits]; passes as usize];
    for &k in from.iter() {
        for (p, c) in counts.iter_mut().enumerate() {
            c[((k >> (p as u32 * digit_bits)) & mask) as usize] += 1;
        }
    }
    // Keys alternate between the two slices; `in_to` says where they are now.
    let mut in_to = false;
    for (p, c) in counts.iter().enumerate() {
        if c.iter().any(|&x| x as usize == from.len()) {
            continue; // every key has the same digit here: the order stands
        }
        let (src, dst): (&[u64], &mut [u64]) = if in_to {
            (&*to, &mut *from)
        } else {
            (&*from, &mut *to)
        };
        let mut next = vec![0usize; 1 << digit_bits];
        let mut at = 0;
        for (slot, &x) in next.iter_mut().zip(c.iter()) {
            *slot = at;
            at += x as usize;
        }
        let s = p as u32 * digit_bits;
        for &k in src {
            let d = ((k >> s) & mask) as usize;
            dst[next[d]] = k;
            next[d] += 1;
        }
        in_to = !in_to;
    }
    if !in_to {
        to.copy_from_slice(from);
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn pair(score: f64, d: (u32, u32), r: (u32, u32)) -> CandidatePair {
        CandidatePair {
            score,
            dataset0: d.0,
            dataset1: d.1,
            row0: r.0,
            row1: r.1,
        }
    }

    /// The radix path at any size: `false` (and `pairs` untouched) when it does not apply.
    fn radix_sort(pairs: &mut [CandidatePair]) -> bool {
        match sort_as_keys(pairs, 1) {
            Some(layout) => {
                unpack_keys(bytemuck::cast_slice_mut(pairs), &layout);
                true
            }
            None => pairs.is_empty(),
        }
    }

    fn by_comparison(pairs: &[CandidatePair]) -> Vec<CandidatePair> {
        let mut v = pairs.to_vec();
        v.sort_unstable_by(CandidatePair::canonical_cmp);
        v
    }

    /// Distinct pairs with scores from up to 400 distinct values.
    fn pairs_strategy(max_rows: u32, parties: u32) -> impl Strategy<Value = Vec<CandidatePair>> {
        (
            1u32..400,
            prop::collection::vec(
                (
                    0u32..1 << 20,
                    0u32..parties,
                    0u32..parties,
                    0u32..max_rows,
                    0u32..max_rows,
                ),
                0..3_000,
            ),
        )
            .prop_map(|(levels, raw)| {
                let mut seen = FxHashSet::default();
                raw.into_iter()
                    .filter_map(|(s, a, b, r0, r1)| {
                        let (d0, d1) = (a.min(b), a.max(b) + u32::from(a == b));
                        let score = f64::from(s % levels) / f64::from(levels);
                        seen.insert((d0, d1, r0, r1))
                            .then(|| pair(score, (d0, d1), (r0, r1)))
                    })
                    .collect()
            })
    }

    proptest! {
        #[test]
        fn radix_order_is_the_canonical_order(
            pairs in pairs_strategy(200_000, 2),
        ) {
            let mut sorted = pairs.clone();
            prop_assert!(radix_sort(&mut sorted));
            prop_assert_eq!(sorted, by_comparison(&pairs));
        }

        #[test]
        fn radix_order_holds_for_many_parties_and_tiny_rows(
            pairs in pairs_strategy(40, 6),
        ) {
            let mut sorted = pairs.clone();
            prop_assert!(radix_sort(&mut sorted));
            prop_assert_eq!(sorted, by_comparison(&pairs));
        }
    }

    #[test]
    fn large_runs_with_few_scores_sort_like_the_comparison_sort() {
        // Big enough for the radix path and for buckets past the small-bucket sort.
        let mut pairs: Vec<CandidatePair> = (0..200_000u32)
            .map(|i| {
                let h = i.wrapping_mul(2_654_435_761);
                pair(f64::from(h % 97) / 97.0, (0, 1), (h % 70_001, i))
            })
            .collect();
        pairs.push(pair(1.0, (0, 1), (u32::MAX, u32::MAX)));
        pairs.push(pair(-0.0, (0, 1), (5, u32::MAX - 1)));
        pairs.push(pair(0.0, (0, 1), (5, u32::MAX - 2)));
        let expected = by_comparison(&pairs);
        sort_canonical(&mut pairs);
        assert_eq!(pairs, expected);
    }

    #[test]
    fn a_run_kept_as_keys_reads_as_the_sorted_pairs() {
        let pairs: Vec<CandidatePair> = (0..100_000u32)
            .map(|i| {
                let h = i.wrapping_mul(2_246_822_519);
                pair(f64::from(h % 1_013) / 1_013.0, (h % 3, 3), (h % 50_000, i))
            })
            .collect();
        let expected = by_comparison(&pairs);
        let run = SortedRun::sort(pairs.clone());
        assert!(matches!(run, SortedRun::Keys { .. }));
        assert_eq!(run.size_hint(), (pairs.len(), Some(pairs.len())));
        assert_eq!(run.collect::<Vec<_>>(), expected);
        // Too few for the radix passes, or keys too wide: pairs sorted by comparison.
        let few = SortedRun::sort(pairs[..100].to_vec());
        assert!(matches!(few, SortedRun::Pairs(_)));
        assert_eq!(few.collect::<Vec<_>>(), by_comparison(&pairs[..100]));
    }

    #[test]
    fn keys_wider_than_64_bits_fall_back_to_the_comparison_sort() {
        let mut pairs: Vec<CandidatePair> = (0..40_000u32)
            .map(|i| {
                pair(
                    f64::from(i) / 40_000.0,
                    (i % 7, 7 + i % 5),
                    (u32::MAX - i, i),
                )
            })
            .collect();
        let expected = by_comparison(&pairs);
        let untouched = pairs.clone();
        assert!(!radix_sort(&mut pairs));
        assert_eq!(pairs, untouched);
        sort_canonical(&mut pairs);
        assert_eq!(pairs, expected);
    }

    #[test]
    fn one_pair_and_one_score_sort() {
        let mut one = vec![pair(0.9, (0, 1), (3, 4))];
        assert!(radix_sort(&mut one));
        assert_eq!(one, vec![pair(0.9, (0, 1), (3, 4))]);
        let mut same: Vec<CandidatePair> = (0..1000u32)
            .rev()
            .map(|i| pair(0.5, (0, 1), (0, i)))
            .collect();
        let expected = by_comparison(&same);
        assert!(radix_sort(&mut same));
        assert_eq!(same, expected);
    }
}
