//! The Bayes solver: keeps the links the score model ([`crate::model::ScoreModel`]) finds
//! more likely than not to be matches, and joins them into groups with at most one record
//! per dataset.
//!
//! Links are taken most probable first (then in canonical order); a link joins the groups
//! of its two records unless they already hold a record of the same dataset. With two
//! datasets the result is the 1-to-1 matching of the probable links. Where greedy and
//! probabilistic follow the order of the scores only, this solver uses how far each
//! score stands out from its records' alternatives, which tells a weak match from a
//! strong non-match at the same score.

use rustc_hash::FxHashMap;

use super::{Groups, Record};
use crate::candidates::CandidatePair;

/// Links with a match probability above this are kept: the choice that maximises the
/// expected number of right decisions.
pub const ACCEPT_PROBABILITY: f64 = 0.5;

/// Solves with match probabilities: the groups of the `links` (pairs in canonical order,
/// each with its probability, as [`crate::model::ScoreModel::scored_links`] gives them)
/// that are probable and score at least `min_score`, at most one record per dataset in a
/// group.
///
/// # Examples
/// ```
/// use anonlink_core::candidates::Config;
/// use anonlink_core::model;
/// use anonlink_core::solve::bayes;
/// use anonlink_core::synthetic::synthetic_datasets;
///
/// let sets = synthetic_datasets(&[1_500, 1_500, 1_500], 0.6, 5);
/// let refs: Vec<_> = sets.iter().collect();
/// let (model, _pairs) = model::estimate(&refs, &Config::new(0.0), None)?;
/// let groups = bayes(&model.scored_links(), model.floor());
/// for g in groups.iter() {
///     let mut datasets: Vec<u32> = g.iter().map(|r| r.dataset).collect();
///     datasets.dedup();
///     assert_eq!(datasets.len(), g.len(), "one record per dataset");
/// }
/// # Ok::<(), anonlink_core::Error>(())
/// ```
pub fn bayes(links: &[(CandidatePair, f64)], min_score: f64) -> Groups {
    let mut order: Vec<usize> = (0..links.len())
        .filter(|&i| {
            let (pair, probability) = links[i];
            probability > ACCEPT_PROBABILITY && pair.score >= min_score
        })
        .collect();
    // Stable: equal probabilities keep the canonical order of the links.
    order.sort_by(|&a, &b| links[b].1.total_cmp(&links[a].1));
    let mut group_of: FxHashMap<Record, usize> = FxHashMap::default();
    let mut groups: Vec<Vec<Record>> = Vec::new();
    for i in order {
        let p = links[i].0;
        let a = Record::new(p.dataset0, p.row0);
        let b = Record::new(p.dataset1, p.row1);
        match (group_of.get(&a).copied(), group_of.get(&b).copied()) {
            (None, None) => {
                group_of.insert(a, groups.len());
                group_of.insert(b, groups.len());
                groups.push(vec![a, b]);
            }
            (Some(g), None) => join(&mut groups, &mut group_of, g, b),
            (None, Some(g)) => join(&mut groups, &mut group_of, g, a),
            (Some(ga), Some(gb)) if ga != gb => {
                let disjoint = groups[ga]
                    .iter()
                    .all(|x| groups[gb].iter().all(|y| x.dataset != y.dataset));
                if disjoint {
                    let (keep, gone) = if groups[ga].len() >= groups[gb].len() {
                        (ga, gb)
                    } else {
                        (gb, ga)
                    };
                    let moved = std::mem::take(&mut groups[gone]);
                    for r in &moved {
                        group_of.insert(*r, keep);
                    }
                    groups[keep].extend(moved);
                }
            }
            _ => {}
        }
    }
    Groups::from_unsorted(groups.into_iter().filter(|g| g.len() > 1).collect())
}

/// Adds `record` to group `g` unless the group has a record of its dataset.
fn join(
    groups: &mut [Vec<Record>],
    group_of: &mut FxHashMap<Record, usize>,
    g: usize,
    record: Record,
) {
    if groups[g].iter().all(|x| x.dataset != record.dataset) {
        group_of.insert(record, g);
        groups[g].push(record);
    }
}
