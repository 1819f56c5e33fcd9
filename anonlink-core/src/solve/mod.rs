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
//! Output is canonical: members sorted by `(dataset, row)`, groups sorted, so results are
//! deterministic (the reference's own group order is not).

mod merge;

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
    merge::solve(pairs, 1.0, false)
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
    if !(merge_threshold > 0.0 && merge_threshold <= 1.0) {
        return Err(Error::MergeThreshold {
            value: merge_threshold,
        });
    }
    Ok(merge::solve(pairs, merge_threshold, deduplicated))
}
