//! Solvers: turn candidate pairs into groups of records that refer to the same entity.
//!
//! Both solvers reproduce the reference library (anonlink 0.15, native solver) exactly:
//! candidates are walked in the given order (canonical order: best score first), and each
//! record belongs to at most one group.
//!
//! - [`greedy`]: two groups merge only when every cross pair has been seen as a candidate
//!   (merge threshold 1, duplicates from one dataset allowed). With two datasets this is
//!   greedy 1-to-1 matching.
//! - [`probabilistic`]: groups merge when at least `merge_threshold` of the cross pairs have
//!   been seen; `deduplicated` forbids two records of one dataset in a group.
//!
//! [`bayes`] is this project's own: it solves with the match probabilities of a
//! [`crate::model::ScoreModel`] rather than the order of the scores alone.
//!
//! Output is canonical: members sorted by `(dataset, row)`, groups sorted, so results are
//! deterministic (the reference's own group order is not).

mod bayes;
mod merge;

pub use self::bayes::{ACCEPT_PROBABILITY, bayes};

use crate::candidates::CandidatePair;
use crate::error::{Error, Result};

/// A record: its dataset index and its row in that dataset.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Record {
    /// Dataset index.
    pub dataset: u32,
    /// Row in the dataset.
    pub row: u32,
}

impl Record {
    /// The record `row` of `dataset`.
    pub fn new(dataset: u32, row: u32) -> Self {
        Record { dataset, row }
    }
}

/// Groups of at least two records, in canonical order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Groups {
    groups: Vec<Vec<Record>>,
}

impl Groups {
    /// Puts groups into canonical order (members sorted, then groups sorted).
    pub fn from_unsorted(mut groups: Vec<Vec<Record>>) -> Self {
        for g in &mut groups {
            g.sort_unstable();
        }
        groups.sort_unstable();
        Groups { groups }
    }

    /// The groups.
    pub fn as_slice(&self) -> &[Vec<Record>] {
        &self.groups
    }

    /// Number of groups.
    pub fn len(&self) -> usize {
        self.groups.len()
    }

    /// True when there are no groups.
    pub fn is_empty(&self) -> bool {
        self.groups.is_empty()
    }

    /// Iterates over the groups.
    pub fn iter(&self) -> std::slice::Iter<'_, Vec<Record>> {
        self.groups.iter()
    }

    /// The groups as vectors.
    pub fn into_vec(self) -> Vec<Vec<Record>> {
        self.groups
    }

    /// Every pair of records that share a group, each pair `(a, b)` with `a < b`, sorted
    /// (the reference's `pairs_from_groups`).
    pub fn pairs(&self) -> Vec<(Record, Record)> {
        let mut out = Vec::new();
        for g in &self.groups {
            for (i, &a) in g.iter().enumerate() {
                for &b in &g[i + 1..] {
                    out.push((a, b));
                }
            }
        }
        out.sort_unstable();
        out
    }
}

impl<'a> IntoIterator for &'a Groups {
    type Item = &'a Vec<Record>;
    type IntoIter = std::slice::Iter<'a, Vec<Record>>;
    fn into_iter(self) -> Self::IntoIter {
        self.groups.iter()
    }
}

/// The greedy solver: merge threshold 1, duplicates allowed (the reference's `greedy_solve`).
///
/// # Examples
/// ```
/// use anonlink_core::candidates::CandidatePair;
/// use anonlink_core::solve::{greedy, Record};
///
/// let pair = |score, row0, row1| CandidatePair { score, dataset0: 0, dataset1: 1, row0, row1 };
/// // Row 0 of dataset 0 matches row 0 best; row 1 then cannot take row 0 again.
/// let groups = greedy(&[pair(0.9, 0, 0), pair(0.85, 1, 0), pair(0.8, 1, 1)]);
/// assert_eq!(groups.as_slice(), &[
///     vec![Record::new(0, 0), Record::new(1, 0)],
///     vec![Record::new(0, 1), Record::new(1, 1)],
/// ]);
/// ```
pub fn greedy(pairs: &[CandidatePair]) -> Groups {
    merge::solve(pairs.iter().copied(), 1.0, false)
}

/// [`greedy`] over a stream of pairs in canonical order (the first error ends it).
///
/// # Errors
/// The stream's first error.
pub fn greedy_stream(pairs: impl Iterator<Item = Result<CandidatePair>>) -> Result<Groups> {
    walk(pairs, |pairs| merge::solve(pairs, 1.0, false))
}

/// [`probabilistic`] over a stream of pairs in canonical order.
///
/// # Errors
/// [`Error::MergeThreshold`], or the stream's first error.
pub fn probabilistic_stream(
    pairs: impl Iterator<Item = Result<CandidatePair>>,
    merge_threshold: f64,
    deduplicated: bool,
) -> Result<Groups> {
    check_merge_threshold(merge_threshold)?;
    walk(pairs, |pairs| {
        merge::solve(pairs, merge_threshold, deduplicated)
    })
}

/// The greedy 1-to-1 matching of two datasets of `sizes` records, from a stream of pairs in
/// canonical order: a pair is matched when neither record is. This is exactly what
/// [`greedy`] gives for two datasets (merge threshold 1 never merges two matched pairs, and
/// a record left alone joins the next free one), with one bit of state per record, so any
/// number of candidates streams through it.
///
/// # Errors
/// The stream's first error, or [`Error::RecordOutOfRange`] for a pair outside `sizes`.
pub fn greedy_matching(
    pairs: impl Iterator<Item = Result<CandidatePair>>,
    sizes: [usize; 2],
) -> Result<Groups> {
    let mut matched = [vec![false; sizes[0]], vec![false; sizes[1]]];
    let mut groups = Vec::new();
    for pair in pairs {
        let p = pair?;
        let (d0, d1) = (p.dataset0 as usize, p.dataset1 as usize);
        let (r0, r1) = (p.row0 as usize, p.row1 as usize);
        let in_range = d0 < 2 && d1 < 2 && d0 != d1 && r0 < sizes[d0] && r1 < sizes[d1];
        if !in_range {
            // Name the record that does not fit.
            let first_fits = d0 < 2 && r0 < sizes[d0];
            let (dataset, row) = if first_fits {
                (p.dataset1, p.row1)
            } else {
                (p.dataset0, p.row0)
            };
            return Err(Error::RecordOutOfRange {
                dataset,
                row,
                sizes: sizes.to_vec(),
            });
        }
        if !matched[d0][r0] && !matched[d1][r1] {
            matched[d0][r0] = true;
            matched[d1][r1] = true;
            groups.push(vec![
                Record::new(p.dataset0, p.row0),
                Record::new(p.dataset1, p.row1),
            ]);
        }
    }
    Ok(Groups::from_unsorted(groups))
}

/// Runs `solve` over the pairs of `pairs` until its first error, which is returned instead.
fn walk(
    mut pairs: impl Iterator<Item = Result<CandidatePair>>,
    solve: impl FnOnce(&mut dyn Iterator<Item = CandidatePair>) -> Groups,
) -> Result<Groups> {
    let mut failed = None;
    let mut owned = std::iter::from_fn(|| match pairs.next()? {
        Ok(p) => Some(p),
        Err(e) => {
            failed = Some(e);
            None
        }
    });
    let groups = solve(&mut owned);
    match failed {
        Some(e) => Err(e),
        None => Ok(groups),
    }
}

pub(crate) fn check_merge_threshold(merge_threshold: f64) -> Result<()> {
    if !(merge_threshold > 0.0 && merge_threshold <= 1.0) {
        return Err(Error::MergeThreshold {
            value: merge_threshold,
        });
    }
    Ok(())
}

/// The probabilistic greedy solver (the reference's `probabilistic_greedy_solve`).
///
/// # Errors
/// [`Error::MergeThreshold`] when `merge_threshold` is not in `(0, 1]`.
pub fn probabilistic(
    pairs: &[CandidatePair],
    merge_threshold: f64,
    deduplicated: bool,
) -> Result<Groups> {
    check_merge_threshold(merge_threshold)?;
    Ok(merge::solve(
        pairs.iter().copied(),
        merge_threshold,
        deduplicated,
    ))
}

#[cfg(test)]
mod stream_tests {
    use super::*;
    use crate::candidates::CandidatePairs;
    use proptest::prelude::*;

    /// Distinct pairs between `datasets` datasets of 30 rows, scores from a few values (so
    /// there are ties), in canonical order.
    fn pairs(datasets: u32) -> impl Strategy<Value = Vec<CandidatePair>> {
        proptest::collection::vec(
            (0..datasets, 0..datasets, 0u32..30, 0u32..30, 0u32..6),
            0..200,
        )
        .prop_map(|raw| {
            let mut pairs: Vec<CandidatePair> = raw
                .into_iter()
                .filter(|(a, b, ..)| a != b)
                .map(|(a, b, r0, r1, s)| CandidatePair {
                    score: 0.7 + f64::from(s) * 0.05,
                    dataset0: a.min(b),
                    dataset1: a.max(b),
                    row0: if a < b { r0 } else { r1 },
                    row1: if a < b { r1 } else { r0 },
                })
                .collect();
            pairs.sort_by_key(|p| (p.dataset0, p.dataset1, p.row0, p.row1));
            pairs.dedup_by_key(|p| (p.dataset0, p.dataset1, p.row0, p.row1));
            CandidatePairs::from_unsorted(pairs).into_vec()
        })
    }

    proptest! {
        #[test]
        fn streamed_solvers_equal_the_solvers_on_a_vector(two in pairs(2), many in pairs(4)) {
            fn stream(p: &[CandidatePair]) -> impl Iterator<Item = Result<CandidatePair>> + '_ {
                p.iter().copied().map(Ok)
            }
            prop_assert_eq!(greedy_matching(stream(&two), [30, 30]).unwrap(), greedy(&two));
            prop_assert_eq!(greedy_stream(stream(&two)).unwrap(), greedy(&two));
            prop_assert_eq!(greedy_stream(stream(&many)).unwrap(), greedy(&many));
            for (m, d) in [(1.0, false), (0.5, true), (0.1, false)] {
                prop_assert_eq!(
                    probabilistic_stream(stream(&many), m, d).unwrap(),
                    probabilistic(&many, m, d).unwrap()
                );
            }
        }
    }

    #[test]
    fn a_stream_error_is_returned() {
        let pairs = vec![
            Ok(CandidatePair {
                score: 0.9,
                dataset0: 0,
                dataset1: 1,
                row0: 0,
                row1: 0,
            }),
            Err(Error::Cancelled),
        ];
        assert!(matches!(
            greedy_stream(pairs.into_iter()),
            Err(Error::Cancelled)
        ));
        let outside = CandidatePair {
            score: 0.9,
            dataset0: 0,
            dataset1: 1,
            row0: 0,
            row1: 9,
        };
        assert!(matches!(
            greedy_matching(std::iter::once(Ok(outside)), [1, 2]),
            Err(Error::RecordOutOfRange {
                dataset: 1,
                row: 9,
                ..
            })
        ));
    }
}
