//! AVX-512 kernel: one 64-byte line holds word `w` of 8 candidates, so a broadcast query
//! word, one AND, one VPOPCNTQ and one add score 8 pairs. 8 queries share each line load.
#![allow(unsafe_code)]

use std::arch::x86_64::*;

use super::{Hit, LANES, ScanInput};

/// Proof that the CPU has AVX-512F and AVX-512 VPOPCNTDQ.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Avx512 {
    _private: (),
}

impl Avx512 {
    /// The token, if this CPU supports the kernel.
    pub fn new() -> Option<Self> {
        if is_x86_feature_detected!("avx512f") && is_x86_feature_detected!("avx512vpopcntdq") {
            Some(Avx512 { _private: () })
        } else {
            None
        }
    }

    pub(super) fn scan(&self, input: ScanInput<'_>, hits: &mut Vec<Hit>) {
        // SAFETY: an `Avx512` value exists only if `new` saw both features on this CPU.
        unsafe { scan(input, hits) }
    }
}

/// # Safety
/// The CPU must support AVX-512F and AVX-512 VPOPCNTDQ.
#[target_feature(enable = "avx512f,avx512vpopcntdq")]
unsafe fn scan(input: ScanInput<'_>, hits: &mut Vec<Hit>) {
    let ScanInput {
        words_per_record,
        queries,
        query_offsets,
        blocks,
        offsets,
    } = input;
    let block_words = LANES * words_per_record;
    let qoff: [__m512i; LANES] = query_offsets.map(|o| _mm512_set1_epi64(o as i64));
    let easiest = _mm512_set1_epi64(query_offsets.iter().copied().min().unwrap_or(0) as i64);
    for (b, (block, block_offsets)) in blocks
        .chunks_exact(block_words)
        .zip(offsets.chunks_exact(LANES))
        .enumerate()
    {
        let mut acc = [_mm512_setzero_si512(); LANES];
        for (line, qw) in block.chunks_exact(LANES).zip(queries.chunks_exact(LANES)) {
            // SAFETY: `line` is exactly 8 u64 = 64 bytes; unaligned loads are allowed.
            let cand = unsafe { _mm512_loadu_si512(line.as_ptr().cast()) };
            for q in 0..LANES {
                let query = _mm512_set1_epi64(qw[q] as i64);
                acc[q] =
                    _mm512_add_epi64(acc[q], _mm512_popcnt_epi64(_mm512_and_si512(query, cand)));
            }
        }
        // SAFETY: `block_offsets` is exactly 8 u64 = 64 bytes.
        let coff = unsafe { _mm512_loadu_si512(block_offsets.as_ptr().cast()) };
        // Coarse test first: the best count of each candidate lane against the easiest
        // query offset. It passes whenever any (query, lane) pair passes, and costs a third
        // of the eight exact tests, which run only when it does.
        let mut best = acc[0];
        for counts in &acc[1..] {
            best = _mm512_max_epu64(best, *counts);
        }
        let coarse = _mm512_cmpge_epu64_mask(
            _mm512_slli_epi64::<17>(best),
            _mm512_add_epi64(easiest, coff),
        );
        if coarse == 0 {
            continue;
        }
        let mut masks = [0u8; LANES];
        let mut any = 0u8;
        for q in 0..LANES {
            let lhs = _mm512_slli_epi64::<17>(acc[q]);
            let rhs = _mm512_add_epi64(qoff[q], coff);
            masks[q] = _mm512_cmpge_epu64_mask(lhs, rhs);
            any |= masks[q];
        }
        if any != 0 {
            report(b, &acc, &masks, hits);
        }
    }
}

#[cold]
#[inline(never)]
#[target_feature(enable = "avx512f")]
fn report(block: usize, acc: &[__m512i; LANES], masks: &[u8; LANES], hits: &mut Vec<Hit>) {
    for (q, (&counts, &mask)) in acc.iter().zip(masks).enumerate() {
        let mut mask = mask;
        if mask == 0 {
            continue;
        }
        let mut lanes = [0u64; LANES];
        // SAFETY: `lanes` is 8 u64 = 64 bytes, writable.
        unsafe { _mm512_storeu_si512(lanes.as_mut_ptr().cast(), counts) };
        while mask != 0 {
            let lane = mask.trailing_zeros() as usize;
            mask &= mask - 1;
            hits.push(Hit {
                query: q as u32,
                slot: (block * LANES + lane) as u32,
                count: lanes[lane] as u32,
            });
        }
    }
}
