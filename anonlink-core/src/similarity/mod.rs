//! Sørensen–Dice similarity and the kernels that compute it in bulk.
//!
//! The score of two records is `2·popcount(a ∧ b) / (popcount(a) + popcount(b))` in f64,
//! computed from exact integer counts ([`score`]), so every kernel gives bit-identical scores.
//! A record with no bit set never matches anything.
//!
//! Bulk comparison works on *interleaved blocks* of 8 records: a block of a `w`-word
//! encoding is `w` groups of 8 words, group `i` holding word `i` of each of the 8 records
//! (one 64-byte line per word for AVX-512). A kernel takes 8 query records and a run of
//! candidate blocks, both interleaved, and reports every (query, candidate) pair that passes
//! a cheap integer *pre-test* which is implied by `score ≥ threshold` (see [`PreTest`]). The
//! exact check then runs on those few pairs only, in safe code.
//!
//! Kernels: [`Kernel::Scalar`] (portable, the specification), and on x86_64
//! [`Kernel::Popcnt`] (the POPCNT instruction on the integer units), [`Kernel::Avx2`]
//! (nibble-table popcount) and [`Kernel::Avx512`] (VPOPCNTQ). The fastest one is chosen once
//! per process ([`Kernel::detect`]); `ANONLINK_KERNEL=scalar|popcnt|avx2|avx512` overrides
//! the choice.

mod scalar;

#[cfg(target_arch = "x86_64")]
mod avx2;
#[cfg(target_arch = "x86_64")]
mod avx512;
#[cfg(target_arch = "x86_64")]
mod popcnt;

#[cfg(target_arch = "x86_64")]
pub use self::avx2::Avx2;
#[cfg(target_arch = "x86_64")]
pub use self::avx512::Avx512;
#[cfg(target_arch = "x86_64")]
pub use self::popcnt::Popcnt;

use std::sync::OnceLock;

/// Records per interleaved block (and queries per kernel call).
pub const LANES: usize = 8;

/// The Dice score from exact counts: intersection size and the two popcounts.
///
/// Pairs where both popcounts are zero score 0.
///
/// # Examples
/// ```
/// use anonlink_core::similarity::score;
/// assert_eq!(score(3, 4, 4), 0.75);
/// assert_eq!(score(0, 0, 0), 0.0);
/// ```
#[inline]
pub fn score(intersection: u32, popcount_a: u32, popcount_b: u32) -> f64 {
    score_of_total(intersection, popcount_a + popcount_b)
}

/// The Dice score from the intersection size and the sum of the two popcounts: the score
/// depends on nothing else, which lets a search know every score it can find in advance.
///
/// # Examples
/// ```
/// use anonlink_core::similarity::{score, score_of_total};
/// assert_eq!(score_of_total(3, 8), score(3, 4, 4));
/// ```
#[inline]
pub fn score_of_total(intersection: u32, total: u32) -> f64 {
    if total == 0 {
        return 0.0;
    }
    2.0 * f64::from(intersection) / f64::from(total)
}

/// The Dice score of two records given as words of equal length.
///
/// # Panics
/// When the slices differ in length.
pub fn dice_words(a: &[u64], b: &[u64]) -> f64 {
    dice_of(a, b, |x, y| {
        ((x & y).count_ones(), x.count_ones(), y.count_ones())
    })
}

/// The Dice score of two records given as bytes of equal length (any length).
///
/// # Panics
/// When the slices differ in length.
pub fn dice_bytes(a: &[u8], b: &[u8]) -> f64 {
    dice_of(a, b, |x, y| {
        ((x & y).count_ones(), x.count_ones(), y.count_ones())
    })
}

/// Sums the counts `(intersection, popcount a, popcount b)` that `counts` gives for each
/// pair of units (words or bytes), then scores them.
fn dice_of<T: Copy>(a: &[T], b: &[T], counts: impl Fn(T, T) -> (u32, u32, u32)) -> f64 {
    assert_eq!(a.len(), b.len(), "records must have the same size");
    let (inter, pa, pb) = a.iter().zip(b).fold((0, 0, 0), |(i, p, q), (&x, &y)| {
        let (ci, cp, cq) = counts(x, y);
        (i + ci, p + cp, q + cq)
    });
    score(inter, pa, pb)
}

/// Whether a pair with these counts is a candidate at `threshold` (inclusive).
///
/// A record with no bit set never matches.
#[inline]
pub fn is_match(intersection: u32, popcount_a: u32, popcount_b: u32, threshold: f64) -> bool {
    popcount_a != 0 && popcount_b != 0 && score(intersection, popcount_a, popcount_b) >= threshold
}

/// A pair that passed the kernel's pre-test: query lane, candidate slot, intersection size.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Hit {
    /// Query lane, `0..8`.
    pub query: u32,
    /// Candidate slot: `block * 8 + lane`, counted from the first block given to the kernel.
    pub slot: u32,
    /// `popcount(query ∧ candidate)`.
    pub count: u32,
}

/// The kernels' integer pre-test for a threshold.
///
/// With `T = ⌊t·2¹⁶⌋`, a pair passes when `count·2¹⁷ ≥ T·pa + T·pb`. Every pair whose f64
/// score is `≥ t` passes: the score is within a relative 2⁻⁵³ of `2c/(pa+pb)`, and
/// `t·2¹⁶·(pa+pb)·2⁻⁵³ < 1` for any record size we accept, so rounding cannot push an exact
/// match under the integer bound. The converse does not hold, which is why hits are checked
/// exactly afterwards. Records with no bit set get an offset no count can reach.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PreTest {
    scale: u64,
}

impl PreTest {
    /// Offset that makes a pair fail the pre-test whatever its count (zero-bit records and
    /// padding lanes). Two of them still fit in a `u64` without overflow.
    pub const NEVER: u64 = 1 << 60;

    /// The pre-test for `threshold` (in `[0, 1]`).
    pub fn new(threshold: f64) -> Self {
        let scaled = (threshold.clamp(0.0, 1.0) * 65536.0).floor();
        PreTest {
            scale: scaled as u64,
        }
    }

    /// The offset for a record with `popcount` bits set.
    #[inline]
    pub fn offset(&self, popcount: u32) -> u64 {
        if popcount == 0 {
            Self::NEVER
        } else {
            self.scale * u64::from(popcount)
        }
    }

    /// The pre-test itself, as the kernels evaluate it lane by lane.
    #[inline]
    pub fn passes(count: u64, offset_a: u64, offset_b: u64) -> bool {
        (count << 17) >= offset_a + offset_b
    }
}

/// Copies records into interleaved blocks of [`LANES`], padding the last block with zeros.
///
/// `words` yields each record's words; all records have `words_per_record` words.
pub fn interleave<'a>(
    records: impl ExactSizeIterator<Item = &'a [u64]>,
    words_per_record: usize,
) -> Vec<u64> {
    let mut out = vec![0u64; interleaved_len(records.len(), words_per_record)];
    interleave_into(records, words_per_record, &mut out);
    out
}

/// Words the interleaved blocks of `records` records take.
pub(crate) fn interleaved_len(records: usize, words_per_record: usize) -> usize {
    records.div_ceil(LANES) * LANES * words_per_record
}

/// [`interleave`] into `out` (zeroed, [`interleaved_len`] words), for a caller that chose
/// where the blocks live.
pub(crate) fn interleave_into<'a>(
    records: impl ExactSizeIterator<Item = &'a [u64]>,
    words_per_record: usize,
    out: &mut [u64],
) {
    for (i, record) in records.enumerate() {
        let block = i / LANES;
        let lane = i % LANES;
        let base = block * LANES * words_per_record;
        for (w, &word) in record.iter().enumerate() {
            out[base + w * LANES + lane] = word;
        }
    }
}

/// A Dice kernel. Holding a SIMD variant proves the CPU supports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kernel {
    /// Portable `u64::count_ones`; the reference the others are tested against.
    Scalar,
    /// The `popcnt` instruction on the integer units, one query × 8 candidates at a time.
    #[cfg(target_arch = "x86_64")]
    Popcnt(Popcnt),
    /// AVX2 nibble-table popcount, 4 candidates per register.
    #[cfg(target_arch = "x86_64")]
    Avx2(Avx2),
    /// AVX-512 with VPOPCNTQ, 8 candidates per register.
    #[cfg(target_arch = "x86_64")]
    Avx512(Avx512),
}

impl Kernel {
    /// Every kernel this CPU can run, the portable one first.
    pub fn available() -> Vec<Kernel> {
        #[allow(unused_mut)]
        let mut kernels = vec![Kernel::Scalar];
        #[cfg(target_arch = "x86_64")]
        {
            if let Some(k) = Popcnt::new() {
                kernels.push(Kernel::Popcnt(k));
            }
            if let Some(k) = Avx2::new() {
                kernels.push(Kernel::Avx2(k));
            }
            if let Some(k) = Avx512::new() {
                kernels.push(Kernel::Avx512(k));
            }
        }
        kernels
    }

    /// The kernel named `name` (`scalar`, `popcnt`, `avx2`, `avx512`) if this CPU can run it.
    pub fn from_name(name: &str) -> Option<Kernel> {
        Kernel::available()
            .into_iter()
            .find(|k| k.name() == name.trim().to_ascii_lowercase())
    }

    /// The kernel's short name.
    pub fn name(&self) -> &'static str {
        match self {
            Kernel::Scalar => "scalar",
            #[cfg(target_arch = "x86_64")]
            Kernel::Popcnt(_) => "popcnt",
            #[cfg(target_arch = "x86_64")]
            Kernel::Avx2(_) => "avx2",
            #[cfg(target_arch = "x86_64")]
            Kernel::Avx512(_) => "avx512",
        }
    }

    /// The kernel to use: `ANONLINK_KERNEL` if set and runnable, else the fastest available
    /// ([`Kernel::fastest`]).
    ///
    /// Decided once per process and logged.
    pub fn detect() -> Kernel {
        static CHOSEN: OnceLock<Kernel> = OnceLock::new();
        *CHOSEN.get_or_init(|| {
            let best = Kernel::fastest();
            let chosen = match std::env::var("ANONLINK_KERNEL") {
                // The GPU backend's choice (`crate::gpu::Backend`); the CPU's fallback is the best.
                Ok(name) if name == "gpu" => best,
                Ok(name) => match Kernel::from_name(&name) {
                    Some(k) => k,
                    None => {
                        tracing::warn!(
                            requested = %name,
                            using = best.name(),
                            "ANONLINK_KERNEL names no kernel this CPU can run"
                        );
                        best
                    }
                },
                Err(_) => best,
            };
            tracing::info!(kernel = chosen.name(), "chose Dice kernel");
            chosen
        })
    }

    /// The fastest kernel on this CPU.
    ///
    /// AVX-512 when the CPU has it: it scores 8 pairs per instruction and nothing else comes
    /// close. Otherwise POPCNT and AVX2 are timed on a small synthetic tile (about a
    /// millisecond), because which of them wins depends on the microarchitecture: AVX2 on
    /// CPUs with full-width vector units and one POPCNT port (Intel), POPCNT on CPUs that
    /// split 256-bit operations in two (AMD Zen and Zen+). Every kernel gives the same
    /// hits, so the choice changes speed, never results.
    pub fn fastest() -> Kernel {
        let available = Kernel::available();
        let contenders: Vec<Kernel> = available
            .iter()
            .copied()
            .filter(|k| *k != Kernel::Scalar)
            .collect();
        #[cfg(target_arch = "x86_64")]
        if let Some(k) = contenders.iter().find(|k| matches!(k, Kernel::Avx512(_))) {
            return *k;
        }
        match contenders.as_slice() {
            [] => Kernel::Scalar,
            [only] => *only,
            several => {
                let calibration = Calibration::new();
                let timed: Vec<(Kernel, std::time::Duration)> =
                    several.iter().map(|&k| (k, calibration.time(k))).collect();
                tracing::debug!(?timed, "timed Dice kernels");
                timed
                    .iter()
                    .min_by_key(|(_, elapsed)| *elapsed)
                    .map_or(Kernel::Scalar, |(k, _)| *k)
            }
        }
    }

    /// Compares 8 interleaved queries with a run of interleaved candidate blocks (see
    /// [`ScanInput`]) and appends the pairs passing the pre-test to `hits`. The order of
    /// hits within one call is unspecified.
    ///
    /// # Panics
    /// When the slice lengths do not fit together.
    pub fn scan(&self, input: ScanInput<'_>, hits: &mut Vec<Hit>) {
        let block_words = LANES * input.words_per_record;
        assert_eq!(input.queries.len(), block_words, "one query block");
        assert_eq!(input.offsets.len() % LANES, 0, "whole blocks of offsets");
        assert_eq!(
            input.blocks.len(),
            input.offsets.len() / LANES * block_words,
            "one offset per candidate"
        );
        match self {
            Kernel::Scalar => scalar::scan(input, hits),
            #[cfg(target_arch = "x86_64")]
            Kernel::Popcnt(k) => k.scan(input, hits),
            #[cfg(target_arch = "x86_64")]
            Kernel::Avx2(k) => k.scan(input, hits),
            #[cfg(target_arch = "x86_64")]
            Kernel::Avx512(k) => k.scan(input, hits),
        }
    }
}

/// A small synthetic tile for timing kernels against each other: 8 queries and 2048
/// candidates of 1024 bits, half their bits set (as in CLKs), at threshold 0.8, one
/// candidate in 64 a near copy of a query so that the reporting of hits is timed too.
struct Calibration {
    queries: Vec<u64>,
    query_offsets: [u64; LANES],
    blocks: Vec<u64>,
    offsets: Vec<u64>,
}

impl Calibration {
    const WORDS: usize = 16;
    const CANDIDATES: usize = 2048;
    const ROUNDS: usize = 5;
    const NEAR_COPY_EVERY: usize = 64;

    fn new() -> Self {
        let mut state = 0x9e37_79b9_7f4a_7c15u64;
        let mut record = || -> Vec<u64> {
            (0..Self::WORDS)
                .map(|_| {
                    state ^= state << 13;
                    state ^= state >> 7;
                    state ^= state << 17;
                    state
                })
                .collect()
        };
        let queries: Vec<Vec<u64>> = (0..LANES).map(|_| record()).collect();
        let mut candidates: Vec<Vec<u64>> = (0..Self::CANDIDATES).map(|_| record()).collect();
        for (i, c) in candidates
            .iter_mut()
            .enumerate()
            .step_by(Self::NEAR_COPY_EVERY)
        {
            *c = queries[i / Self::NEAR_COPY_EVERY % LANES].clone();
            c[i % Self::WORDS] ^= 0xff;
        }
        let pre = PreTest::new(0.8);
        let popcount = |r: &[u64]| r.iter().map(|w| w.count_ones()).sum::<u32>();
        let mut query_offsets = [0u64; LANES];
        for (o, q) in query_offsets.iter_mut().zip(&queries) {
            *o = pre.offset(popcount(q));
        }
        Calibration {
            queries: interleave(queries.iter().map(Vec::as_slice), Self::WORDS),
            query_offsets,
            blocks: interleave(candidates.iter().map(Vec::as_slice), Self::WORDS),
            offsets: candidates.iter().map(|c| pre.offset(popcount(c))).collect(),
        }
    }

    /// The shortest of a few scans of the tile: the least disturbed by other work.
    fn time(&self, kernel: Kernel) -> std::time::Duration {
        let mut hits = Vec::new();
        (0..Self::ROUNDS)
            .map(|_| {
                hits.clear();
                let start = std::time::Instant::now();
                kernel.scan(
                    ScanInput {
                        words_per_record: Self::WORDS,
                        queries: &self.queries,
                        query_offsets: &self.query_offsets,
                        blocks: &self.blocks,
                        offsets: &self.offsets,
                    },
                    &mut hits,
                );
                start.elapsed()
            })
            .min()
            .unwrap_or_default()
    }
}

/// One call's input to a kernel: a block of 8 interleaved queries and a run of interleaved
/// candidate blocks, with the pre-test offsets of each ([`PreTest::offset`]).
#[derive(Debug, Clone, Copy)]
pub struct ScanInput<'a> {
    /// Record size in 64-bit words.
    pub words_per_record: usize,
    /// One block: `8 · words_per_record` words.
    pub queries: &'a [u64],
    /// The queries' offsets.
    pub query_offsets: &'a [u64; LANES],
    /// `offsets.len() / 8` blocks of candidates.
    pub blocks: &'a [u64],
    /// The candidates' offsets, one per candidate.
    pub offsets: &'a [u64],
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Naive reference: every pair, exact counts, then the pre-test.
    fn naive_hits(
        wpr: usize,
        queries: &[Vec<u64>],
        candidates: &[Vec<u64>],
        pre: &PreTest,
    ) -> Vec<Hit> {
        let n_blocks = candidates.len().div_ceil(LANES);
        let mut hits = Vec::new();
        for block in 0..n_blocks {
            for (q, query) in queries.iter().enumerate() {
                for lane in 0..LANES {
                    let slot = block * LANES + lane;
                    let Some(cand) = candidates.get(slot) else {
                        continue;
                    };
                    let count: u32 = (0..wpr).map(|w| (query[w] & cand[w]).count_ones()).sum();
                    let pa = query.iter().map(|w| w.count_ones()).sum();
                    let pb = cand.iter().map(|w| w.count_ones()).sum();
                    if PreTest::passes(count.into(), pre.offset(pa), pre.offset(pb)) {
                        hits.push(Hit {
                            query: q as u32,
                            slot: slot as u32,
                            count,
                        });
                    }
                }
            }
        }
        hits
    }

    fn run_kernel(
        kernel: Kernel,
        wpr: usize,
        queries: &[Vec<u64>],
        candidates: &[Vec<u64>],
        pre: &PreTest,
    ) -> Vec<Hit> {
        assert_eq!(queries.len(), LANES);
        let qblock = interleave(queries.iter().map(|q| q.as_slice()), wpr);
        let mut qoff = [0u64; LANES];
        for (o, q) in qoff.iter_mut().zip(queries) {
            *o = pre.offset(q.iter().map(|w| w.count_ones()).sum());
        }
        let blocks = interleave(candidates.iter().map(|c| c.as_slice()), wpr);
        let mut offsets = vec![PreTest::NEVER; candidates.len().div_ceil(LANES) * LANES];
        for (o, c) in offsets.iter_mut().zip(candidates) {
            *o = pre.offset(c.iter().map(|w| w.count_ones()).sum());
        }
        let mut hits = Vec::new();
        kernel.scan(
            ScanInput {
                words_per_record: wpr,
                queries: &qblock,
                query_offsets: &qoff,
                blocks: &blocks,
                offsets: &offsets,
            },
            &mut hits,
        );
        hits.sort_by_key(|h| (h.slot, h.query));
        hits
    }

    /// Records built from a seed pattern so that popcounts sit near each other and pairs
    /// land on and around the threshold.
    fn records(wpr: usize, n: usize, seed: u64, density: u32) -> Vec<Vec<u64>> {
        let mut state = seed | 1;
        (0..n)
            .map(|_| {
                (0..wpr)
                    .map(|_| {
                        let mut word = 0u64;
                        for bit in 0..64 {
                            state ^= state << 13;
                            state ^= state >> 7;
                            state ^= state << 17;
                            if (state % 100) < u64::from(density) {
                                word |= 1 << bit;
                            }
                        }
                        word
                    })
                    .collect()
            })
            .collect()
    }

    fn check_all_kernels(wpr: usize, queries: &[Vec<u64>], cands: &[Vec<u64>], t: f64) {
        let pre = PreTest::new(t);
        let mut expected = naive_hits(wpr, queries, cands, &pre);
        expected.sort_by_key(|h| (h.slot, h.query));
        for kernel in Kernel::available() {
            let got = run_kernel(kernel, wpr, queries, cands, &pre);
            assert_eq!(got, expected, "kernel {} wpr {wpr} t {t}", kernel.name());
        }
    }

    #[test]
    fn simd_kernels_are_available_here_or_reported() {
        let names: Vec<_> = Kernel::available().iter().map(|k| k.name()).collect();
        // A missing kernel is reported rather than silently passing.
        for wanted in ["popcnt", "avx2", "avx512"] {
            if !names.contains(&wanted) {
                eprintln!("skip: kernel {wanted} is not available on this CPU");
            }
        }
        assert_eq!(names[0], "scalar");
    }

    #[test]
    fn the_fastest_kernel_is_one_this_cpu_runs() {
        let fastest = Kernel::fastest();
        assert!(Kernel::available().contains(&fastest));
        // Scalar only where nothing else runs: every other kernel is the same loop, faster.
        if Kernel::available().len() > 1 {
            assert_ne!(fastest, Kernel::Scalar);
        }
        // The calibration tile finds the same hits with every kernel: what is timed is the
        // real work, not a kernel that stopped early.
        let calibration = Calibration::new();
        let hits_of = |kernel: Kernel| {
            let mut hits = Vec::new();
            kernel.scan(
                ScanInput {
                    words_per_record: Calibration::WORDS,
                    queries: &calibration.queries,
                    query_offsets: &calibration.query_offsets,
                    blocks: &calibration.blocks,
                    offsets: &calibration.offsets,
                },
                &mut hits,
            );
            hits.sort_by_key(|h| (h.slot, h.query));
            hits
        };
        let expected = hits_of(Kernel::Scalar);
        for kernel in Kernel::available() {
            assert_eq!(hits_of(kernel), expected, "kernel {}", kernel.name());
        }
        assert_eq!(
            expected.len(),
            Calibration::CANDIDATES / Calibration::NEAR_COPY_EVERY
        );
    }

    #[test]
    fn seed_table_matches_naive() {
        let wpr = 2;
        let zeros = vec![0u64; wpr];
        let ones = vec![u64::MAX; wpr];
        let single = vec![1u64, 0];
        let high = vec![0u64, 1 << 63];
        let half = vec![u64::MAX, 0];
        let queries = vec![
            zeros.clone(),
            ones.clone(),
            single.clone(),
            high.clone(),
            half.clone(),
            vec![0xff, 0xff],
            vec![0xf0, 0x0f],
            vec![u64::MAX, 1],
        ];
        let cands = vec![
            zeros,
            ones,
            single,
            high,
            half,
            vec![0xff, 0],
            vec![0x0f, 0xf0],
        ];
        for t in [0.0, 0.5, 0.8, 2.0 / 3.0, 1.0] {
            check_all_kernels(wpr, &queries, &cands, t);
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        #[test]
        fn kernels_match_naive_all_sizes(
            wpr in 1usize..=64,
            n in 1usize..40,
            seed in any::<u64>(),
            density in 5u32..95,
            t in 0.0f64..=1.0,
        ) {
            let queries = records(wpr, LANES, seed, density);
            // Candidates: some random, some near copies of queries, to get pairs at and near
            // the threshold.
            let mut cands = records(wpr, n, seed.wrapping_add(1), density);
            for (i, c) in cands.iter_mut().enumerate().step_by(3) {
                *c = queries[i % LANES].clone();
                c[i % wpr] ^= 1 << (i % 64);
            }
            check_all_kernels(wpr, &queries, &cands, t);
        }
    }

    #[test]
    fn pretest_never_rejects_an_exact_match() {
        // Every (count, pa, pb) for small popcounts and thresholds at exact fractions.
        for t in [0.5, 0.6, 2.0 / 3.0, 0.7, 0.75, 0.8, 0.9, 0.95, 0.99, 1.0] {
            let pre = PreTest::new(t);
            for pa in 1..200u32 {
                for pb in 1..200u32 {
                    for c in 0..=pa.min(pb) {
                        if is_match(c, pa, pb, t) {
                            assert!(PreTest::passes(c.into(), pre.offset(pa), pre.offset(pb)));
                        }
                    }
                }
            }
        }
    }
}
