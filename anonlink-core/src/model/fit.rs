//! The fit of one dataset pair: which link excesses are non-matches, which matches.
//!
//! A link between two records that have no match in each other's dataset is the best of
//! many non-match scores and its competitors are the next best: its excess is spread
//! around zero, as often below as above. Matches stand above their competitors. So the
//! links with a negative excess are (almost all) non-matches, and they give the spread
//! `sd` of the non-match excess and, doubled, the number of non-match links. The non-match
//! excess is taken as normal around zero with that spread; what a histogram of the
//! excesses holds beyond it are matches. The match share of each bin, made
//! non-decreasing in the excess, is the probability that a link of that excess is a
//! match. Nothing is assumed about the shape of the matches' scores.

/// Smallest non-match spread: below the resolution of Dice scores on 1024-bit CLKs.
const MIN_SPREAD: f64 = 1e-3;

/// Most bins of the excess histogram.
const MAX_BINS: usize = 4096;

/// The fitted probability of a match as a step function of the excess.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct ExcessFit {
    /// Links the fit saw.
    pub links: usize,
    /// Spread (standard deviation) of the non-match excess.
    pub nonmatch_spread: f64,
    /// Estimated non-match links.
    pub nonmatch_links: f64,
    /// Estimated match links (the sum of the links' probabilities).
    pub matches: f64,
    /// Left edge of the first bin.
    pub start: f64,
    /// Width of every bin.
    pub width: f64,
    /// Probability of a match in each bin, non-decreasing.
    pub probability: Vec<f64>,
}

impl ExcessFit {
    /// Fits the excesses of one dataset pair's links (any order; at least one).
    pub(crate) fn fit(excess: &[f64]) -> ExcessFit {
        let negative: Vec<f64> = excess.iter().copied().filter(|&x| x < 0.0).collect();
        let spread = if negative.is_empty() {
            MIN_SPREAD
        } else {
            (negative.iter().map(|x| x * x).sum::<f64>() / negative.len() as f64)
                .sqrt()
                .max(MIN_SPREAD)
        };
        let nonmatch = (2 * negative.len()).min(excess.len()) as f64;
        let lowest = excess.iter().copied().fold(f64::INFINITY, f64::min);
        let highest = excess.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let start = lowest.min(-4.0 * spread);
        let width = (spread / 2.0).max((highest - start) / (MAX_BINS - 1) as f64);
        let bins = (((highest - start) / width).floor() as usize + 1).min(MAX_BINS);
        let bin_of = |x: f64| (((x - start) / width).floor().max(0.0) as usize).min(bins - 1);
        let mut counts = vec![0.0f64; bins];
        for &x in excess {
            counts[bin_of(x)] += 1.0;
        }
        // Expected non-matches per bin; the end bins take the tails.
        let cdf = |x: f64| 0.5 * (1.0 + libm::erf(x / (spread * std::f64::consts::SQRT_2)));
        let share: Vec<f64> = counts
            .iter()
            .enumerate()
            .map(|(b, &c)| {
                let low = if b == 0 {
                    0.0
                } else {
                    cdf(start + b as f64 * width)
                };
                let high = if b + 1 == bins {
                    1.0
                } else {
                    cdf(start + (b + 1) as f64 * width)
                };
                let expected = nonmatch * (high - low);
                if c > 0.0 {
                    ((c - expected) / c).clamp(0.0, 1.0)
                } else {
                    0.0
                }
            })
            .collect();
        let probability = non_decreasing(&share, &counts);
        let matches = excess.iter().map(|&x| probability[bin_of(x)]).sum();
        ExcessFit {
            links: excess.len(),
            nonmatch_spread: spread,
            nonmatch_links: nonmatch,
            matches,
            start,
            width,
            probability,
        }
    }

    /// The probability that a link of this excess is a match.
    pub fn probability_at(&self, excess: f64) -> f64 {
        let last = self.probability.len() - 1;
        let bin = ((excess - self.start) / self.width).floor();
        let bin = if bin.is_nan() || bin < 0.0 {
            0
        } else {
            (bin as usize).min(last)
        };
        self.probability[bin]
    }
}

/// The weighted least-squares non-decreasing fit of `values` (pool adjacent violators);
/// bins of weight zero take the value of the bin before them (the first ones, the first
/// weighted value).
fn non_decreasing(values: &[f64], weights: &[f64]) -> Vec<f64> {
    // Blocks of pooled bins: (mean, weight, bins).
    let mut blocks: Vec<(f64, f64, usize)> = Vec::new();
    let mut leading_empty = 0;
    for (&v, &w) in values.iter().zip(weights) {
        if w == 0.0 {
            match blocks.last_mut() {
                Some(last) => last.2 += 1,
                None => leading_empty += 1,
            }
            continue;
        }
        blocks.push((v, w, 1));
        while blocks.len() > 1 && blocks[blocks.len() - 2].0 > blocks[blocks.len() - 1].0 {
            let (v2, w2, n2) = blocks.pop().unwrap_or_default();
            let last = blocks.last_mut().expect("two blocks");
            last.0 = (last.0 * last.1 + v2 * w2) / (last.1 + w2);
            last.1 += w2;
            last.2 += n2;
        }
    }
    let first = blocks.first().map_or(0.0, |b| b.0);
    let mut out = vec![first; leading_empty];
    for (v, _, n) in blocks {
        out.extend(std::iter::repeat_n(v, n));
    }
    out
}

#[cfg(test)]
mod tests {
    use rand::{Rng, SeedableRng};

    use super::*;

    /// Normal draws (Box–Muller).
    fn normal(rng: &mut rand_chacha::ChaCha8Rng, mean: f64, sd: f64) -> f64 {
        let (u, v): (f64, f64) = (rng.random_range(1e-12..1.0), rng.random());
        mean + sd * (-2.0 * u.ln()).sqrt() * (2.0 * std::f64::consts::PI * v).cos()
    }

    #[test]
    fn a_planted_mixture_is_recovered() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(3);
        for (nonmatches, matches, sd) in
            [(3_000, 2_000, 0.02), (500, 4_000, 0.01), (6_000, 300, 0.03)]
        {
            let mut excess: Vec<f64> = (0..nonmatches).map(|_| normal(&mut rng, 0.0, sd)).collect();
            // Matches: well above, with a long tail down towards the non-matches.
            excess.extend((0..matches).map(|_| 0.06 + normal(&mut rng, 0.0, 0.08).abs()));
            let fit = ExcessFit::fit(&excess);
            let (n, m) = (nonmatches as f64, matches as f64);
            assert!((fit.nonmatch_links - n).abs() < 0.1 * n, "{fit:?}");
            // Within 6% of the matches, or 1% of all links where matches are few.
            assert!(
                (fit.matches - m).abs() < 0.06 * m + 0.01 * n,
                "{} of {m}",
                fit.matches
            );
            assert!((fit.nonmatch_spread - sd).abs() < 0.15 * sd);
            assert!(fit.probability_at(0.0) < 0.05 && fit.probability_at(0.2) > 0.99);
            assert_eq!(fit, ExcessFit::fit(&excess), "deterministic");
        }
    }

    #[test]
    fn pooling_makes_values_non_decreasing() {
        let out = non_decreasing(
            &[0.0, 0.5, 0.2, 0.9, 0.0, 1.0],
            &[1.0, 1.0, 1.0, 1.0, 0.0, 1.0],
        );
        assert_eq!(out.len(), 6);
        assert!(out.windows(2).all(|w| w[0] <= w[1]), "{out:?}");
        assert!((out[1] - 0.35).abs() < 1e-12 && (out[2] - 0.35).abs() < 1e-12);
        assert_eq!(out[4], 0.9);
        assert_eq!(non_decreasing(&[0.3, 0.1], &[0.0, 2.0]), vec![0.1, 0.1]);
    }
}
