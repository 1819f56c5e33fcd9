//! blocklib's block statistics (`reversed_index_stats`, per strategy) and its two-party
//! assessment against a truth (`assess_blocks_2party`).

use rustc_hash::{FxHashMap, FxHashSet};
use serde::Serialize;

/// blocklib's `stats` of a block dictionary.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BlockStats {
    /// `num_of_blocks`.
    pub num_of_blocks: usize,
    /// `min_size` (0 without blocks).
    pub min_size: usize,
    /// `max_size`.
    pub max_size: usize,
    /// `avg_size`: the mean block size.
    pub avg_size: f64,
    /// `med_size`: the median block size, truncated to an integer as blocklib does.
    pub med_size: usize,
    /// `std_size`: the sample standard deviation (0 for fewer than two blocks).
    pub std_size: f64,
    /// `sum_of_blocks`: the block sizes added up.
    pub sum_of_blocks: usize,
    /// P-Sig: per-strategy statistics (computed after filtering, before the Bloom ids).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub statistics_per_strategy: Option<Vec<StrategyStats>>,
    /// P-Sig: the share of records in at least one block.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub coverage: Option<f64>,
}

/// blocklib's statistics of one P-Sig strategy.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StrategyStats {
    /// Sizes of the strategy's blocks.
    #[serde(flatten)]
    pub sizes: BlockStats,
    /// `strategy_idx`.
    pub strategy_idx: usize,
    /// `num_filtered_elements`: records minus the sum of block sizes.
    pub num_filtered_elements: i64,
    /// `coverage` as blocklib computes it per strategy (sum of block sizes / records).
    pub coverage: f64,
}

impl BlockStats {
    /// The statistics of blocks of these sizes (blocklib's `reversed_index_stats`).
    pub fn of_sizes(sizes: impl Iterator<Item = usize>) -> Self {
        block_stats(sizes)
    }
}

pub(super) fn block_stats(sizes: impl Iterator<Item = usize>) -> BlockStats {
    let mut sizes: Vec<usize> = sizes.collect();
    let n = sizes.len();
    let sum: usize = sizes.iter().sum();
    let mut stats = BlockStats {
        num_of_blocks: n,
        min_size: sizes.iter().copied().min().unwrap_or(0),
        max_size: sizes.iter().copied().max().unwrap_or(0),
        avg_size: if n == 0 { 0.0 } else { sum as f64 / n as f64 },
        med_size: 0,
        std_size: 0.0,
        sum_of_blocks: sum,
        statistics_per_strategy: None,
        coverage: None,
    };
    if n > 0 {
        sizes.sort_unstable();
        stats.med_size = if n % 2 == 1 {
            sizes[n / 2]
        } else {
            (sizes[n / 2 - 1] + sizes[n / 2]) / 2
        };
    }
    if n > 1 {
        // Exact in integers, as Python's `statistics.stdev` is exact before the root.
        let (n128, sum128) = (n as u128, sum as u128);
        let squares: u128 = sizes.iter().map(|&s| (s as u128) * (s as u128)).sum();
        let numerator = n128 * squares - sum128 * sum128;
        let denominator = n128 * (n128 - 1);
        stats.std_size = (numerator as f64 / denominator as f64).sqrt();
    }
    stats
}

pub(super) fn strategy_stats(
    index: usize,
    sizes: impl Iterator<Item = usize>,
    records: usize,
) -> StrategyStats {
    let sizes = block_stats(sizes);
    let sum = sizes.sum_of_blocks;
    StrategyStats {
        strategy_idx: index,
        num_filtered_elements: records as i64 - sum as i64,
        coverage: if sum == 0 {
            0.0
        } else {
            sum as f64 / records as f64
        },
        sizes,
    }
}

/// blocklib's `assess_blocks_2party`, with the counts behind its two ratios.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Assessment {
    /// Record pairs compared within shared blocks (a pair in two blocks counts twice).
    pub comparisons: u128,
    /// All record pairs: the product of the two parties' record counts.
    pub all_comparisons: u128,
    /// Reduction ratio: 1 − comparisons / all comparisons.
    pub reduction_ratio: f64,
    /// Entities present in both parties.
    pub true_matches: usize,
    /// Of those, the entities with records of both parties in a shared block.
    pub found_matches: usize,
    /// Pairs completeness: found / true matches (0 without true matches).
    pub pairs_completeness: f64,
}

/// Reduction ratio and pairs completeness of two parties' blocks (block id → record
/// positions) against the entity of each record (`entities[party][record]`).
pub fn assess_two_party<E: Eq + std::hash::Hash>(
    blocks: [&[(String, Vec<usize>)]; 2],
    entities: [&[E]; 2],
) -> crate::Result<Assessment> {
    let all_comparisons = entities[0].len() as u128 * entities[1].len() as u128;
    if all_comparisons == 0 {
        return Err(crate::Error::Blocking {
            row: None,
            reason: "there are no records, so the blocks cannot be assessed".into(),
        });
    }
    let second: FxHashMap<&str, &[usize]> = blocks[1]
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_slice()))
        .collect();
    let entity = |party: usize, record: usize| -> crate::Result<&E> {
        entities[party]
            .get(record)
            .ok_or_else(|| crate::Error::Blocking {
                row: Some(record),
                reason: format!("party {party} has a block record without an entity in the truth"),
            })
    };
    let mut comparisons = 0u128;
    let mut found: FxHashSet<&E> = FxHashSet::default();
    for (key, records_a) in blocks[0] {
        let Some(records_b) = second.get(key.as_str()) else {
            continue;
        };
        comparisons += records_a.len() as u128 * records_b.len() as u128;
        let in_a: FxHashSet<&E> = records_a
            .iter()
            .map(|&r| entity(0, r))
            .collect::<crate::Result<_>>()?;
        for &r in records_b.iter() {
            let e = entity(1, r)?;
            if in_a.contains(e) {
                found.insert(e);
            }
        }
    }
    let first_entities: FxHashSet<&E> = entities[0].iter().collect();
    let true_matches = entities[1]
        .iter()
        .collect::<FxHashSet<_>>()
        .intersection(&first_entities)
        .count();
    Ok(Assessment {
        comparisons,
        all_comparisons,
        reduction_ratio: 1.0 - comparisons as f64 / all_comparisons as f64,
        true_matches,
        found_matches: found.len(),
        pairs_completeness: if found.is_empty() {
            0.0
        } else {
            found.len() as f64 / true_matches as f64
        },
    })
}
