//! λ-fold: bigram Bloom filters (or CLKs), `Lambda` tables of `K` sampled bits
//! (blocklib's `PPRLIndexLambdaFold.build_reversed_index`).

use base64::Engine as _;
use rayon::prelude::*;

use super::python::PyRandom;
use super::schema::LambdaFoldConfig;
use super::stats::block_stats;
use super::{Block, CandidateBlocks, Columns, InsertionOrder, RecordId, bloom_positions, value};
use crate::{Error, Result};

pub(super) fn blocks(
    config: &LambdaFoldConfig,
    rows: &[Vec<String>],
    columns: &Columns,
    ids: Vec<RecordId>,
) -> Result<CandidateBlocks> {
    if rows.is_empty() {
        return Err(Error::Blocking {
            row: None,
            reason: "λ-fold needs at least one record".into(),
        });
    }
    let filters: Vec<Vec<bool>> = if config.input_clks {
        (0..rows.len())
            .into_par_iter()
            .map(|row| clk_bits(row, value(rows, row, 0)?))
            .collect::<Result<_>>()?
    } else {
        let features = config
            .common
            .blocking_features
            .iter()
            .map(|f| columns.index(f))
            .collect::<Result<Vec<_>>>()?;
        (0..rows.len())
            .into_par_iter()
            .map(|row| {
                let mut text = String::new();
                for &column in &features {
                    text.push_str(value(rows, row, column)?);
                }
                Ok(bigram_filter(&text, config.bf_len, config.hash_functions))
            })
            .collect::<Result<_>>()?
    };
    let bf_len = filters[0].len();
    if let Some(row) = filters.iter().position(|f| f.len() != bf_len) {
        return Err(Error::Blocking {
            row: Some(row),
            reason: format!(
                "{} bits, but the first record has {bf_len}",
                filters[row].len()
            ),
        });
    }
    let population = u32::try_from(bf_len).map_err(|_| Error::Blocking {
        row: None,
        reason: format!("{bf_len} bits is too long a filter"),
    })?;

    let mut random = PyRandom::seeded(config.random_state);
    // Keys start with their table's number and have K bits after it: no two tables share
    // one, so the tables' blocks follow each other as blocklib's `update` leaves them.
    let mut order = InsertionOrder::new();
    for table in 0..config.lambda {
        let positions = random
            .sample_range(population, config.k as usize)
            .ok_or_else(|| Error::Blocking {
                row: None,
                reason: format!(
                    "cannot sample K = {} bits from filters of {bf_len} bits",
                    config.k
                ),
            })?;
        for (row, filter) in filters.iter().enumerate() {
            let mut key = table.to_string();
            key.extend(
                positions
                    .iter()
                    .map(|&p| if filter[p as usize] { '1' } else { '0' }),
            );
            order.group(key).push(row);
        }
    }
    let blocks: Vec<Block> = order
        .into_groups()
        .into_iter()
        .map(|(id, rows)| Block {
            id,
            records: rows.into_iter().map(|r| ids[r].clone()).collect(),
        })
        .collect();
    let stats = block_stats(blocks.iter().map(|b| b.records.len()));
    Ok(CandidateBlocks { blocks, stats })
}

/// blocklib's `__record_to_bf__`: the bigrams of the joined values in a Bloom filter.
fn bigram_filter(text: &str, length: u32, hash_functions: u32) -> Vec<bool> {
    let chars: Vec<char> = text.chars().collect();
    let mut filter = vec![false; length as usize];
    let mut gram = String::with_capacity(8);
    for pair in chars.windows(2) {
        gram.clear();
        gram.extend(pair);
        for bit in bloom_positions(&gram, length, hash_functions) {
            filter[bit as usize] = true;
        }
    }
    filter
}

/// A base64 CLK as bits, most significant bit of each byte first (bitarray's big endian).
fn clk_bits(row: usize, text: &str) -> Result<Vec<bool>> {
    // Python's `base64.decodebytes` skips characters outside the alphabet (line breaks).
    let cleaned: String = text
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '/' | '='))
        .collect();
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(cleaned.as_bytes())
        .map_err(|e| Error::Blocking {
            row: Some(row),
            reason: format!("invalid base64 CLK: {e}"),
        })?;
    Ok(bytes
        .iter()
        .flat_map(|b| (0..8).rev().map(move |i| (b >> i) & 1 == 1))
        .collect())
}
