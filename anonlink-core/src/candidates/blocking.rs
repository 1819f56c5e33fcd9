//! Blocking: compare two records only if they share a block.

use rayon::prelude::*;
use rustc_hash::FxHashMap;

use super::spill::SharedRuns;
use super::top_k::enforce_k;
use super::{CandidatePair, CandidatePairs, Config, Progress, SortedRuns, check_datasets, tile};
use crate::encoding::Clks;
use crate::error::{Error, Result};
use crate::similarity::Kernel;

/// Finds candidate pairs among records that share at least one block.
///
/// `blocks[d][row]` lists the block ids of record `row` of dataset `d`. A pair that shares
/// several blocks appears once. With `k` set, the reference's top-k applies per block and
/// then over the merged result (see [`Config::with_k`]). Without `k`, the result equals [`super::find`] followed by dropping the pairs that
/// share no block.
///
/// # Errors
/// As [`super::find`], plus [`Error::Blocks`] when `blocks` does not have one list per
/// record of every dataset.
///
/// # Examples
/// ```
/// use anonlink_core::candidates::{find_blocked, Config};
/// use anonlink_core::encoding::Clks;
///
/// let a = Clks::from_concatenated(&[0xff; 16], 8)?;
/// let b = Clks::from_concatenated(&[0xff; 16], 8)?;
/// let blocks = vec![vec![vec![1], vec![2]], vec![vec![2], vec![3]]];
/// let pairs = find_blocked(&[&a, &b], &blocks, &Config::new(0.9))?;
/// // Only row 1 of a and row 0 of b share a block.
/// assert_eq!(pairs.len(), 1);
/// assert_eq!((pairs.as_slice()[0].row0, pairs.as_slice()[0].row1), (1, 0));
/// # Ok::<(), anonlink_core::Error>(())
/// ```
pub fn find_blocked(
    datasets: &[&Clks],
    blocks: &[Vec<Vec<u64>>],
    config: &Config,
) -> Result<CandidatePairs> {
    check_blocks(datasets, blocks, config)?;
    let progress = Progress::new(config.progress.as_deref());
    let kernel = config.kernel.unwrap_or_else(Kernel::detect);
    let indexes: Vec<FxHashMap<u64, Vec<u32>>> = blocks.iter().map(|l| index(l)).collect();

    let mut all = Vec::new();
    for i in 0..datasets.len() {
        for j in i + 1..datasets.len() {
            let found: Vec<Vec<CandidatePair>> = shared_blocks(&indexes, i, j)
                .par_iter()
                .map(|&(_, rows_i, rows_j)| {
                    if progress.is_cancelled() {
                        return Vec::new();
                    }
                    let block = BlockPair {
                        datasets,
                        pair: (i, j),
                        rows: (rows_i, rows_j),
                    };
                    block.compare(config, kernel, &progress)
                })
                .collect();
            if progress.is_cancelled() {
                return Err(Error::Cancelled);
            }
            all.extend(found.into_iter().flatten());
        }
    }
    let mut sorted = CandidatePairs::from_unsorted(all).into_vec();
    // After sorting, the copies of a pair found in several blocks are neighbours.
    sorted.dedup_by(|x, y| {
        (x.dataset0, x.dataset1, x.row0, x.row1) == (y.dataset0, y.dataset1, y.row0, y.row1)
    });
    if let Some(k) = config.k {
        enforce_k(&mut sorted, k);
    }
    Ok(CandidatePairs { pairs: sorted })
}

/// [`find_blocked`] in bounded memory (without `k`): each block's pairs go to `runs`
/// (sorted runs on disk beyond their budget), each pair once — from the first block, by
/// id, that its two records share — so that [`SortedRuns::into_stream`] gives exactly the
/// pairs of [`find_blocked`], however many a block holds.
///
/// # Errors
/// As [`find_blocked`]; [`Error::Blocks`] with `k` set (top-k already bounds the pairs:
/// use [`find_blocked`]); [`Error::Spill`] when the pairs cannot be written to disk.
pub fn find_blocked_into(
    datasets: &[&Clks],
    blocks: &[Vec<Vec<u64>>],
    config: &Config,
    runs: SortedRuns,
) -> Result<SortedRuns> {
    check_blocks(datasets, blocks, config)?;
    if config.k.is_some() {
        return Err(Error::Blocks {
            reason: "top-k per block is found in memory (find_blocked), not in runs".into(),
        });
    }
    let runs = SharedRuns::new(runs);
    let stopping_progress = runs.progress(config.progress.clone());
    let progress = Progress::new(Some(&stopping_progress));
    let kernel = config.kernel.unwrap_or_else(Kernel::detect);
    let indexes: Vec<FxHashMap<u64, Vec<u32>>> = blocks.iter().map(|l| index(l)).collect();
    let sorted: Vec<Vec<Vec<u64>>> = blocks
        .iter()
        .map(|lists| {
            lists
                .iter()
                .map(|ids| {
                    let mut ids = ids.clone();
                    ids.sort_unstable();
                    ids.dedup();
                    ids
                })
                .collect()
        })
        .collect();
    for i in 0..datasets.len() {
        for j in i + 1..datasets.len() {
            shared_blocks(&indexes, i, j)
                .par_iter()
                .for_each(|&(id, rows_i, rows_j)| {
                    if progress.is_cancelled() {
                        return;
                    }
                    let block = BlockPair {
                        datasets,
                        pair: (i, j),
                        rows: (rows_i, rows_j),
                    };
                    let mut pairs = block.compare(config, kernel, &progress);
                    pairs.retain(|p| {
                        first_common(&sorted[i][p.row0 as usize], &sorted[j][p.row1 as usize])
                            == Some(id)
                    });
                    if !pairs.is_empty() {
                        runs.push(&mut pairs);
                    }
                });
            runs.failure()?;
            if progress.is_cancelled() {
                return Err(Error::Cancelled);
            }
        }
    }
    Ok(runs.into_inner())
}

/// The blocks datasets `i` and `j` share (id, rows of each), biggest first so that the
/// long tasks start early.
fn shared_blocks(
    indexes: &[FxHashMap<u64, Vec<u32>>],
    i: usize,
    j: usize,
) -> Vec<(u64, &[u32], &[u32])> {
    let mut shared: Vec<(u64, &[u32], &[u32])> = indexes[i]
        .iter()
        .filter_map(|(id, rows_i)| {
            indexes[j]
                .get(id)
                .map(|rows_j| (*id, &rows_i[..], &rows_j[..]))
        })
        .collect();
    shared.sort_by_key(|(_, a, b)| std::cmp::Reverse(a.len() * b.len()));
    shared
}

/// One block shared by two datasets: its rows in each.
struct BlockPair<'a> {
    datasets: &'a [&'a Clks],
    pair: (usize, usize),
    rows: (&'a [u32], &'a [u32]),
}

impl BlockPair<'_> {
    /// The block's candidate pairs, with the datasets' rows.
    fn compare(
        &self,
        config: &Config,
        kernel: Kernel,
        progress: &Progress<'_>,
    ) -> Vec<CandidatePair> {
        let (i, j) = self.pair;
        let sub_i = self.datasets[i].select(self.rows.0);
        let sub_j = self.datasets[j].select(self.rows.1);
        let mut pairs = tile::compare(
            &sub_i,
            &sub_j,
            (i as u32, j as u32),
            config,
            kernel,
            progress,
        );
        for p in &mut pairs {
            p.row0 = self.rows.0[p.row0 as usize];
            p.row1 = self.rows.1[p.row1 as usize];
        }
        pairs
    }
}

/// The smallest id in both sorted lists.
fn first_common(a: &[u64], b: &[u64]) -> Option<u64> {
    let (mut x, mut y) = (0, 0);
    while x < a.len() && y < b.len() {
        match a[x].cmp(&b[y]) {
            std::cmp::Ordering::Less => x += 1,
            std::cmp::Ordering::Greater => y += 1,
            std::cmp::Ordering::Equal => return Some(a[x]),
        }
    }
    None
}

fn check_blocks(datasets: &[&Clks], blocks: &[Vec<Vec<u64>>], config: &Config) -> Result<()> {
    check_datasets(datasets)?;
    config.validate()?;
    if blocks.len() != datasets.len() {
        return Err(Error::Blocks {
            reason: format!(
                "block lists for {} datasets, but {} datasets",
                blocks.len(),
                datasets.len()
            ),
        });
    }
    for (d, (clks, lists)) in datasets.iter().zip(blocks).enumerate() {
        if clks.len() != lists.len() {
            return Err(Error::Blocks {
                reason: format!(
                    "dataset {d}: {} block lists for {} records",
                    lists.len(),
                    clks.len()
                ),
            });
        }
    }
    Ok(())
}

/// The comparisons [`find_blocked`] makes: for every pair of datasets, the product of the
/// sizes of each block they share (a pair of records in two shared blocks is compared in
/// both).
pub fn blocked_comparisons(blocks: &[Vec<Vec<u64>>]) -> u64 {
    let indexes: Vec<FxHashMap<u64, Vec<u32>>> = blocks.iter().map(|l| index(l)).collect();
    let mut total = 0u64;
    for i in 0..indexes.len() {
        for j in i + 1..indexes.len() {
            for (id, rows_i) in &indexes[i] {
                if let Some(rows_j) = indexes[j].get(id) {
                    total = total.saturating_add(rows_i.len() as u64 * rows_j.len() as u64);
                }
            }
        }
    }
    total
}

/// Block id → rows in that block, ascending; a row listing a block twice appears once.
fn index(lists: &[Vec<u64>]) -> FxHashMap<u64, Vec<u32>> {
    let mut map: FxHashMap<u64, Vec<u32>> = FxHashMap::default();
    for (row, ids) in lists.iter().enumerate() {
        for &id in ids {
            let rows = map.entry(id).or_default();
            if rows.last() != Some(&(row as u32)) {
                rows.push(row as u32);
            }
        }
    }
    map
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::candidates::find;
    use crate::testing::{related_clks, related_datasets};
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(32))]

        #[test]
        fn blocked_equals_unblocked_then_filtered(
            sizes in proptest::collection::vec(1usize..60, 2..4),
            seed in any::<u64>(),
            n_blocks in 1u64..5,
            t in 0.4f64..0.9,
        ) {
            let datasets = related_datasets(&sizes, 16, seed);
            let refs: Vec<&Clks> = datasets.iter().collect();
            // Each record gets 0, 1 or 2 blocks, derived from its row and the seed.
            let blocks: Vec<Vec<Vec<u64>>> = sizes
                .iter()
                .enumerate()
                .map(|(d, &n)| {
                    (0..n)
                        .map(|r| {
                            let h = (r as u64).wrapping_mul(2654435761) ^ seed ^ (d as u64);
                            match h % 4 {
                                0 => vec![],
                                1 => vec![h % n_blocks],
                                _ => vec![h % n_blocks, (h / 7) % n_blocks, h % n_blocks],
                            }
                        })
                        .collect()
                })
                .collect();
            let got = find_blocked(&refs, &blocks, &Config::new(t)).unwrap();
            // In runs, at budgets from one pair per run up: each pair once, the same order.
            for budget in [1, 96, 1 << 20] {
                let runs = find_blocked_into(
                    &refs,
                    &blocks,
                    &Config::new(t),
                    SortedRuns::new(crate::candidates::MemoryBudget::bytes(budget)),
                )
                .unwrap();
                let streamed: Vec<CandidatePair> =
                    runs.into_stream().unwrap().collect::<Result<_>>().unwrap();
                prop_assert_eq!(streamed.as_slice(), got.as_slice());
            }
            let all = find(&refs, &Config::new(t)).unwrap();
            let share = |d0: u32, r0: u32, d1: u32, r1: u32| {
                let a = &blocks[d0 as usize][r0 as usize];
                let b = &blocks[d1 as usize][r1 as usize];
                a.iter().any(|x| b.contains(x))
            };
            let expected: Vec<CandidatePair> = all
                .iter()
                .copied()
                .filter(|p| share(p.dataset0, p.row0, p.dataset1, p.row1))
                .collect();
            prop_assert_eq!(got.as_slice(), expected.as_slice());
        }
    }

    #[test]
    fn rejects_mismatched_blocks() {
        let a = related_clks(3, 16, 1, 0);
        let err = find_blocked(&[&a, &a], &[vec![vec![]; 3]], &Config::new(0.5)).unwrap_err();
        assert!(matches!(err, Error::Blocks { .. }));
        let err = find_blocked(
            &[&a, &a],
            &[vec![vec![]; 3], vec![vec![]; 2]],
            &Config::new(0.5),
        )
        .unwrap_err();
        assert!(err.to_string().contains("dataset 1"));
    }
}
