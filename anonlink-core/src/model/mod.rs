//! A model of the scores: which candidate pairs are matches, told from the scores alone,
//! without a guessed threshold and without the truth.
//!
//! 1. Candidates are found above a low floor ([`crate::candidates::model_floor`]: nearly
//!    every record keeps a few candidates, and the memory stays bounded).
//! 2. [`ScoreModel::fit`] walks them once, keeping each record's two best scores with every
//!    other dataset and the greedy 1-to-1 links of every dataset pair. A link's *excess* is
//!    how far its score stands above the best alternatives of its two records, over the
//!    headroom above them ([`Excess`]): non-match links (the best of many non-match
//!    scores) barely stand out, matches do, whatever their score.
//! 3. Per dataset pair, the excesses are split into non-matches (normal around zero, with
//!    the spread of the links that fall below their competitors) and matches (the rest,
//!    with no shape assumed): every link gets a match probability.
//! 4. From the probabilities: the estimated matches, precision, recall and F1 of the links
//!    above every threshold ([`ScoreModel::curve`]), the threshold with the best estimated
//!    F1 ([`ScoreModel::suggested`]), how sure the model is ([`ScoreModel::confidence`]),
//!    and the input of the Bayes solver ([`crate::solve::bayes`]).
//! 5. For three or more datasets, the share of true matching pairs the links show
//!    ([`ScoreModel::seen_share`]: how often a record's two match links close a triangle),
//!    so that a result's estimated recall counts the matches no link shows.
//!
//! Everything is deterministic: the same candidates give the same model.
//!
//! # Examples
//! ```
//! use anonlink_core::candidates::Config;
//! use anonlink_core::model;
//! use anonlink_core::synthetic::synthetic_pair;
//!
//! let (a, b) = synthetic_pair(2_000, 2_000, 0.5, 7);
//! let (model, pairs) = model::estimate(&[&a, &b], &Config::new(0.0), None)?;
//! // Half of each side is planted in the other: up to 1000 matches.
//! let matches = model.estimated_matches();
//! assert!(matches > 700.0 && matches < 1100.0, "{matches}");
//! let best = model.suggested();
//! assert!(best.threshold >= model.floor() && best.f1 > 0.8, "{best:?}");
//! # Ok::<(), anonlink_core::Error>(())
//! ```

mod evidence;
mod fit;

pub use self::evidence::Excess;
pub use self::fit::ExcessFit;

use rustc_hash::FxHashMap;

use self::evidence::Evidence;
use crate::candidates::{self, CandidatePair, CandidatePairs, Config};
use crate::encoding::Clks;
use crate::error::{Error, Result};
use crate::solve::{Groups, Record};

/// Candidates per record a model search finds at most, on average (see
/// [`crate::candidates::model_floor`]): a bound on its memory.
pub const CANDIDATES_PER_RECORD: f64 = 64.0;

/// Dataset pairs with fewer links than this share the fit of all links.
const MIN_PAIR_LINKS: usize = 50;

/// Fewer links than this in all cannot be modelled.
const MIN_LINKS: usize = 20;

/// Links in doubt (a match probability between 0.2 and 0.8) up to this share: high
/// confidence.
const HIGH_CONFIDENCE_DOUBT: f64 = 0.05;

/// Links in doubt beyond this share: low confidence.
const LOW_CONFIDENCE_DOUBT: f64 = 0.15;

/// Share of `probabilities` in doubt (between 0.2 and 0.8).
fn doubt(probabilities: impl ExactSizeIterator<Item = f64>) -> f64 {
    let n = probabilities.len().max(1) as f64;
    probabilities.filter(|&p| p > 0.2 && p < 0.8).count() as f64 / n
}

/// A link (a pair of the greedy 1-to-1 matching of its dataset pair) with what the model
/// says about it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Link {
    /// The candidate pair.
    pub pair: CandidatePair,
    /// How far its score stands above its records' best alternatives, measured as its
    /// dataset pair's fit measures it ([`PairFit::excess`]).
    pub excess: f64,
    /// The probability that it is a match.
    pub probability: f64,
}

/// What the model says about one dataset pair.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct PairFit {
    /// The two datasets.
    pub datasets: [u32; 2],
    /// Its links.
    pub links: usize,
    /// Estimated matches among them.
    pub estimated_matches: f64,
    /// Whether it has a fit of its own (otherwise it shares the fit of all links).
    pub own_fit: bool,
    /// How its links' excess is measured: over the headroom unless that leaves the links
    /// in low-confidence doubt where the plain excess does not.
    pub excess: Excess,
    /// The fit used.
    pub fit: ExcessFit,
}

/// A fit of some links, with the measure of excess it used.
#[derive(Debug, Clone)]
struct ChosenFit {
    excess: Excess,
    fit: ExcessFit,
}

impl ChosenFit {
    /// Fits the links `members` (indices into the excess vectors) both ways and keeps the
    /// headroom fit unless it leaves more than [`LOW_CONFIDENCE_DOUBT`] of them in doubt
    /// and the plain fit leaves fewer.
    fn choose(members: &[usize], plain: &[f64], headroom: &[f64]) -> ChosenFit {
        let fit_with = |values: &[f64]| {
            let x: Vec<f64> = members.iter().map(|&i| values[i]).collect();
            let fit = ExcessFit::fit(&x);
            let doubt = doubt(x.iter().map(|&v| fit.probability_at(v)));
            (fit, doubt)
        };
        let (h_fit, h_doubt) = fit_with(headroom);
        if h_doubt <= LOW_CONFIDENCE_DOUBT {
            return ChosenFit {
                excess: Excess::Headroom,
                fit: h_fit,
            };
        }
        let (p_fit, p_doubt) = fit_with(plain);
        if p_doubt < h_doubt {
            ChosenFit {
                excess: Excess::Plain,
                fit: p_fit,
            }
        } else {
            ChosenFit {
                excess: Excess::Headroom,
                fit: h_fit,
            }
        }
    }

    fn values<'a>(&self, plain: &'a [f64], headroom: &'a [f64]) -> &'a [f64] {
        match self.excess {
            Excess::Plain => plain,
            Excess::Headroom => headroom,
        }
    }
}

/// Estimated quality of the links at or above a threshold.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct QualityPoint {
    /// The threshold.
    pub threshold: f64,
    /// Links at or above it.
    pub links: u64,
    /// Estimated matches among them.
    pub matches: f64,
    /// Estimated precision (1 when there are no links).
    pub precision: f64,
    /// Estimated recall of the matches the model sees.
    pub recall: f64,
    /// Estimated F1.
    pub f1: f64,
}

/// How much the model can be trusted.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ConfidenceLevel {
    /// Few links are in doubt.
    High,
    /// Some links are in doubt: estimates are rough.
    Medium,
    /// The scores do not tell matches from non-matches well.
    Low,
}

/// The model's confidence, with the figure it rests on and a plain sentence.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Confidence {
    /// The level.
    pub level: ConfidenceLevel,
    /// Share of links with a match probability between 0.2 and 0.8.
    pub ambiguous_share: f64,
    /// What it means.
    pub note: String,
}

/// Estimated precision, recall and F1 of a solver's result (pairs of records in one group,
/// against the matches the model sees).
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct ResultQuality {
    /// Record pairs in the result.
    pub pairs: u64,
    /// Estimated precision.
    pub precision: f64,
    /// Estimated recall.
    pub recall: f64,
    /// Estimated F1.
    pub f1: f64,
}

/// The fitted model of a linkage's scores.
#[derive(Debug, Clone)]
pub struct ScoreModel {
    floor: f64,
    sizes: Vec<usize>,
    pairs: Vec<PairFit>,
    links: Vec<Link>,
    evidence: Evidence,
}

impl ScoreModel {
    /// Fits the model to candidates in canonical order found at `floor` over datasets of
    /// `sizes` records.
    ///
    /// # Errors
    /// [`Error::TooFewDatasets`] for fewer than two datasets; [`Error::Estimation`] when
    /// there are too few links or their scores cannot tell anything apart.
    pub fn fit(pairs: &CandidatePairs, sizes: &[usize], floor: f64) -> Result<ScoreModel> {
        ScoreModel::fit_stream(pairs.iter().copied().map(Ok), sizes, floor)
    }

    /// [`ScoreModel::fit`] over a stream of candidates in canonical order (one pass; memory
    /// a few words per record).
    ///
    /// # Errors
    /// As [`ScoreModel::fit`], and the stream's first error.
    pub fn fit_stream(
        pairs: impl Iterator<Item = Result<CandidatePair>>,
        sizes: &[usize],
        floor: f64,
    ) -> Result<ScoreModel> {
        if sizes.len() < 2 {
            return Err(Error::TooFewDatasets { got: sizes.len() });
        }
        let evidence = Evidence::gather(pairs, floor)?;
        if evidence.links.len() < MIN_LINKS {
            return Err(Error::Estimation {
                reason: format!(
                    "only {} record pairs above the floor {floor:.3} could be matches: too \
                     few to tell matches from non-matches",
                    evidence.links.len()
                ),
            });
        }
        let plain: Vec<f64> = evidence
            .links
            .iter()
            .map(|p| evidence.excess(p, Excess::Plain))
            .collect();
        let lowest = plain.iter().copied().fold(f64::INFINITY, f64::min);
        let highest = plain.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        if highest - lowest < 1e-9 {
            return Err(Error::Estimation {
                reason: "every record pair scores alike against its records' other \
                         candidates: nothing tells matches from non-matches"
                    .into(),
            });
        }
        let headroom: Vec<f64> = evidence
            .links
            .iter()
            .map(|p| evidence.excess(p, Excess::Headroom))
            .collect();
        // The fit of all links, for dataset pairs with too few of their own: made only if
        // one needs it (with two datasets, the one pair has all the links).
        let mut pooled: Option<ChosenFit> = None;
        let mut by_pair: FxHashMap<(u32, u32), Vec<usize>> = FxHashMap::default();
        for (i, p) in evidence.links.iter().enumerate() {
            by_pair.entry((p.dataset0, p.dataset1)).or_default().push(i);
        }
        let mut keys: Vec<(u32, u32)> = by_pair.keys().copied().collect();
        keys.sort_unstable();
        let mut probability = vec![0.0; plain.len()];
        let mut excess = vec![0.0; plain.len()];
        let mut fits = Vec::with_capacity(keys.len());
        for key in keys {
            let members = &by_pair[&key];
            let own = members.len() >= MIN_PAIR_LINKS;
            let chosen = if own {
                ChosenFit::choose(members, &plain, &headroom)
            } else {
                pooled
                    .get_or_insert_with(|| {
                        let all: Vec<usize> = (0..plain.len()).collect();
                        ChosenFit::choose(&all, &plain, &headroom)
                    })
                    .clone()
            };
            let values = chosen.values(&plain, &headroom);
            let mut matches = 0.0;
            for &i in members {
                excess[i] = values[i];
                probability[i] = chosen.fit.probability_at(values[i]);
                matches += probability[i];
            }
            fits.push(PairFit {
                datasets: [key.0, key.1],
                links: members.len(),
                estimated_matches: matches,
                own_fit: own,
                excess: chosen.excess,
                fit: chosen.fit,
            });
        }
        let links = evidence
            .links
            .iter()
            .zip(excess.iter().zip(&probability))
            .map(|(&pair, (&excess, &probability))| Link {
                pair,
                excess,
                probability,
            })
            .collect();
        Ok(ScoreModel {
            floor,
            sizes: sizes.to_vec(),
            pairs: fits,
            links,
            evidence,
        })
    }

    /// The floor the candidates were found at.
    pub fn floor(&self) -> f64 {
        self.floor
    }

    /// The record counts of the datasets.
    pub fn sizes(&self) -> &[usize] {
        &self.sizes
    }

    /// The links with their probabilities, in canonical order.
    pub fn links(&self) -> &[Link] {
        &self.links
    }

    /// Each link with its match probability, in canonical order: the input of
    /// [`crate::solve::bayes`].
    pub fn scored_links(&self) -> Vec<(CandidatePair, f64)> {
        self.links.iter().map(|l| (l.pair, l.probability)).collect()
    }

    /// The fit of every dataset pair that has links.
    pub fn dataset_pairs(&self) -> &[PairFit] {
        &self.pairs
    }

    /// Estimated matches among the links (the matches the model sees).
    pub fn estimated_matches(&self) -> f64 {
        self.links.iter().map(|l| l.probability).sum()
    }

    /// The share of true matching pairs the links show, judged by how often triangles
    /// close: where record b is linked as a match to a (of one dataset) and to c (of a
    /// third), a and c are one entity's too, and their pair is a link with the chance a
    /// true pair has of being seen. 1 for two datasets, or too few such paths to tell.
    pub fn seen_share(&self) -> f64 {
        if self.sizes.len() < 3 {
            return 1.0;
        }
        // Each record's links, at most one per other dataset (links are 1-to-1 per
        // dataset pair).
        let mut by_record: FxHashMap<Record, Vec<(Record, f64)>> = FxHashMap::default();
        for l in &self.links {
            let a = Record::new(l.pair.dataset0, l.pair.row0);
            let b = Record::new(l.pair.dataset1, l.pair.row1);
            by_record.entry(a).or_default().push((b, l.probability));
            by_record.entry(b).or_default().push((a, l.probability));
        }
        // Summed in record order, so that the same links give the same bits.
        let mut records: Vec<&Record> = by_record.keys().collect();
        records.sort_unstable();
        let (mut paths, mut closed) = (0.0, 0.0);
        for partners in records.iter().map(|r| &by_record[*r]) {
            for (i, &(a, pa)) in partners.iter().enumerate() {
                for &(c, pc) in &partners[i + 1..] {
                    let w = pa * pc;
                    paths += w;
                    if let Some(&(_, p)) = by_record[&a].iter().find(|&&(r, _)| r == c) {
                        closed += w * p;
                    }
                }
            }
        }
        if paths < MIN_LINKS as f64 {
            return 1.0;
        }
        (closed / paths).clamp(0.05, 1.0)
    }

    /// The probability that any candidate pair is a match, judged as a link would be.
    pub fn probability(&self, pair: &CandidatePair) -> f64 {
        let key = [pair.dataset0, pair.dataset1];
        match self.pairs.iter().find(|p| p.datasets == key) {
            Some(p) => p.fit.probability_at(self.evidence.excess(pair, p.excess)),
            None => 0.0,
        }
    }

    /// Estimated quality of the links at or above `threshold`.
    pub fn quality_at(&self, threshold: f64) -> QualityPoint {
        let total = self.estimated_matches();
        let (links, matches) = self
            .links
            .iter()
            .filter(|l| l.pair.score >= threshold)
            .fold((0u64, 0.0), |(n, m), l| (n + 1, m + l.probability));
        point(threshold, links, matches, total)
    }

    /// Estimated quality at every hundredth from the floor up to 1.
    pub fn curve(&self) -> Vec<QualityPoint> {
        let first = (self.floor * 100.0).ceil() as u32;
        (first..=100)
            .map(|t| self.quality_at(f64::from(t) / 100.0))
            .collect()
    }

    /// The threshold whose links have the best estimated F1 (the highest such threshold
    /// when several tie), with its estimate. The greedy solver at this threshold gives
    /// exactly these links for two datasets.
    pub fn suggested(&self) -> QualityPoint {
        let total = self.estimated_matches();
        let mut best = point(1.0, 0, 0.0, total);
        let (mut n, mut m) = (0u64, 0.0);
        for (i, l) in self.links.iter().enumerate() {
            n += 1;
            m += l.probability;
            let last_of_score = self
                .links
                .get(i + 1)
                .is_none_or(|next| next.pair.score < l.pair.score);
            if last_of_score {
                let here = point(l.pair.score, n, m, total);
                if here.f1 > best.f1 {
                    best = here;
                }
            }
        }
        best
    }

    /// How far the model can be trusted, in a figure and a sentence.
    pub fn confidence(&self) -> Confidence {
        let ambiguous = doubt(self.links.iter().map(|l| l.probability));
        let matches = self.estimated_matches();
        let nonmatches = self.links.len() as f64 - matches;
        let (level, note) = if matches < 1.0 {
            (
                ConfidenceLevel::Low,
                "no link stands out from its records' other candidates: the datasets seem \
                 to share no records"
                    .to_string(),
            )
        } else if ambiguous <= HIGH_CONFIDENCE_DOUBT {
            let tail = if nonmatches < 1.0 {
                " (nearly every record has its match: the threshold hardly matters)"
            } else {
                ""
            };
            (
                ConfidenceLevel::High,
                format!(
                    "matches and non-matches are well apart: {:.1}% of links are in doubt{tail}",
                    100.0 * ambiguous
                ),
            )
        } else if ambiguous <= LOW_CONFIDENCE_DOUBT {
            (
                ConfidenceLevel::Medium,
                format!(
                    "{:.1}% of links are in doubt: the estimates are rough",
                    100.0 * ambiguous
                ),
            )
        } else {
            (
                ConfidenceLevel::Low,
                format!(
                    "the scores are not bimodal enough to tell matches from non-matches: \
                     {:.1}% of links are in doubt",
                    100.0 * ambiguous
                ),
            )
        };
        Confidence {
            level,
            ambiguous_share: ambiguous,
            note,
        }
    }

    /// Estimated quality of `groups` made from `pairs` (the candidates the model was
    /// fitted on): every pair of records in a group counts, judged by its own score and by
    /// the records of the group it is linked through, against the matches there are: those
    /// the links show, scaled up by [`ScoreModel::seen_share`] for three or more datasets
    /// (and at least those the groups find).
    pub fn result_quality(&self, groups: &Groups, pairs: &CandidatePairs) -> ResultQuality {
        let mut group_of: FxHashMap<Record, usize> = FxHashMap::default();
        for (g, members) in groups.iter().enumerate() {
            for &r in members {
                group_of.insert(r, g);
            }
        }
        let mut within: FxHashMap<(Record, Record), f64> = FxHashMap::default();
        for p in pairs.iter() {
            let a = Record::new(p.dataset0, p.row0);
            let b = Record::new(p.dataset1, p.row1);
            if let (Some(ga), Some(gb)) = (group_of.get(&a), group_of.get(&b))
                && ga == gb
            {
                within.insert((a, b), self.probability(p));
            }
        }
        let direct = |a: Record, b: Record| {
            let key = if a < b { (a, b) } else { (b, a) };
            within.get(&key).copied().unwrap_or(0.0)
        };
        let (mut count, mut hits, mut gained) = (0u64, 0.0, 0.0);
        for members in groups.iter() {
            for (i, &a) in members.iter().enumerate() {
                for &b in &members[i + 1..] {
                    // Linked through a third record of the group as well as directly.
                    let d = direct(a, b);
                    let mut missed = 1.0 - d;
                    for &c in members.iter().filter(|&&c| c != a && c != b) {
                        missed *= 1.0 - direct(a, c) * direct(c, b);
                    }
                    count += 1;
                    hits += 1.0 - missed;
                    gained += (1.0 - missed) - d;
                }
            }
        }
        let seen = self.estimated_matches();
        let total = (seen / self.seen_share()).max(seen + gained);
        let q = point(0.0, count, hits, total);
        ResultQuality {
            pairs: count,
            precision: q.precision,
            recall: q.recall,
            f1: q.f1,
        }
    }
}

/// Finds the candidates of `datasets` above a floor of about [`CANDIDATES_PER_RECORD`]
/// per record and fits a model to them: what `anonlink estimate` and `--threshold auto`
/// start from. `config` gives the kernel and progress (its threshold and top-k are not
/// used); `blocks`, when given, restrict the search as in a blocked linkage.
///
/// # Errors
/// As [`candidates::floor_for`], [`candidates::find`] and [`ScoreModel::fit`].
pub fn estimate(
    datasets: &[&Clks],
    config: &Config,
    blocks: Option<&[Vec<Vec<u64>>]>,
) -> Result<(ScoreModel, CandidatePairs)> {
    let sizes: Vec<usize> = datasets.iter().map(|d| d.len()).collect();
    let floor = candidates::model_floor(datasets, CANDIDATES_PER_RECORD, config.kernel())?;
    let search = config.clone().with_threshold(floor).without_top_k();
    let pairs = match blocks {
        Some(blocks) => candidates::find_blocked(datasets, blocks, &search)?,
        None => candidates::find(datasets, &search)?,
    };
    let model = ScoreModel::fit(&pairs, &sizes, floor)?;
    Ok((model, pairs))
}

/// A bin of the link scores, split by the model.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct ScoreBin {
    /// Lowest score of the bin (inclusive).
    pub low: f64,
    /// Highest score of the bin (exclusive, but 1 is in the last bin).
    pub high: f64,
    /// Links in the bin.
    pub links: u64,
    /// Expected matches among them.
    pub matches: f64,
    /// Expected non-matches among them.
    pub non_matches: f64,
}

/// Everything the model says, as `anonlink estimate` shows it and `--output` writes it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Report {
    /// Records per dataset.
    pub sizes: Vec<usize>,
    /// The floor of the candidates.
    pub floor: f64,
    /// Candidate pairs above the floor.
    pub candidates: u64,
    /// Links (greedy 1-to-1 pairs per dataset pair).
    pub links: u64,
    /// Estimated matches among the links.
    pub estimated_matches: f64,
    /// The threshold of best estimated F1, with its estimate.
    pub suggested: QualityPoint,
    /// How far the estimates can be trusted.
    pub confidence: Confidence,
    /// Estimated quality at every hundredth from the floor.
    pub curve: Vec<QualityPoint>,
    /// The link scores in bins of 0.01, split into expected matches and non-matches: the
    /// fitted score distributions.
    pub distribution: Vec<ScoreBin>,
    /// The fit of every dataset pair.
    pub dataset_pairs: Vec<PairFit>,
}

impl ScoreModel {
    /// The model's [`Report`], for candidates numbering `candidates`.
    pub fn report(&self, candidates: u64) -> Report {
        let first = (self.floor * 100.0).floor() as u32;
        let mut distribution: Vec<ScoreBin> = (first..100)
            .map(|b| ScoreBin {
                low: f64::from(b) / 100.0,
                high: f64::from(b + 1) / 100.0,
                links: 0,
                matches: 0.0,
                non_matches: 0.0,
            })
            .collect();
        for l in &self.links {
            let b = ((l.pair.score * 100.0).floor() as u32)
                .clamp(first, 99)
                .saturating_sub(first) as usize;
            if let Some(bin) = distribution.get_mut(b) {
                bin.links += 1;
                bin.matches += l.probability;
                bin.non_matches += 1.0 - l.probability;
            }
        }
        Report {
            sizes: self.sizes.clone(),
            floor: self.floor,
            candidates,
            links: self.links.len() as u64,
            estimated_matches: self.estimated_matches(),
            suggested: self.suggested(),
            confidence: self.confidence(),
            curve: self.curve(),
            distribution,
            dataset_pairs: self.pairs.clone(),
        }
    }
}

fn point(threshold: f64, links: u64, matches: f64, total: f64) -> QualityPoint {
    let precision = if links == 0 {
        1.0
    } else {
        matches / links as f64
    };
    let recall = if total > 0.0 { matches / total } else { 0.0 };
    let denominator = links as f64 + total;
    QualityPoint {
        threshold,
        links,
        matches,
        precision,
        recall,
        f1: if denominator > 0.0 {
            2.0 * matches / denominator
        } else {
            0.0
        },
    }
}
