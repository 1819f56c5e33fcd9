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
