//! The group-merging walk shared by both solvers.
//!
//! Mirrors the reference's native solver case by case, including what it does not do:
//! when `deduplicated` forbids a merge, the edge count between the two groups is still kept
//! (two grouped records), and no singleton is made (one grouped record that could join).

use rustc_hash::FxHashMap;

use super::{Groups, Record};
use crate::candidates::CandidatePair;

type GroupId = u32;

struct State {
    merge_threshold: f64,
    deduplicated: bool,
    group_of: FxHashMap<Record, GroupId>,
    /// Members by group id; a group absorbed into another is left empty.
    members: Vec<Vec<Record>>,
    /// Number of candidate edges seen between two groups, kept symmetric.
    edges: Vec<FxHashMap<GroupId, u32>>,
}

pub(super) fn solve(
    pairs: impl IntoIterator<Item = CandidatePair>,
    merge_threshold: f64,
    deduplicated: bool,
) -> Groups {
    let mut state = State {
        merge_threshold,
        deduplicated,
        group_of: FxHashMap::default(),
        members: Vec::new(),
        edges: Vec::new(),
    };
    for p in pairs {
        let r0 = Record::new(p.dataset0, p.row0);
        let r1 = Record::new(p.dataset1, p.row1);
        if r0 == r1 {
            continue;
        }
        match (
            state.group_of.get(&r0).copied(),
            state.group_of.get(&r1).copied(),
        ) {
            (Some(g0), Some(g1)) => state.two_grouped(g0, g1),
            (Some(g0), None) => state.one_grouped(g0, r1),
            (None, Some(g1)) => state.one_grouped(g1, r0),
            (None, None) => state.none_grouped(r0, r1),
        }
    }
    Groups::from_unsorted(state.members.into_iter().filter(|m| m.len() > 1).collect())
}

impl State {
    fn new_group(&mut self, records: Vec<Record>) -> GroupId {
        let id = self.members.len() as GroupId;
        for &r in &records {
            self.group_of.insert(r, id);
        }
        self.members.push(records);
        self.edges.push(FxHashMap::default());
        id
    }

    fn none_grouped(&mut self, r0: Record, r1: Record) {
        // Two records of one dataset can never share a group when deduplicated, so there is
        // no point remembering them.
        if !self.deduplicated || r0.dataset != r1.dataset {
            self.new_group(vec![r0, r1]);
        }
    }

    fn one_grouped(&mut self, group: GroupId, record: Record) {
        let size = self.members[group as usize].len();
        if 1.0 >= self.merge_threshold * size as f64 {
            if !self.deduplicated
                || self.members[group as usize]
                    .iter()
                    .all(|m| m.dataset != record.dataset)
            {
                self.group_of.insert(record, group);
                self.members[group as usize].push(record);
            }
        } else {
            // The record has one edge into a bigger group: not enough to join it yet.
            let single = self.new_group(vec![record]);
            self.add_edge(group, single);
        }
    }

    fn two_grouped(&mut self, g0: GroupId, g1: GroupId) {
        if g0 == g1 {
            return;
        }
        let overlap = f64::from(self.add_edge(g0, g1));
        let s0 = self.members[g0 as usize].len();
        let s1 = self.members[g1 as usize].len();
        // Same expression and evaluation order as the reference: (m · s0) · s1 in f64.
        if overlap >= self.merge_threshold * s0 as f64 * s1 as f64
            && (!self.deduplicated || self.disjoint_datasets(g0, g1))
        {
            if s0 < s1 {
                self.absorb(g1, g0);
            } else {
                self.absorb(g0, g1);
            }
        }
    }

    fn disjoint_datasets(&self, g0: GroupId, g1: GroupId) -> bool {
        let a = &self.members[g0 as usize];
        let b = &self.members[g1 as usize];
        a.iter().all(|x| b.iter().all(|y| x.dataset != y.dataset))
    }

    fn add_edge(&mut self, g0: GroupId, g1: GroupId) -> u32 {
        *self.edges[g1 as usize].entry(g0).or_insert(0) += 1;
        let count = self.edges[g0 as usize].entry(g1).or_insert(0);
        *count += 1;
        *count
    }

    fn absorb(&mut self, absorber: GroupId, absorbee: GroupId) {
        let moved = std::mem::take(&mut self.members[absorbee as usize]);
        for &r in &moved {
            self.group_of.insert(r, absorber);
        }
        self.members[absorber as usize].extend(moved);

        self.edges[absorber as usize].remove(&absorbee);
        let absorbee_edges = std::mem::take(&mut self.edges[absorbee as usize]);
        for (other, count) in absorbee_edges {
            if other == absorber {
                continue;
            }
            *self.edges[absorber as usize].entry(other).or_insert(0) += count;
            let other_edges = &mut self.edges[other as usize];
            other_edges.remove(&absorbee);
            *other_edges.entry(absorber).or_insert(0) += count;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pair(score: f64, d0: u32, r0: u32, d1: u32, r1: u32) -> CandidatePair {
        CandidatePair {
            score,
            dataset0: d0,
            dataset1: d1,
            row0: r0,
            row1: r1,
        }
    }

    fn recs(list: &[(u32, u32)]) -> Vec<Record> {
        list.iter().map(|&(d, r)| Record::new(d, r)).collect()
    }

    #[test]
    fn greedy_merges_only_fully_connected_groups() {
        // Triangle 0-1-2 fully seen: one group of three.
        let pairs = [
            pair(0.9, 0, 0, 1, 0),
            pair(0.9, 0, 0, 2, 0),
            pair(0.8, 1, 0, 2, 0),
        ];
        let g = solve(pairs.iter().copied(), 1.0, false);
        assert_eq!(g.as_slice(), &[recs(&[(0, 0), (1, 0), (2, 0)])]);
        // Missing edge 1-2: (2,0) stays apart.
        let g = solve(pairs[..2].iter().copied(), 1.0, false);
        assert_eq!(g.as_slice(), &[recs(&[(0, 0), (1, 0)])]);
    }

    #[test]
    fn probabilistic_merges_with_partial_evidence() {
        // {A0, B0} and {C0, D0}; edges A-C, A-D, B-C seen: 3 of 4 cross pairs.
        let pairs = [
            pair(0.99, 0, 0, 1, 0),
            pair(0.98, 2, 0, 3, 0),
            pair(0.9, 0, 0, 2, 0),
            pair(0.9, 0, 0, 3, 0),
            pair(0.9, 1, 0, 2, 0),
        ];
        let g = solve(pairs.iter().copied(), 0.75, true);
        assert_eq!(g.as_slice(), &[recs(&[(0, 0), (1, 0), (2, 0), (3, 0)])]);
        let g = solve(pairs.iter().copied(), 0.8, true);
        assert_eq!(g.len(), 2);
    }

    #[test]
    fn deduplicated_keeps_one_record_per_dataset() {
        let pairs = [
            pair(0.9, 0, 0, 1, 0),
            pair(0.8, 0, 1, 1, 0),
            pair(0.7, 0, 0, 0, 1),
        ];
        let g = solve(pairs.iter().copied(), 0.5, true);
        assert_eq!(g.as_slice(), &[recs(&[(0, 0), (1, 0)])]);
        let g = solve(pairs.iter().copied(), 0.5, false);
        assert_eq!(g.as_slice(), &[recs(&[(0, 0), (0, 1), (1, 0)])]);
    }
}
