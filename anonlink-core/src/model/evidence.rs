//! What the model is fitted on, gathered in one pass over candidates in canonical order:
//! each record's two best scores with every other dataset, and the greedy 1-to-1 links of
//! every dataset pair. Memory is a few words per record, whatever the number of pairs.

use rustc_hash::{FxHashMap, FxHashSet};

use crate::candidates::CandidatePair;
use crate::error::Result;

/// A record's best two candidates with one other dataset: `(score, partner row)`, best
/// first (the canonical order breaks ties).
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct TopTwo {
    best: Option<(f64, u32)>,
    second: Option<(f64, u32)>,
}

impl TopTwo {
    fn offer(&mut self, score: f64, partner: u32) {
        if self.best.is_none() {
            self.best = Some((score, partner));
        } else if self.second.is_none() {
            self.second = Some((score, partner));
        }
    }

    /// The best score this record has with anyone but `partner`, or `floor` when it has no
    /// other candidate (its other scores are below the floor).
    fn competitor(&self, partner: u32, floor: f64) -> f64 {
        match (self.best, self.second) {
            (Some((_, p)), second) if p == partner => second.map_or(floor, |(s, _)| s),
            (Some((s, _)), _) => s,
            (None, _) => floor,
        }
    }
}

/// How a link's excess over its records' best alternatives is measured.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Excess {
    /// Score minus the alternatives' score.
    Plain,
    /// The same over `sqrt(1 - alternatives' score)`: near 1 the scores of unrelated
    /// records thin out (a Dice score's spread shrinks like a binomial share's,
    /// `sqrt(s(1 - s))`), so an equal margin says more there. Without it a perfect match
    /// whose record has a near twin (a competitor at 0.95) looks no better than a
    /// middling non-match.
    Headroom,
}

/// Key of a record's view of one other dataset: `(dataset, row, other dataset)`.
type Side = (u32, u32, u32);

/// Each record's best two scores per other dataset, and the greedy links.
#[derive(Debug, Clone, Default)]
pub(crate) struct Evidence {
    tops: FxHashMap<Side, TopTwo>,
    /// Greedy 1-to-1 links of each dataset pair, in canonical order.
    pub(crate) links: Vec<CandidatePair>,
    /// The lowest score a pair could have had to be seen.
    pub(crate) floor: f64,
}

impl Evidence {
    /// Gathers the evidence from candidates in canonical order, found at `floor`.
    pub(crate) fn gather(
        pairs: impl Iterator<Item = Result<CandidatePair>>,
        floor: f64,
    ) -> Result<Evidence> {
        let mut tops: FxHashMap<Side, TopTwo> = FxHashMap::default();
        let mut matched: FxHashSet<Side> = FxHashSet::default();
        let mut links = Vec::new();
        for pair in pairs {
            let p = pair?;
            let a = (p.dataset0, p.row0, p.dataset1);
            let b = (p.dataset1, p.row1, p.dataset0);
            tops.entry(a).or_default().offer(p.score, p.row1);
            tops.entry(b).or_default().offer(p.score, p.row0);
            if !matched.contains(&a) && !matched.contains(&b) {
                matched.insert(a);
                matched.insert(b);
                links.push(p);
            }
        }
        Ok(Evidence { tops, links, floor })
    }

    /// How far a pair's score stands above the best alternatives of its two records (the
    /// mean of each record's best score with anyone else in the other dataset).
    ///
    /// A match usually stands out from its records' other candidates; a link between two
    /// records without a match is just the best of many non-match scores, about as high as
    /// the next best.
    pub(crate) fn excess(&self, p: &CandidatePair, kind: Excess) -> f64 {
        let side = |d, r, other, partner| {
            self.tops
                .get(&(d, r, other))
                .map_or(self.floor, |t| t.competitor(partner, self.floor))
        };
        let c0 = side(p.dataset0, p.row0, p.dataset1, p.row1);
        let c1 = side(p.dataset1, p.row1, p.dataset0, p.row0);
        let competitor = (c0 + c1) / 2.0;
        match kind {
            Excess::Plain => p.score - competitor,
            Excess::Headroom => (p.score - competitor) / (1.0 - competitor).max(1e-4).sqrt(),
        }
    }
}
