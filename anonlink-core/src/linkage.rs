//! The whole pipeline in one call: compare → solve → output, for a result type.
//!
//! This is what the CLI's `link`, the Entity Service's runs and the Python wheel all call,
//! so a linkage gives the same answer whichever shell asks for it.

use std::collections::BTreeMap;
use std::str::FromStr;

use serde::ser::{SerializeMap, Serializer};

use crate::candidates::{self, CandidatePair, CandidatePairs, Config};
use crate::encoding::Clks;
use crate::error::{Error, Result};
use crate::model::{self, Confidence, QualityPoint, ResultQuality, ScoreModel};
use crate::output::{self, Permutations};
use crate::solve::{self, Groups};

/// The result types of the Entity Service.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ResultType {
    /// Every candidate pair with its score (2 datasets).
    SimilarityScores,
    /// A 1-to-1 mapping between the rows of 2 datasets.
    Mapping,
    /// A random permutation per dataset plus a mask (2 datasets).
    Permutations,
    /// Groups of records across any number of datasets.
    Groups,
}

impl ResultType {
    /// The name used by the API (`similarity_scores`, `mapping`, `permutations`, `groups`).
    pub fn as_str(&self) -> &'static str {
        match self {
            ResultType::SimilarityScores => "similarity_scores",
            ResultType::Mapping => "mapping",
            ResultType::Permutations => "permutations",
            ResultType::Groups => "groups",
        }
    }

    /// Whether the result type needs exactly two datasets.
    pub fn is_two_party(&self) -> bool {
        !matches!(self, ResultType::Groups)
    }
}

impl FromStr for ResultType {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "similarity_scores" => Ok(ResultType::SimilarityScores),
            "mapping" => Ok(ResultType::Mapping),
            "permutations" => Ok(ResultType::Permutations),
            "groups" => Ok(ResultType::Groups),
            other => Err(format!(
                "unknown result type {other:?} (expected similarity_scores, mapping, permutations or groups)"
            )),
        }
    }
}

impl std::fmt::Display for ResultType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How candidates become groups.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Solver {
    /// The reference's `greedy_solve` (what the Entity Service uses).
    Greedy,
    /// The reference's `probabilistic_greedy_solve`.
    Probabilistic {
        /// Share of cross pairs that must have been seen, in `(0, 1]`.
        merge_threshold: f64,
        /// Whether two records of one dataset may share a group.
        deduplicated: bool,
    },
    /// This project's [`solve::bayes`]: the links a [`ScoreModel`] of the candidates finds
    /// more likely than not to be matches, at most one record per dataset in a group.
    /// With a numeric threshold the model sees only the pairs above it; under
    /// [`link_auto`] it sees down to a floor chosen from the data.
    Bayes,
}

impl Solver {
    /// The solver's name in the CLI and the API (`greedy`, `probabilistic`, `bayes`).
    pub fn name(&self) -> &'static str {
        match self {
            Solver::Greedy => "greedy",
            Solver::Probabilistic { .. } => "probabilistic",
            Solver::Bayes => "bayes",
        }
    }
}

/// What to compute.
#[derive(Debug, Clone)]
pub struct LinkSpec {
    /// The result type.
    pub result_type: ResultType,
    /// Threshold, top-k, kernel and progress of the candidate search.
    pub candidates: Config,
    /// The solver for `mapping`, `permutations` and `groups`.
    pub solver: Solver,
    /// Block ids per dataset and record; `None` compares every pair.
    pub blocks: Option<Vec<Vec<Vec<u64>>>>,
    /// The GPU to compare on ([`crate::gpu::Backend::open`]); `None` for the CPU. Blocked
    /// and top-k searches run on the CPU whatever this says.
    pub device: Option<crate::gpu::SharedDevice>,
}

impl LinkSpec {
    /// A linkage of `result_type` at `threshold` with the greedy solver and no blocking.
    pub fn new(result_type: ResultType, threshold: f64) -> Self {
        LinkSpec {
            result_type,
            candidates: Config::new(threshold),
            solver: Solver::Greedy,
            blocks: None,
            device: None,
        }
    }

    /// Whether the search runs on [`LinkSpec::device`]: blocked and top-k searches are
    /// the CPU's.
    pub fn compares_on_device(&self) -> bool {
        self.device.is_some() && self.blocks.is_none() && self.candidates.k().is_none()
    }
}

/// The result of a linkage, serialising to the Entity Service's result documents.
#[derive(Debug, Clone, PartialEq)]
pub enum Linkage {
    /// `{"similarity_scores": [[row0, row1, score], ...]}` in canonical order.
    SimilarityScores(Vec<(u32, u32, f64)>),
    /// `{"mapping": {"row0": "row1", ...}}` (decimal strings, as the reference).
    Mapping(BTreeMap<u32, u32>),
    /// `{"mask": [...], "permutations": [[...], [...]], "rows": n}`; the service hands out
    /// the parts separately.
    Permutations(Permutations),
    /// `{"groups": [[[dataset, row], ...], ...]}`.
    Groups(Groups),
}

impl serde::Serialize for Linkage {
    fn serialize<S: Serializer>(&self, serializer: S) -> std::result::Result<S::Ok, S::Error> {
        match self {
            Linkage::SimilarityScores(scores) => {
                let mut m = serializer.serialize_map(Some(1))?;
                m.serialize_entry("similarity_scores", scores)?;
                m.end()
            }
            Linkage::Mapping(map) => {
                let as_text: BTreeMap<String, String> = map
                    .iter()
                    .map(|(a, b)| (a.to_string(), b.to_string()))
                    .collect();
                let mut m = serializer.serialize_map(Some(1))?;
                m.serialize_entry("mapping", &as_text)?;
                m.end()
            }
            Linkage::Permutations(p) => {
                let mut m = serializer.serialize_map(Some(3))?;
                m.serialize_entry("mask", &p.mask)?;
                m.serialize_entry("permutations", &[&p.permutation_a, &p.permutation_b])?;
                m.serialize_entry("rows", &p.rows)?;
                m.end()
            }
            Linkage::Groups(g) => {
                let mut m = serializer.serialize_map(Some(1))?;
                m.serialize_entry("groups", g)?;
                m.end()
            }
        }
    }
}

/// Figures about a linkage.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct LinkStats {
    /// Comparisons an unblocked search makes (the progress total).
    pub total_comparisons: u64,
    /// Candidate pairs found.
    pub candidates: u64,
}

/// Runs the candidate search of `spec` (blocked or not).
///
/// # Errors
/// As [`candidates::find`] and [`candidates::find_blocked`].
pub fn find_candidates(datasets: &[&Clks], spec: &LinkSpec) -> Result<CandidatePairs> {
    match &spec.blocks {
        Some(blocks) => candidates::find_blocked(datasets, blocks, &spec.candidates),
        None => candidates::find(datasets, &spec.candidates),
    }
}

/// Turns candidates into the result of `spec`, for datasets of the given sizes.
///
/// # Errors
/// [`Error::NotTwoParty`] for a two-party result type with another number of datasets;
/// [`Error::MergeThreshold`].
pub fn solve_candidates(
    pairs: &CandidatePairs,
    sizes: &[usize],
    spec: &LinkSpec,
) -> Result<Linkage> {
    check_parties(spec, sizes.len())?;
    if spec.result_type == ResultType::SimilarityScores {
        return Ok(Linkage::SimilarityScores(output::similarity_scores(
            pairs.as_slice(),
        )?));
    }
    let groups = match spec.solver {
        Solver::Greedy => solve::greedy(pairs.as_slice()),
        Solver::Probabilistic {
            merge_threshold,
            deduplicated,
        } => solve::probabilistic(pairs.as_slice(), merge_threshold, deduplicated)?,
        Solver::Bayes => {
            let threshold = spec.candidates.threshold();
            bayes_groups(&ScoreModel::fit(pairs, sizes, threshold)?, threshold)
        }
    };
    from_groups(spec.result_type, groups, sizes)
}

/// The Bayes solver's groups from a fitted model: [`solve::bayes`] over the model's links
/// at or above `min_score`. For two parties the links are a 1-to-1 matching already, and
/// those at or above the suggested threshold — greedy's answer at the threshold of best
/// estimated F1 — are kept whatever their probability: the probability then adds the links
/// below it that stand out from their records' alternatives. (A link can score high and
/// still not stand out where look-alike records compete for it, as near-identical people
/// do in clean data; measured on generated sets, keeping them raised F1 on every two-party
/// set, by 0.02–0.05. With more parties it lowered F1, by 0.02–0.05 on the fixtures: a
/// link kept whatever its probability can join two groups that the probabilities keep
/// apart.)
pub fn bayes_groups(model: &ScoreModel, min_score: f64) -> solve::Groups {
    let mut links = model.scored_links();
    if model.sizes().len() == 2 {
        let sure = model.suggested().threshold;
        for (pair, probability) in &mut links {
            if pair.score >= sure {
                *probability = 1.0;
            }
        }
    }
    solve::bayes(&links, min_score)
}

/// A two-party result type needs exactly two datasets.
fn check_parties(spec: &LinkSpec, parties: usize) -> Result<()> {
    if spec.result_type.is_two_party() && parties != 2 {
        return Err(Error::NotTwoParty {
            what: spec.result_type.as_str(),
            got: parties,
        });
    }
    Ok(())
}

/// Similarity scores are the candidates themselves: nothing solves them.
fn scores_are_not_solved() -> Error {
    Error::Usage {
        reason: "similarity scores are the candidates themselves, not solved".into(),
    }
}

/// The result of a solved result type (mapping, permutations, groups) from its groups,
/// for datasets of `sizes` records.
///
/// # Errors
/// [`Error::Usage`] for similarity scores (not solved); [`Error::NotOneToOne`] when a
/// two-party result's groups are not a matching.
pub fn from_groups(result_type: ResultType, groups: Groups, sizes: &[usize]) -> Result<Linkage> {
    Ok(match result_type {
        ResultType::SimilarityScores => return Err(scores_are_not_solved()),
        ResultType::Mapping => Linkage::Mapping(output::mapping(&groups)?),
        ResultType::Permutations => {
            let mapping = output::mapping(&groups)?;
            Linkage::Permutations(output::permutations(&mapping, (sizes[0], sizes[1]))?)
        }
        ResultType::Groups => Linkage::Groups(groups),
    })
}

/// Compare → solve → output in one call.
///
/// # Errors
/// As [`find_candidates`] and [`solve_candidates`]; the dataset count is checked first.
///
/// # Examples
/// ```
/// use anonlink_core::encoding::Clks;
/// use anonlink_core::linkage::{link, LinkSpec, ResultType};
///
/// let a = Clks::from_concatenated(&[0xff, 0xff, 0, 0, 0, 0, 0, 0], 8)?;
/// let b = Clks::from_concatenated(&[0xff, 0xfe, 0, 0, 0, 0, 0, 0], 8)?;
/// let (result, stats) = link(&[&a, &b], &LinkSpec::new(ResultType::Mapping, 0.9))?;
/// assert_eq!(serde_json::to_string(&result).unwrap(), r#"{"mapping":{"0":"0"}}"#);
/// assert_eq!(stats.total_comparisons, 1);
/// # Ok::<(), anonlink_core::Error>(())
/// ```
pub fn link(datasets: &[&Clks], spec: &LinkSpec) -> Result<(Linkage, LinkStats)> {
    check_parties(spec, datasets.len())?;
    let sizes: Vec<usize> = datasets.iter().map(|d| d.len()).collect();
    let pairs = find_candidates(datasets, spec)?;
    let result = solve_candidates(&pairs, &sizes, spec)?;
    Ok((
        result,
        LinkStats {
            total_comparisons: candidates::total_comparisons(&sizes),
            candidates: pairs.len() as u64,
        },
    ))
}

/// The candidate search of `spec` in bounded memory: pairs beyond `budget` go to sorted
/// runs on disk, and come back as one stream in canonical order (top-k applied), exactly
/// the pairs of [`find_candidates`]. A blocked search is merged in memory (its blocks
/// bound it already) and streamed from there.
///
/// # Errors
/// As [`find_candidates`]; [`Error::Spill`] when the disk runs out.
pub fn find_candidates_bounded(
    datasets: &[&Clks],
    spec: &LinkSpec,
    budget: &candidates::MemoryBudget,
) -> Result<Box<dyn CandidateSource>> {
    let runs = match &spec.blocks {
        // Top-k bounds the pairs of each block already.
        Some(_) if spec.candidates.k().is_some() => {
            return Ok(in_memory_source(find_candidates(datasets, spec)?));
        }
        Some(blocks) => candidates::find_blocked_into(
            datasets,
            blocks,
            &spec.candidates,
            candidates::SortedRuns::new(budget.clone()),
        )?,
        None => match &spec.device {
            Some(device) if spec.compares_on_device() => crate::gpu::find_into(
                device.as_ref(),
                datasets,
                &spec.candidates,
                crate::gpu::TileLimits::default(),
                candidates::SortedRuns::new(budget.clone()),
            )?,
            _ => candidates::find_into(
                datasets,
                &spec.candidates,
                candidates::SortedRuns::new(budget.clone()),
            )?,
        },
    };
    if spec.device.is_some() && !spec.compares_on_device() {
        tracing::info!("blocked and top-k searches compare on the CPU");
    }
    let stream = runs.into_stream()?;
    let len = stream.len();
    Ok(match (spec.candidates.k(), spec.candidates.is_k_merged()) {
        (Some(k), true) => Box::new(Counted {
            len,
            pairs: candidates::EnforceK::new(stream, k),
        }),
        _ => Box::new(Counted { len, pairs: stream }),
    })
}

/// Candidates already in memory as a [`CandidateSource`].
fn in_memory_source(pairs: CandidatePairs) -> Box<dyn CandidateSource> {
    Box::new(Counted {
        len: pairs.len() as u64,
        pairs: pairs.into_vec().into_iter().map(Ok),
    })
}

/// Candidate pairs in canonical order, from memory or from disk.
pub trait CandidateSource: Iterator<Item = Result<CandidatePair>> + Send {
    /// Pairs the search found (before top-k is enforced on the stream).
    fn found(&self) -> u64;
}

/// A stream with the number of pairs the search found (one dynamic call per pair, not two).
struct Counted<I> {
    len: u64,
    pairs: I,
}

impl<I: Iterator<Item = Result<CandidatePair>>> Iterator for Counted<I> {
    type Item = Result<CandidatePair>;
    #[inline]
    fn next(&mut self) -> Option<Self::Item> {
        self.pairs.next()
    }
}

impl<I: Iterator<Item = Result<CandidatePair>> + Send> CandidateSource for Counted<I> {
    fn found(&self) -> u64 {
        self.len
    }
}

/// Turns a stream of candidates in canonical order into the result of `spec` (not
/// similarity scores: write those with [`output::write_similarity_scores`]). Two-party
/// greedy keeps one bit per record; the other solvers keep their groups' state.
///
/// # Errors
/// As [`solve_candidates`], and the stream's first error.
pub fn solve_stream(
    pairs: impl Iterator<Item = Result<CandidatePair>>,
    sizes: &[usize],
    spec: &LinkSpec,
) -> Result<Linkage> {
    check_parties(spec, sizes.len())?;
    if spec.result_type == ResultType::SimilarityScores {
        return Err(scores_are_not_solved());
    }
    let groups = match spec.solver {
        Solver::Greedy if sizes.len() == 2 => solve::greedy_matching(pairs, [sizes[0], sizes[1]])?,
        Solver::Greedy => solve::greedy_stream(pairs)?,
        Solver::Probabilistic {
            merge_threshold,
            deduplicated,
        } => solve::probabilistic_stream(pairs, merge_threshold, deduplicated)?,
        Solver::Bayes => {
            let threshold = spec.candidates.threshold();
            bayes_groups(&ScoreModel::fit_stream(pairs, sizes, threshold)?, threshold)
        }
    };
    from_groups(spec.result_type, groups, sizes)
}

/// What [`link_auto`] chose, and what it expects of the result.
#[derive(Debug, Clone, serde::Serialize)]
pub struct AutoChoice {
    /// The floor the candidates were found at (about
    /// [`model::CANDIDATES_PER_RECORD`] per record).
    pub floor: f64,
    /// Candidate pairs above the floor.
    pub candidates: u64,
    /// The solver used (`bayes` unless one was asked for).
    pub solver: &'static str,
    /// The lowest score a pair of the result may have: the floor for the Bayes solver,
    /// the suggested threshold for the others and for similarity scores.
    pub threshold: f64,
    /// The threshold with the best estimated F1 for greedy links, and its estimate.
    pub suggested: QualityPoint,
    /// Estimated quality of the result.
    pub expected: ResultQuality,
    /// How far the estimates can be trusted.
    pub confidence: Confidence,
}

/// Compare → model → solve → output with the threshold, and by default the solver, chosen
/// from the data: candidates are found above a floor of about
/// [`model::CANDIDATES_PER_RECORD`] per record, a [`ScoreModel`] is fitted to them, and
/// the result is the Bayes solver's (or, when `solver` names another, that solver's at
/// the threshold of best estimated F1). `spec`'s threshold and top-k are not used; its
/// kernel, progress and blocks are.
///
/// # Errors
/// As [`link`]; [`Error::Estimation`] when the scores cannot be modelled (too few, all
/// alike): the linkage refuses rather than guesses.
///
/// # Examples
/// ```
/// use anonlink_core::linkage::{link_auto, LinkSpec, ResultType};
/// use anonlink_core::synthetic::synthetic_pair;
///
/// let (a, b) = synthetic_pair(2_000, 2_000, 0.5, 3);
/// let spec = LinkSpec::new(ResultType::Mapping, 0.0);
/// let (result, choice, _model) = link_auto(&[&a, &b], &spec, None)?;
/// assert_eq!(choice.solver, "bayes");
/// assert!(choice.expected.f1 > 0.9, "{choice:?}");
/// # Ok::<(), anonlink_core::Error>(())
/// ```
pub fn link_auto(
    datasets: &[&Clks],
    spec: &LinkSpec,
    solver: Option<Solver>,
) -> Result<(Linkage, AutoChoice, ScoreModel)> {
    check_parties(spec, datasets.len())?;
    if let Some(Solver::Probabilistic {
        merge_threshold, ..
    }) = solver
    {
        solve::check_merge_threshold(merge_threshold)?;
    }
    let sizes: Vec<usize> = datasets.iter().map(|d| d.len()).collect();
    let (model, pairs) = model::estimate(datasets, &spec.candidates, spec.blocks.as_deref())?;
    let floor = model.floor();
    let solver = solver.unwrap_or(Solver::Bayes);
    let suggested = model.suggested();
    let threshold = match solver {
        Solver::Bayes => floor,
        _ => suggested.threshold,
    };
    // Candidates are in canonical order: those at or above a threshold are a prefix.
    let above = pairs.as_slice().partition_point(|p| p.score >= threshold);
    let kept = CandidatePairs::from_sorted(pairs.as_slice()[..above].to_vec())?;
    let (result, expected) = if spec.result_type == ResultType::SimilarityScores {
        let q = model.quality_at(threshold);
        (
            Linkage::SimilarityScores(output::similarity_scores(kept.as_slice())?),
            ResultQuality {
                pairs: kept.len() as u64,
                precision: q.matches / (kept.len().max(1)) as f64,
                recall: q.recall,
                f1: 2.0 * q.matches / (kept.len() as f64 + model.estimated_matches()).max(1.0),
            },
        )
    } else {
        let groups = match solver {
            Solver::Bayes => bayes_groups(&model, floor),
            Solver::Greedy => solve::greedy(kept.as_slice()),
            Solver::Probabilistic {
                merge_threshold,
                deduplicated,
            } => solve::probabilistic(kept.as_slice(), merge_threshold, deduplicated)?,
        };
        let expected = model.result_quality(&groups, &pairs);
        (from_groups(spec.result_type, groups, &sizes)?, expected)
    };
    let choice = AutoChoice {
        floor,
        candidates: pairs.len() as u64,
        solver: solver.name(),
        threshold,
        suggested,
        expected,
        confidence: model.confidence(),
    };
    Ok((result, choice, model))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::related_clks;

    #[test]
    fn result_documents_have_the_service_shapes() {
        let a = related_clks(30, 16, 5, 0);
        let b = related_clks(30, 16, 5, 1);
        for (rt, key) in [
            (ResultType::SimilarityScores, "similarity_scores"),
            (ResultType::Mapping, "mapping"),
            (ResultType::Permutations, "mask"),
            (ResultType::Groups, "groups"),
        ] {
            let (result, stats) = link(&[&a, &b], &LinkSpec::new(rt, 0.7)).unwrap();
            let doc = serde_json::to_value(&result).unwrap();
            assert!(doc.get(key).is_some(), "{rt}: {doc}");
            assert_eq!(stats.total_comparisons, 900);
        }
        let c = related_clks(5, 16, 5, 2);
        assert!(matches!(
            link(&[&a, &b, &c], &LinkSpec::new(ResultType::Mapping, 0.7)),
            Err(Error::NotTwoParty { got: 3, .. })
        ));
        assert!(link(&[&a, &b, &c], &LinkSpec::new(ResultType::Groups, 0.7)).is_ok());
        assert_eq!("groups".parse::<ResultType>(), Ok(ResultType::Groups));
        assert!("nope".parse::<ResultType>().is_err());
    }

    #[test]
    fn bounded_linkage_equals_the_linkage_in_memory() {
        use crate::synthetic::synthetic_datasets;
        let sets = synthetic_datasets(&[2_000, 1_500, 1_800], 0.5, 11);
        let two: Vec<&Clks> = sets[..2].iter().collect();
        let three: Vec<&Clks> = sets.iter().collect();
        // A tiny budget: a run every 500 pairs.
        let budget = candidates::MemoryBudget::bytes(24 * 500);
        for t in [0.72, 0.8] {
            for (datasets, rt, solver) in [
                (&two, ResultType::Mapping, Solver::Greedy),
                (&two, ResultType::Permutations, Solver::Greedy),
                (&three, ResultType::Groups, Solver::Greedy),
                (
                    &three,
                    ResultType::Groups,
                    Solver::Probabilistic {
                        merge_threshold: 0.5,
                        deduplicated: true,
                    },
                ),
            ] {
                let mut spec = LinkSpec::new(rt, t);
                spec.solver = solver;
                let sizes: Vec<usize> = datasets.iter().map(|d| d.len()).collect();
                let pairs = find_candidates(datasets, &spec).unwrap();
                let expected = solve_candidates(&pairs, &sizes, &spec).unwrap();
                let stream = find_candidates_bounded(datasets, &spec, &budget).unwrap();
                assert_eq!(stream.found(), pairs.len() as u64);
                let got = solve_stream(stream, &sizes, &spec).unwrap();
                match (&expected, &got) {
                    // The mask's randomness differs; the matching underneath does not.
                    (Linkage::Permutations(_), Linkage::Permutations(_)) => {}
                    _ => assert_eq!(got, expected, "{rt} at {t}"),
                }
            }
            // Similarity scores, streamed, are the serialised in-memory result.
            let spec = LinkSpec::new(ResultType::SimilarityScores, t);
            let pairs = find_candidates(&two, &spec).unwrap();
            let expected = solve_candidates(&pairs, &[2_000, 1_500], &spec).unwrap();
            let mut out = Vec::new();
            let stream = find_candidates_bounded(&two, &spec, &budget).unwrap();
            output::write_similarity_scores(stream, &mut out).unwrap();
            assert_eq!(out, serde_json::to_vec(&expected).unwrap());
            // Top-k on the stream, as in memory.
            let mut spec = LinkSpec::new(ResultType::Groups, t);
            spec.candidates = spec.candidates.with_k(2);
            let pairs = find_candidates(&three, &spec).unwrap().into_vec();
            let streamed: Vec<CandidatePair> = find_candidates_bounded(&three, &spec, &budget)
                .unwrap()
                .map(Result::unwrap)
                .collect();
            assert_eq!(streamed, pairs);
        }
    }
}
