//! Tokens: a formatted value's n-grams, exact token or numeric neighbourhood, as bytes in
//! the field's text encoding, and how many bits each token sets.

use super::format::python_int;
use super::schema::{Comparison, Strategy};

/// Bits for token `index` of `count` under `strategy`.
pub(super) fn k_of(strategy: Strategy, count: usize, index: usize) -> u32 {
    match strategy {
        Strategy::BitsPerToken(k) => k,
        Strategy::BitsPerFeature(b) => {
            let count = count as u32;
            let base = b / count;
            if (index as u32) < b % count {
                base + 1
            } else {
                base
            }
        }
    }
}

/// Calls `emit(index, count, gram)` for each of the `count` n-grams of `word` padded with
/// `n - 1` spaces on each side, as the reference tokenizes (nothing for an empty word);
/// `chars` is scratch space.
pub(super) fn for_each_ngram(
    word: &str,
    n: usize,
    chars: &mut Vec<char>,
    mut emit: impl FnMut(usize, usize, &[char]) -> std::result::Result<(), String>,
) -> std::result::Result<(), String> {
    chars.clear();
    if word.is_empty() {
        return Ok(());
    }
    let pad = n.saturating_sub(1);
    chars.extend(std::iter::repeat_n(' ', pad));
    chars.extend(word.chars());
    chars.extend(std::iter::repeat_n(' ', pad));
    let count = (chars.len() + 1).saturating_sub(n);
    for idx in 0..count {
        emit(idx, count, &chars[idx..idx + n])?;
    }
    Ok(())
}

/// Tokens of a formatted value (n-grams as the encoder's fast path makes them).
pub(super) fn tokenize(
    comparison: &Comparison,
    word: &str,
) -> std::result::Result<Vec<String>, String> {
    if word.is_empty() {
        return Ok(Vec::new());
    }
    match comparison {
        Comparison::Exact => Ok(vec![word.to_string()]),
        Comparison::Ngram { n, positional } => {
            let mut tokens = Vec::new();
            for_each_ngram(word, *n, &mut Vec::new(), |idx, _, gram| {
                let gram: String = gram.iter().collect();
                tokens.push(if *positional {
                    format!("{} {gram}", idx + 1)
                } else {
                    gram
                });
                Ok(())
            })?;
            Ok(tokens)
        }
        Comparison::Numeric {
            threshold_distance,
            resolution,
            fractional_precision,
        } => {
            let scale = 10i128.pow(*fractional_precision);
            let interval = (threshold_distance * 10f64.powi(*fractional_precision as i32))
                .round_ties_even() as i128;
            let v: i128 = match python_int(word) {
                Ok(canonical) => canonical
                    .parse::<i128>()
                    .map_err(|_| format!("{word:?} is out of range"))?
                    .checked_mul(scale)
                    .ok_or_else(|| format!("{word:?} is out of range"))?,
                Err(_) => {
                    let f: f64 = word
                        .trim()
                        .parse()
                        .map_err(|_| format!("{word:?} is not a number"))?;
                    if !f.is_finite() {
                        return Err(format!("{word:?} is not a finite number"));
                    }
                    if *fractional_precision > 0 {
                        (f * 10f64.powi(*fractional_precision as i32)).round_ties_even() as i128
                    } else {
                        f.trunc() as i128
                    }
                }
            };
            let res = i128::from(*resolution);
            let v = v
                .checked_mul(2 * res)
                .ok_or_else(|| format!("{word:?} is out of range"))?;
            let residue = v.rem_euclid(interval);
            let v = if residue == 0 {
                v
            } else if (residue as f64) < interval as f64 / 2.0 {
                v - residue
            } else {
                v + (interval - residue)
            };
            Ok((-res..=res)
                .map(|i| (v + i * interval).to_string())
                .collect())
        }
    }
}
