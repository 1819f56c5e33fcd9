//! Knowing before computing: how many candidate pairs a linkage will find, estimated from
//! a sample of one side's rows compared with the whole other side (counting, never
//! emitting, so memory is one counter per sampled row at any threshold).
//!
//! For each dataset pair the larger side is sampled (the comparisons made are
//! `sampled rows × rows of the smaller side`: at most [`SAMPLE_COMPARISONS`] and a twentieth
//! of the pair's, but at least 500 rows; pairs of up to 2e7 comparisons are counted whole),
//! in a few
//! contiguous row ranges at seeded random places; the count of each sampled row is a draw
//! from the rows' counts, so the estimate is `rows × mean` with a standard error from their
//! spread (and the finite-population correction: a sample of every row is exact).

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::Config;
use super::tile;
use crate::encoding::Clks;
use crate::error::{Error, Result};
use crate::similarity::Kernel;

/// Comparisons an estimate makes per dataset pair, at most (about 0.1 s on two cores).
pub const SAMPLE_COMPARISONS: u64 = 200_000_000;

/// An estimate makes at most this share of a dataset pair's comparisons (beyond its
/// minimum sample), so it adds little to the linkage it precedes.
const MAX_SHARE: u64 = 20;

/// Dataset pairs of at most this many comparisons are counted whole.
const EXACT_UP_TO: u64 = 20_000_000;

/// Sampled rows per dataset pair, at least (unless the side is smaller).
const MIN_SAMPLE_ROWS: u64 = 500;

/// Contiguous ranges a sample is drawn in: few enough for ranged reads of stored uploads.
const SAMPLE_RANGES: u64 = 32;

/// Bytes a candidate pair takes in a candidate file (anonlink's format: score, two dataset
/// indices, two rows).
pub const BYTES_PER_CANDIDATE: u64 = 24;

/// An estimate of the number of candidate pairs.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CandidateEstimate {
    /// The best guess.
    pub candidates: f64,
    /// A low end (two standard errors below the guess, at least what the sample found).
    pub low: u64,
    /// A high end (two standard errors above the guess, at most every comparison).
    pub high: u64,
    /// Comparisons the linkage makes in all.
    pub comparisons: u64,
    /// Comparisons the estimate made.
    pub sampled_comparisons: u64,
    /// Whether every row was sampled (then the estimate is the count).
    pub exact: bool,
}

impl CandidateEstimate {
    /// Bytes the high end of the estimate takes in candidate files.
    pub fn bytes_high(&self) -> u64 {
        self.high.saturating_mul(BYTES_PER_CANDIDATE)
    }

    /// The estimate as text for a message: `about N (L–H)`, or the count when exact.
    pub fn describe(&self) -> String {
        if self.exact {
            format!("{}", self.candidates.round() as u64)
        } else {
            format!("about {:.0} ({}–{})", self.candidates, self.low, self.high)
        }
    }
}

/// The sample of one dataset pair's larger side, and what it found.
#[derive(Debug, Clone)]
pub struct PairSample {
    /// Rows of the sampled side.
    pub population: u64,
    /// The sampled rows, as ranges `[start, end)`.
    pub ranges: Vec<[u64; 2]>,
    /// Rows of the other side.
    pub other_rows: u64,
    counts: Vec<u64>,
}

impl PairSample {
    /// Where to sample a side of `population` rows compared with `other_rows` rows:
    /// seeded, so the same input gives the same estimate.
    pub fn plan(population: u64, other_rows: u64) -> PairSample {
        let total = population.saturating_mul(other_rows);
        // Small pairs are counted whole (a few milliseconds); large ones sampled.
        let budget = if total <= EXACT_UP_TO {
            total
        } else {
            SAMPLE_COMPARISONS.min((total / MAX_SHARE).max(EXACT_UP_TO))
        };
        PairSample::plan_within(population, other_rows, budget)
    }

    /// As [`PairSample::plan`], making about `budget` comparisons.
    pub fn plan_within(population: u64, other_rows: u64, budget: u64) -> PairSample {
        let wanted = budget
            .checked_div(other_rows)
            .unwrap_or(population)
            .max(MIN_SAMPLE_ROWS)
            .min(population);
        let ranges = if wanted >= population {
            if population == 0 {
                Vec::new()
            } else {
                vec![[0, population]]
            }
        } else {
            // `SAMPLE_RANGES` equal ranges, one at a random place in each of as many
            // equal strata of the rows.
            let pieces = SAMPLE_RANGES.min(wanted).max(1);
            let len = wanted / pieces;
            let stratum = population / pieces;
            let mut rng = ChaCha8Rng::seed_from_u64(population ^ other_rows.rotate_left(32));
            (0..pieces)
                .map(|i| {
                    let start = i * stratum + rng.random_range(0..=stratum - len);
                    [start, start + len]
                })
                .collect()
        };
        PairSample {
            population,
            ranges,
            other_rows,
            counts: Vec::new(),
        }
    }

    /// Rows sampled in all.
    pub fn rows(&self) -> u64 {
        self.ranges.iter().map(|r| r[1] - r[0]).sum()
    }

    /// Counts the candidates of the sampled rows (`sample`, the rows of
    /// [`PairSample::ranges`] in order) among `part`, some rows of the other side; call it
    /// once per part until every row of the other side was seen.
    pub fn count_against(&mut self, sample: &Clks, part: &Clks, config: &Config) {
        let kernel = config.kernel.unwrap_or_else(Kernel::detect);
        let counts = tile::count(sample, part, config.threshold(), kernel);
        if self.counts.is_empty() {
            self.counts = counts;
        } else {
            for (total, n) in self.counts.iter_mut().zip(counts) {
                *total += n;
            }
        }
    }

    /// The estimate for this dataset pair, with `k` capping each row's count when top-k
    /// applies.
    pub fn estimate(&self, k: Option<usize>) -> CandidateEstimate {
        let s = self.rows();
        let comparisons = self.population.saturating_mul(self.other_rows);
        let sampled_comparisons = s.saturating_mul(self.other_rows);
        if s == 0 {
            return CandidateEstimate {
                candidates: 0.0,
                low: 0,
                high: 0,
                comparisons,
                sampled_comparisons,
                exact: true,
            };
        }
        let capped: Vec<f64> = self
            .counts
            .iter()
            .map(|&c| k.map_or(c, |k| c.min(k as u64)) as f64)
            .collect();
        let found: f64 = capped.iter().sum();
        let mean = found / s as f64;
        let variance = if s > 1 {
            capped.iter().map(|c| (c - mean).powi(2)).sum::<f64>() / (s - 1) as f64
        } else {
            0.0
        };
        let n = self.population as f64;
        let exact = s == self.population;
        let correction = (1.0 - s as f64 / n).max(0.0);
        let se = n * (variance / s as f64 * correction).sqrt();
        let candidates = n * mean;
        CandidateEstimate {
            candidates,
            low: (candidates - 2.0 * se).max(found).round() as u64,
            high: ((candidates + 2.0 * se).round() as u64).min(comparisons),
            comparisons,
            sampled_comparisons,
            exact,
        }
    }
}

/// Adds the estimates of several dataset pairs (their errors as independent).
pub fn combine(estimates: &[CandidateEstimate]) -> CandidateEstimate {
    let candidates: f64 = estimates.iter().map(|e| e.candidates).sum();
    let spread: f64 = estimates
        .iter()
        .map(|e| ((e.high as f64 - e.candidates).max(e.candidates - e.low as f64) / 2.0).powi(2))
        .sum::<f64>()
        .sqrt();
    let comparisons = estimates.iter().map(|e| e.comparisons).sum();
    let floor: u64 = estimates.iter().map(|e| e.low).sum();
    CandidateEstimate {
        candidates,
        low: ((candidates - 2.0 * spread).round() as u64).max(floor.min(candidates as u64)),
        high: ((candidates + 2.0 * spread).round() as u64).min(comparisons),
        comparisons,
        sampled_comparisons: estimates.iter().map(|e| e.sampled_comparisons).sum(),
        exact: estimates.iter().all(|e| e.exact),
    }
}

/// Estimates the number of candidate pairs [`super::find`] would find over `datasets` with
/// `config` (blocking ignored: for a blocked linkage this is an upper bound).
///
/// # Errors
/// As [`super::find`], before any comparison.
///
/// # Examples
/// ```
/// use anonlink_core::candidates::{Config, estimate, find};
/// use anonlink_core::synthetic::synthetic_pair;
///
/// let (a, b) = synthetic_pair(3_000, 3_000, 0.5, 1);
/// let config = Config::new(0.8);
/// let guess = estimate(&[&a, &b], &config)?;
/// let found = find(&[&a, &b], &config)?.len() as f64;
/// assert!(guess.exact && (guess.candidates - found).abs() < 0.5);
/// # Ok::<(), anonlink_core::Error>(())
/// ```
pub fn estimate(datasets: &[&Clks], config: &Config) -> Result<CandidateEstimate> {
    super::check_datasets(datasets)?;
    config.validate()?;
    let mut pairs = Vec::new();
    for i in 0..datasets.len() {
        for j in i + 1..datasets.len() {
            let (big, small) = if datasets[i].len() >= datasets[j].len() {
                (datasets[i], datasets[j])
            } else {
                (datasets[j], datasets[i])
            };
            let mut sample = PairSample::plan(big.len() as u64, small.len() as u64);
            let rows: Vec<u32> = sample
                .ranges
                .iter()
                .flat_map(|r| r[0] as u32..r[1] as u32)
                .collect();
            let picked = big.select(&rows);
            if !rows.is_empty() && !small.is_empty() {
                sample.count_against(&picked, small, config);
            }
            pairs.push(sample.estimate(config.k()));
        }
    }
    Ok(combine(&pairs))
}

/// Comparisons a floor search samples per dataset pair and step, at most (beyond its
/// minimum sample of rows).
const FLOOR_SAMPLE_COMPARISONS: u64 = 20_000_000;

/// Bisection steps of [`floor_for`]: the floor is found to 1/2^10 of the searched range.
const FLOOR_STEPS: u32 = 10;

/// The lowest threshold searched by [`floor_for`]: below it Dice scores of 1024-bit CLKs
/// say nothing about a match.
pub const LOWEST_FLOOR: f64 = 0.3;

/// Samples of every dataset pair's larger side, counted at any threshold.
struct FloorSample<'a> {
    datasets: &'a [&'a Clks],
    kernel: Kernel,
    /// Per dataset pair: rows of the larger side per sampled row, the sample, the smaller
    /// side's index.
    pairs: Vec<(f64, Clks, usize)>,
    /// Rows of the larger sides in all.
    rows: f64,
}

impl<'a> FloorSample<'a> {
    fn new(datasets: &'a [&'a Clks], kernel: Kernel) -> FloorSample<'a> {
        let mut pairs = Vec::new();
        let mut rows = 0.0;
        for i in 0..datasets.len() {
            for j in i + 1..datasets.len() {
                let (big, small) = if datasets[i].len() >= datasets[j].len() {
                    (i, j)
                } else {
                    (j, i)
                };
                let (n_big, n_small) = (datasets[big].len() as u64, datasets[small].len() as u64);
                rows += n_big as f64;
                let total = n_big.saturating_mul(n_small);
                let plan =
                    PairSample::plan_within(n_big, n_small, FLOOR_SAMPLE_COMPARISONS.min(total));
                let picked: Vec<u32> = plan
                    .ranges
                    .iter()
                    .flat_map(|r| r[0] as u32..r[1] as u32)
                    .collect();
                if picked.is_empty() || n_small == 0 {
                    continue;
                }
                let scale = n_big as f64 / picked.len() as f64;
                pairs.push((scale, datasets[big].select(&picked), small));
            }
        }
        FloorSample {
            datasets,
            kernel,
            pairs,
            rows,
        }
    }

    /// At `threshold`: the expected candidates in all, and the share of sampled rows with
    /// at least `least` candidates.
    fn at(&self, threshold: f64, least: u64) -> (f64, f64) {
        let (mut expected, mut covered, mut sampled) = (0.0, 0usize, 0usize);
        for (scale, picked, other) in &self.pairs {
            let counts = tile::count(picked, self.datasets[*other], threshold, self.kernel);
            expected += scale * counts.iter().sum::<u64>() as f64;
            covered += counts.iter().filter(|&&c| c >= least).count();
            sampled += counts.len();
        }
        (expected, covered as f64 / sampled.max(1) as f64)
    }
}

/// The lowest threshold at which the search over `datasets` finds about `per_record`
/// candidates per record of each dataset pair's larger side, at most (never below
/// [`LOWEST_FLOOR`]), found by bisection on counts over a seeded sample: a threshold
/// whose search fits a memory budget.
///
/// # Errors
/// As [`super::find`], before any comparison; [`Error::Estimation`] when even the
/// threshold 1 gives more than `per_record` candidates per record (the records are too
/// alike to tell apart).
///
/// # Examples
/// ```
/// use anonlink_core::candidates::{floor_for, find, Config};
/// use anonlink_core::synthetic::synthetic_pair;
///
/// let (a, b) = synthetic_pair(2_000, 2_000, 0.5, 3);
/// let floor = floor_for(&[&a, &b], 10.0, None)?;
/// let found = find(&[&a, &b], &Config::new(floor))?.len();
/// assert!(found <= 2 * 10 * 2_000, "{found} candidates above {floor}");
/// # Ok::<(), anonlink_core::Error>(())
/// ```
pub fn floor_for(datasets: &[&Clks], per_record: f64, kernel: Option<Kernel>) -> Result<f64> {
    super::check_datasets(datasets)?;
    let sample = FloorSample::new(datasets, kernel.unwrap_or_else(Kernel::detect));
    budget_floor(&sample, per_record)
}

/// The floor of a score model's search: high enough for about `per_record` candidates
/// per record at most, and otherwise as high as leaves [`COVERED_SHARE`] of the records
/// with [`COMPETITORS`] candidates or more (so that nearly every record's best
/// candidate is seen next to its alternatives).
///
/// # Errors
/// As [`floor_for`].
pub fn model_floor(datasets: &[&Clks], per_record: f64, kernel: Option<Kernel>) -> Result<f64> {
    super::check_datasets(datasets)?;
    let sample = FloorSample::new(datasets, kernel.unwrap_or_else(Kernel::detect));
    let budget = budget_floor(&sample, per_record)?;
    // Coverage falls as the threshold rises: the highest threshold that still covers.
    let covers = |t: f64| sample.at(t, COMPETITORS).1 >= COVERED_SHARE;
    if !covers(budget) {
        return Ok(budget);
    }
    Ok(bisect(budget, 1.0, covers).0)
}

/// Narrows `[low, high]` in [`FLOOR_STEPS`] halvings to where `rise` (true for thresholds
/// below the boundary sought) turns false.
fn bisect(mut low: f64, mut high: f64, rise: impl Fn(f64) -> bool) -> (f64, f64) {
    for _ in 0..FLOOR_STEPS {
        let mid = (low + high) / 2.0;
        if rise(mid) {
            low = mid;
        } else {
            high = mid;
        }
    }
    (low, high)
}

/// Candidates a record needs for its best one to be judged against alternatives.
pub const COMPETITORS: u64 = 3;

/// Share of records a model floor leaves with [`COMPETITORS`] candidates.
pub const COVERED_SHARE: f64 = 0.95;

fn budget_floor(sample: &FloorSample<'_>, per_record: f64) -> Result<f64> {
    let budget = per_record * sample.rows;
    let within = |t: f64| sample.at(t, 1).0 <= budget;
    if !within(1.0) {
        return Err(Error::Estimation {
            reason: format!(
                "more than {per_record} candidates per record score 1: the records are too \
                 alike to tell matches from non-matches"
            ),
        });
    }
    // Counts fall as the threshold rises: find the lowest threshold within the budget.
    if within(LOWEST_FLOOR) {
        return Ok(LOWEST_FLOOR);
    }
    Ok(bisect(LOWEST_FLOOR, 1.0, |t| !within(t)).1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::candidates::find;
    use crate::synthetic::{synthetic_datasets, synthetic_pair};

    #[test]
    fn small_inputs_are_counted_exactly() {
        let sets = synthetic_datasets(&[800, 600, 700], 0.5, 3);
        let refs: Vec<&Clks> = sets.iter().collect();
        for t in [0.6, 0.8, 0.95] {
            let config = Config::new(t);
            let e = estimate(&refs, &config).unwrap();
            let found = find(&refs, &config).unwrap().len() as u64;
            assert!(e.exact);
            assert_eq!(
                (e.low, e.candidates.round() as u64, e.high),
                (found, found, found)
            );
        }
    }

    /// Estimates from a sample of `budget` comparisons, as [`estimate`] does for one pair.
    fn sampled(a: &Clks, b: &Clks, config: &Config, budget: u64) -> CandidateEstimate {
        let mut sample = PairSample::plan_within(a.len() as u64, b.len() as u64, budget);
        let rows: Vec<u32> = sample
            .ranges
            .iter()
            .flat_map(|r| r[0] as u32..r[1] as u32)
            .collect();
        // The other side in two parts, as the service streams it.
        let half = (b.len() / 2) as u32;
        let first: Vec<u32> = (0..half).collect();
        let second: Vec<u32> = (half..b.len() as u32).collect();
        let picked = a.select(&rows);
        sample.count_against(&picked, &b.select(&first), config);
        sample.count_against(&picked, &b.select(&second), config);
        sample.estimate(config.k())
    }

    #[test]
    fn samples_are_within_twice_the_count_and_deterministic() {
        let (a, b) = synthetic_pair(40_000, 5_000, 0.5, 9);
        // Thresholds with few and with many candidates (random pairs score about 0.67).
        for (t, budget) in [(0.8, 4_000_000), (0.72, 4_000_000), (0.7, 20_000_000)] {
            let config = Config::new(t);
            let e = sampled(&a, &b, &config, budget);
            assert!(
                !e.exact && e.sampled_comparisons < e.comparisons / 5,
                "{e:?}"
            );
            let found = find(&[&a, &b], &config).unwrap().len() as f64;
            assert!(
                e.candidates <= 2.0 * found && e.candidates >= found / 2.0,
                "t {t}: estimated {e:?}, found {found}"
            );
            assert!(
                e.low as f64 <= found && e.high as f64 >= found,
                "t {t}: {e:?} {found}"
            );
            assert_eq!(e, sampled(&a, &b, &config, budget));
            // Top-k caps each row's count.
            let capped = sampled(&a, &b, &config.clone().with_k(1), budget);
            assert!(capped.candidates <= e.candidates && capped.high <= a.len() as u64);
        }
        // The whole estimate of a pair under the default budget.
        let e = estimate(&[&a, &b], &Config::new(0.8)).unwrap();
        let found = find(&[&a, &b], &Config::new(0.8)).unwrap().len() as f64;
        assert!((e.candidates - found).abs() <= found * 0.5, "{e:?} {found}");
    }

    #[test]
    fn plans_stay_inside_the_rows() {
        for (n, other) in [
            (1u64, 1u64),
            (10, 0),
            (1_000_000, 1_000_000),
            (501, 1 << 40),
            (33, 1 << 40),
        ] {
            let plan = PairSample::plan(n, other);
            assert!(plan.rows() <= n);
            for r in &plan.ranges {
                assert!(r[0] < r[1] && r[1] <= n, "{n} {other} {r:?}");
            }
            for w in plan.ranges.windows(2) {
                assert!(w[0][1] <= w[1][0], "ranges overlap: {:?}", plan.ranges);
            }
        }
    }
}
