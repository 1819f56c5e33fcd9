//! The portable kernel: `u64::count_ones` over interleaved blocks. It is the specification
//! the SIMD kernels are tested against.

use super::{Hit, LANES, PreTest, ScanInput};

pub(super) fn scan(input: ScanInput<'_>, hits: &mut Vec<Hit>) {
    let ScanInput {
        words_per_record,
        queries,
        query_offsets,
        blocks,
        offsets,
    } = input;
    let block_words = LANES * words_per_record;
    for (b, (block, block_offsets)) in blocks
        .chunks_exact(block_words)
        .zip(offsets.chunks_exact(LANES))
        .enumerate()
    {
        let mut counts = [[0u64; LANES]; LANES];
        for (line, query_words) in block.chunks_exact(LANES).zip(queries.chunks_exact(LANES)) {
            for (q, &qw) in query_words.iter().enumerate() {
                for (lane, &cw) in line.iter().enumerate() {
                    counts[q][lane] += u64::from((qw & cw).count_ones());
                }
            }
        }
        for (q, (row, &qo)) in counts.iter().zip(query_offsets).enumerate() {
            for (lane, (&count, &co)) in row.iter().zip(block_offsets).enumerate() {
                if PreTest::passes(count, qo, co) {
                    hits.push(Hit {
                        query: q as u32,
                        slot: (b * LANES + lane) as u32,
                        count: count as u32,
                    });
                }
            }
        }
    }
}
