//! AVX2 kernel: popcount by nibble table (VPSHUFB), 4 candidates per 256-bit register.
//!
//! Byte counts are summed for up to 31 words before they are widened with VPSADBW: a byte
//! gains at most 8 per word, and 31 · 8 = 248 still fits in a byte.
#![allow(unsafe_code)]

use std::arch::x86_64::*;

use super::{Hit, LANES, ScanInput};

/// Words summed in bytes before widening.
const FLUSH_EVERY: usize = 31;

/// Proof that the CPU has AVX2.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Avx2 {
    _private: (),
}

impl Avx2 {
    /// The token, if this CPU supports the kernel.
    pub fn new() -> Option<Self> {
        if is_x86_feature_detected!("avx2") {
            Some(Avx2 { _private: () })
        } else {
            None
        }
    }

    pub(super) fn scan(&self, input: ScanInput<'_>, hits: &mut Vec<Hit>) {
        // SAFETY: an `Avx2` value exists only if `new` saw AVX2 on this CPU.
        unsafe { scan(input, hits) }
    }
}

/// # Safety
/// The CPU must support AVX2.
#[target_feature(enable = "avx2")]
unsafe fn scan(input: ScanInput<'_>, hits: &mut Vec<Hit>) {
    let ScanInput {
        words_per_record,
        queries,
        query_offsets,
        blocks,
        offsets,
    } = input;
    let block_words = LANES * words_per_record;
    let table = _mm256_setr_epi8(
        0, 1, 1, 2, 1, 2, 2, 3, 1, 2, 2, 3, 2, 3, 3, 4, 0, 1, 1, 2, 1, 2, 2, 3, 1, 2, 2, 3, 2, 3,
        3, 4,
    );
    let low_nibbles = _mm256_set1_epi8(0x0f);
    for (b, (block, block_offsets)) in blocks
        .chunks_exact(block_words)
        .zip(offsets.chunks_exact(LANES))
        .enumerate()
    {
        // Half 0 holds candidate lanes 0..4, half 1 lanes 4..8.
        for half in 0..2 {
            // SAFETY: `block_offsets` is 8 u64; half * 4 + 4 <= 8, so 32 bytes are readable.
            let coff = unsafe { _mm256_loadu_si256(block_offsets.as_ptr().add(half * 4).cast()) };
            for query_group in 0..2 {
                let mut wide = [_mm256_setzero_si256(); 4];
                let mut narrow = [_mm256_setzero_si256(); 4];
                for (w, (line, qw)) in block
                    .chunks_exact(LANES)
                    .zip(queries.chunks_exact(LANES))
                    .enumerate()
                {
                    // SAFETY: `line` is 8 u64; half * 4 + 4 <= 8, so 32 bytes are readable.
                    let cand = unsafe { _mm256_loadu_si256(line.as_ptr().add(half * 4).cast()) };
                    for q in 0..4 {
                        let query = _mm256_set1_epi64x(qw[query_group * 4 + q] as i64);
                        let both = _mm256_and_si256(query, cand);
                        let lo = _mm256_shuffle_epi8(table, _mm256_and_si256(both, low_nibbles));
                        let hi = _mm256_shuffle_epi8(
                            table,
                            _mm256_and_si256(_mm256_srli_epi16::<4>(both), low_nibbles),
                        );
                        narrow[q] = _mm256_add_epi8(narrow[q], _mm256_add_epi8(lo, hi));
                    }
                    if (w + 1) % FLUSH_EVERY == 0 {
                        flush(&mut wide, &mut narrow);
                    }
                }
                flush(&mut wide, &mut narrow);
                for (q, &counts_q) in wide.iter().enumerate() {
                    let query_lane = query_group * 4 + q;
                    let lhs = _mm256_slli_epi64::<17>(counts_q);
                    let rhs = _mm256_add_epi64(
                        _mm256_set1_epi64x(query_offsets[query_lane] as i64),
                        coff,
                    );
                    // All values are below 2^62, so the signed compare is exact: lhs >= rhs
                    // is "not rhs > lhs".
                    let below = _mm256_cmpgt_epi64(rhs, lhs);
                    let mut mask = !(_mm256_movemask_pd(_mm256_castsi256_pd(below)) as u32) & 0xf;
                    if mask != 0 {
                        let mut counts = [0u64; 4];
                        // SAFETY: `counts` is 4 u64 = 32 bytes, writable.
                        unsafe { _mm256_storeu_si256(counts.as_mut_ptr().cast(), counts_q) };
                        while mask != 0 {
                            let lane = mask.trailing_zeros() as usize;
                            mask &= mask - 1;
                            hits.push(Hit {
                                query: query_lane as u32,
                                slot: (b * LANES + half * 4 + lane) as u32,
                                count: counts[lane] as u32,
                            });
                        }
                    }
                }
            }
        }
    }
}

#[inline]
#[target_feature(enable = "avx2")]
fn flush(wide: &mut [__m256i; 4], narrow: &mut [__m256i; 4]) {
    for (w, n) in wide.iter_mut().zip(narrow.iter_mut()) {
        *w = _mm256_add_epi64(*w, _mm256_sad_epu8(*n, _mm256_setzero_si256()));
        *n = _mm256_setzero_si256();
    }
}
