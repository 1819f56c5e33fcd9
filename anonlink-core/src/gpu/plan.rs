//! Tiles: the comparison of two datasets cut into rectangles a device computes at once.

/// Limits of a tile.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TileLimits {
    /// Bytes of records a tile may hold on the device (both sides).
    pub record_bytes: usize,
    /// Most rows of one side (the kernel's grid puts the first side's rows on its `y`
    /// axis, at most 65,535 blocks of 16).
    pub max_rows: usize,
    /// Emitted pairs a tile's buffer holds at first (a tile that emits more is split).
    pub capacity: usize,
}

impl Default for TileLimits {
    /// About 1 GiB of records, at most 512K rows a side and 4M emitted pairs (48 MiB) per
    /// tile to begin with: big enough to keep a large GPU busy, small enough for any.
    fn default() -> Self {
        TileLimits {
            record_bytes: 1 << 30,
            max_rows: 1 << 19,
            capacity: 1 << 22,
        }
    }
}

/// Rows `a` of the first dataset against rows `b` of the second, `[start, end)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tile {
    /// Rows of the first dataset.
    pub a: [usize; 2],
    /// Rows of the second dataset.
    pub b: [usize; 2],
    /// Emitted pairs its buffer holds.
    pub capacity: usize,
}

impl Tile {
    /// Pairs the tile compares.
    pub fn comparisons(&self) -> u64 {
        ((self.a[1] - self.a[0]) * (self.b[1] - self.b[0])) as u64
    }

    /// The tile in halves along its longer side, each with room for the `emitted` pairs
    /// the whole one emitted; `None` for a single pair (it cannot overflow, unless the
    /// capacity is zero).
    pub fn split(&self, emitted: u64) -> Option<[Tile; 2]> {
        let capacity = usize::try_from(emitted)
            .unwrap_or(usize::MAX)
            .max(self.capacity);
        let (la, lb) = (self.a[1] - self.a[0], self.b[1] - self.b[0]);
        if la <= 1 && lb <= 1 {
            return None;
        }
        let halves = |r: [usize; 2]| {
            let mid = r[0] + (r[1] - r[0]) / 2;
            [[r[0], mid], [mid, r[1]]]
        };
        Some(if la >= lb {
            halves(self.a).map(|a| Tile {
                a,
                capacity,
                ..*self
            })
        } else {
            halves(self.b).map(|b| Tile {
                b,
                capacity,
                ..*self
            })
        })
    }
}

/// Tiles covering every pair of `rows_a × rows_b` records of `words` words once, within
/// `limits`.
///
/// ```
/// use anonlink_core::gpu::{plan_tiles, TileLimits};
/// let limits = TileLimits { record_bytes: 128 * 1000, max_rows: 300, capacity: 10 };
/// let tiles = plan_tiles(1000, 700, 16, &limits);
/// let covered: u64 = tiles.iter().map(|t| t.comparisons()).sum();
/// assert_eq!(covered, 1000 * 700);
/// ```
pub fn plan_tiles(rows_a: usize, rows_b: usize, words: usize, limits: &TileLimits) -> Vec<Tile> {
    if rows_a == 0 || rows_b == 0 {
        return Vec::new();
    }
    // Half the record budget per side, at least one row, at most `max_rows`.
    let per_side = (limits.record_bytes / 2 / (8 * words.max(1))).clamp(1, limits.max_rows.max(1));
    let (step_a, step_b) = (per_side.min(rows_a), per_side.min(rows_b));
    let mut tiles = Vec::new();
    for a0 in (0..rows_a).step_by(step_a) {
        for b0 in (0..rows_b).step_by(step_b) {
            tiles.push(Tile {
                a: [a0, (a0 + step_a).min(rows_a)],
                b: [b0, (b0 + step_b).min(rows_b)],
                capacity: limits.capacity,
            });
        }
    }
    tiles
}
