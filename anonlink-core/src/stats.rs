//! Statistics on two-party candidate pairs, to choose a threshold (the reference's
//! `anonlink.stats`). Both walk the candidates in the given order with the 2-party greedy
//! rule: a pair is a *possible match* when neither record was matched by an earlier pair,
//! otherwise a *definite non-match*.

use crate::candidates::CandidatePair;
use crate::error::{Error, Result};

/// For each pair, in order: whether it is a possible match.
///
/// # Errors
/// [`Error::NotTwoParty`] when a pair is not between datasets 0 and 1.
pub fn possible_matches(pairs: &[CandidatePair]) -> Result<Vec<bool>> {
    let mut matched0 = rustc_hash::FxHashSet::default();
    let mut matched1 = rustc_hash::FxHashSet::default();
    pairs
        .iter()
        .map(|p| {
            if (p.dataset0, p.dataset1) != (0, 1) {
                return Err(Error::NotTwoParty {
                    what: "match statistics",
                    got: p.dataset0.max(p.dataset1) as usize + 1,
                });
            }
            let fresh = !matched0.contains(&p.row0) && !matched1.contains(&p.row1);
            if fresh {
                matched0.insert(p.row0);
                matched1.insert(p.row1);
            }
            Ok(fresh)
        })
        .collect()
}

/// Counts possible matches and non-matches per threshold bin, walking the pairs (in
/// descending score order) down the ascending `thresholds` as the reference's
/// `_semiopen_hist_matches_nonmatches` does: a pair falls in the highest bin whose
/// threshold it reaches; pairs below the lowest threshold end the walk.
///
/// # Errors
/// As [`possible_matches`].
pub fn semiopen_histogram(
    pairs: &[CandidatePair],
    thresholds: &[f64],
) -> Result<(Vec<u64>, Vec<u64>)> {
    let flags = possible_matches(pairs)?;
    let mut matches = vec![0u64; thresholds.len()];
    let mut nonmatches = vec![0u64; thresholds.len()];
    let Some(mut i) = thresholds.len().checked_sub(1) else {
        return Ok((matches, nonmatches));
    };
    for (p, fresh) in pairs.iter().zip(flags) {
        while p.score < thresholds[i] {
            match i.checked_sub(1) {
                Some(lower) => i = lower,
                None => return Ok((matches, nonmatches)),
            }
        }
        if fresh {
            matches[i] += 1;
        } else {
            nonmatches[i] += 1;
        }
    }
    Ok((matches, nonmatches))
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::testing::pair;

    #[test]
    fn greedy_walk_and_bins() {
        let pairs = [
            pair(0.9, 0, 0),
            pair(0.8, 0, 1),
            pair(0.7, 1, 1),
            pair(0.6, 2, 0),
        ];
        assert_eq!(
            possible_matches(&pairs).unwrap(),
            vec![true, false, true, false]
        );
        let (m, n) = semiopen_histogram(&pairs, &[0.65, 0.75, 0.85]).unwrap();
        assert_eq!((m, n), (vec![1, 0, 1], vec![0, 1, 0]));
        let bad = [CandidatePair {
            dataset1: 2,
            ..pair(0.9, 0, 0)
        }];
        assert!(possible_matches(&bad).is_err());
    }
}

/// Pairwise accuracy of a linkage against the truth.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct Accuracy {
    /// Record pairs the linkage put in one group.
    pub predicted_pairs: u64,
    /// Record pairs of different datasets that are one entity.
    pub true_pairs: u64,
    /// Predicted pairs that are true.
    pub correct_pairs: u64,
    /// `correct / predicted` (1 when nothing is predicted).
    pub precision: f64,
    /// `correct / true` (1 when nothing is true).
    pub recall: f64,
    /// The harmonic mean of precision and recall.
    pub f1: f64,
}

/// The pairwise precision, recall and F1 of `groups` against `entities`, the entity of
/// every record (`entities[dataset][row]`): a pair of records in one group is right when
/// they are one entity; the true pairs are all pairs of records of different datasets that
/// are one entity.
///
/// # Errors
/// [`Error::RecordOutOfRange`] for a group member outside `entities`.
///
/// # Examples
/// ```
/// use anonlink_core::solve::{Groups, Record};
/// use anonlink_core::stats::pairwise_accuracy;
///
/// let groups = Groups::from_unsorted(vec![vec![Record::new(0, 0), Record::new(1, 1)]]);
/// let entities = vec![vec![7, 8], vec![9, 7]];
/// let a = pairwise_accuracy(&groups, &entities)?;
/// assert_eq!((a.precision, a.recall, a.f1), (1.0, 1.0, 1.0));
/// # Ok::<(), anonlink_core::Error>(())
/// ```
pub fn pairwise_accuracy(groups: &crate::solve::Groups, entities: &[Vec<u64>]) -> Result<Accuracy> {
    let entity = |r: &crate::solve::Record| {
        entities
            .get(r.dataset as usize)
            .and_then(|rows| rows.get(r.row as usize))
            .copied()
            .ok_or(Error::RecordOutOfRange {
                dataset: r.dataset,
                row: r.row,
                sizes: entities.iter().map(Vec::len).collect(),
            })
    };
    let (mut predicted, mut correct) = (0u64, 0u64);
    for g in groups.iter() {
        let ids = g.iter().map(entity).collect::<Result<Vec<u64>>>()?;
        for i in 0..ids.len() {
            for j in i + 1..ids.len() {
                predicted += 1;
                correct += u64::from(ids[i] == ids[j]);
            }
        }
    }
    // True pairs: per entity, pairs of its records in different datasets.
    let mut per_entity: rustc_hash::FxHashMap<u64, Vec<u64>> = rustc_hash::FxHashMap::default();
    for (d, rows) in entities.iter().enumerate() {
        for &e in rows {
            let counts = per_entity
                .entry(e)
                .or_insert_with(|| vec![0; entities.len()]);
            counts[d] += 1;
        }
    }
    let true_pairs: u64 = per_entity
        .values()
        .map(|c| {
            let all: u64 = c.iter().sum();
            (all * all.saturating_sub(1) - c.iter().map(|x| x * x.saturating_sub(1)).sum::<u64>())
                / 2
        })
        .sum();
    let precision = if predicted == 0 {
        1.0
    } else {
        correct as f64 / predicted as f64
    };
    let recall = if true_pairs == 0 {
        1.0
    } else {
        correct as f64 / true_pairs as f64
    };
    let f1 = if predicted + true_pairs == 0 {
        1.0
    } else {
        2.0 * correct as f64 / (predicted + true_pairs) as f64
    };
    Ok(Accuracy {
        predicted_pairs: predicted,
        true_pairs,
        correct_pairs: correct,
        precision,
        recall,
        f1,
    })
}
