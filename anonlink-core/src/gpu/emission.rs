//! What a device writes for each pair that passes the pre-test: three `u32`s, the pair's
//! row in the tile's first and second dataset and the number of bits they share.

/// One emitted pair, rows local to its tile.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Emitted {
    /// Row in the tile's first dataset.
    pub a: u32,
    /// Row in the tile's second dataset.
    pub b: u32,
    /// `popcount(a ∧ b)`.
    pub count: u32,
}

/// The first `count` pairs of an emission buffer (`[a, b, count, a, b, count, ...]`), at
/// most as many as it holds.
///
/// ```
/// use anonlink_core::gpu::{decode_emitted, Emitted};
/// let buffer = [3, 7, 500, 0, 1, 640, 9, 9, 9];
/// assert_eq!(decode_emitted(&buffer, 2), [Emitted { a: 3, b: 7, count: 500 }, Emitted { a: 0, b: 1, count: 640 }]);
/// ```
pub fn decode_emitted(buffer: &[u32], count: u64) -> Vec<Emitted> {
    let n = usize::try_from(count)
        .unwrap_or(usize::MAX)
        .min(buffer.len() / 3);
    buffer[..3 * n]
        .chunks_exact(3)
        .map(|t| Emitted {
            a: t[0],
            b: t[1],
            count: t[2],
        })
        .collect()
}
