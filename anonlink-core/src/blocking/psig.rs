//! P-Sig: signatures per record, filtered by how many records carry them, mapped to
//! Bloom-filter block ids (blocklib's `PPRLIndexPSignature.build_reversed_index`).

use rayon::prelude::*;

use super::metaphone::double_metaphone_joined;
use super::python::set_order;
use super::schema::{PSigConfig, Position, SignatureFilter, SignatureKind};
use super::stats::{block_stats, strategy_stats};
use super::{Block, CandidateBlocks, Columns, InsertionOrder, RecordId, bloom_positions, value};
use crate::{Error, Result};

pub(super) fn blocks(
    config: &PSigConfig,
    rows: &[Vec<String>],
    columns: &Columns,
    ids: Vec<RecordId>,
) -> Result<CandidateBlocks> {
    // Columns resolved once; a name missing from the header fails before any work.
    let strategies = config
        .strategies
        .iter()
        .map(|parts| {
            parts
                .iter()
                .map(|spec| Ok((columns.index(&spec.feature)?, &spec.kind)))
                .collect::<Result<Vec<_>>>()
        })
        .collect::<Result<Vec<_>>>()?;
    let null = config.common.null_sentinel.as_deref();

    let signatures: Vec<Vec<(usize, String)>> = (0..rows.len())
        .into_par_iter()
        .map(|row| signatures(rows, row, &strategies, null))
        .collect::<Result<_>>()?;

    let mut per_strategy: Vec<InsertionOrder<String, usize>> = (0..strategies.len())
        .map(|_| InsertionOrder::new())
        .collect();
    for (row, row_signatures) in signatures.into_iter().enumerate() {
        for (strategy, signature) in row_signatures {
            per_strategy[strategy].group(signature).push(row);
        }
    }

    let n = rows.len();
    let keep = |size: usize| match config.filter {
        SignatureFilter::Ratio { min, max } => {
            n as f64 * max >= size as f64 && size as f64 >= n as f64 * min
        }
        SignatureFilter::Count { min, max } => max >= size as i64 && size as i64 >= min,
    };
    let filtered: Vec<Vec<(String, Vec<usize>)>> = per_strategy
        .into_iter()
        .map(|s| {
            s.into_groups()
                .into_iter()
                .filter(|(_, records)| keep(records.len()))
                .collect()
        })
        .collect();
    let per_strategy_stats = filtered
        .iter()
        .enumerate()
        .map(|(i, blocks)| strategy_stats(i, blocks.iter().map(|(_, r)| r.len()), n))
        .collect();

    let signature_count: usize = filtered.iter().map(Vec::len).sum();
    if signature_count == 0 {
        return Err(Error::Blocking {
            row: None,
            reason: "P-Sig: all records are filtered out (no signature passes the filter)".into(),
        });
    }
    let mut covered = vec![false; n];
    for (_, records) in filtered.iter().flatten() {
        for &r in records {
            covered[r] = true;
        }
    }
    let coverage = if ids.iter().all(|id| matches!(id, RecordId::Row(_))) {
        covered.iter().filter(|c| **c).count() as f64 / n as f64
    } else {
        // blocklib counts distinct record ids, which repeat where the id column does.
        let distinct: rustc_hash::FxHashSet<&RecordId> =
            (0..n).filter(|r| covered[*r]).map(|r| &ids[r]).collect();
        distinct.len() as f64 / n as f64
    };
    if coverage < 1.0 {
        tracing::warn!(
            coverage = %format!("{:.2}%", coverage * 100.0),
            "the P-Sig configuration leaves some records in no block; a less aggressive filter \
             or signatures that make smaller blocks raise coverage"
        );
    }

    let bloom = config.bloom_filter;
    // Signatures whose Bloom ids collide share a block, as blocklib extends the first's list.
    let mut by_key = InsertionOrder::new();
    for (signature, records) in filtered.into_iter().flatten() {
        let key = python_tuple(&set_order(bloom_positions(
            &signature,
            bloom.length,
            bloom.hash_functions,
        )));
        by_key.group(key).extend(records);
    }
    let by_key = by_key.into_groups();
    let mut stats = block_stats(by_key.iter().map(|(_, r)| r.len()));
    stats.coverage = Some(coverage);
    stats.statistics_per_strategy = Some(per_strategy_stats);
    let blocks = by_key
        .into_iter()
        .map(|(id, records)| Block {
            id,
            records: records.into_iter().map(|r| ids[r].clone()).collect(),
        })
        .collect();
    Ok(CandidateBlocks { blocks, stats })
}

/// `str(tuple(...))` of integers: `(1, 2)`, `(1,)`.
fn python_tuple(values: &[u64]) -> String {
    match values {
        [single] => format!("({single},)"),
        _ => format!(
            "({})",
            values
                .iter()
                .map(u64::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

/// blocklib's `generate_signatures` for one record: `(strategy, "i_part_part")`.
fn signatures(
    rows: &[Vec<String>],
    row: usize,
    strategies: &[Vec<(usize, &SignatureKind)>],
    null: Option<&str>,
) -> Result<Vec<(usize, String)>> {
    let mut out = Vec::new();
    'strategies: for (i, parts) in strategies.iter().enumerate() {
        if parts.is_empty() {
            continue;
        }
        // Missing parts (`characters-at` of an empty value) are left out of the join.
        let mut kept = Vec::with_capacity(parts.len());
        for &(column, kind) in parts {
            let v = value(rows, row, column)?;
            if null == Some(v) {
                continue 'strategies;
            }
            let part = match kind {
                SignatureKind::FeatureValue => Some(v.to_string()),
                SignatureKind::Metaphone => Some(double_metaphone_joined(v)),
                SignatureKind::CharactersAt(positions) => {
                    characters_at(v, positions).map_err(|reason| Error::Blocking {
                        row: Some(row),
                        reason: format!("column {column}: {reason}"),
                    })?
                }
            };
            kept.extend(part);
        }
        out.push((i, format!("{i}_{}", kept.join("_"))));
    }
    Ok(out)
}

/// blocklib's `generate_by_char_at`: `None` for an empty value; positions clamped to the
/// value as blocklib clamps them, Python's negative indices and slices otherwise.
fn characters_at(
    value: &str,
    positions: &[Position],
) -> std::result::Result<Option<String>, String> {
    if value.is_empty() {
        return Ok(None);
    }
    let chars: Vec<char> = value.chars().collect();
    let len = chars.len() as i64;
    let mut out = String::new();
    let index = |i: i64| -> std::result::Result<char, String> {
        let j = if i < 0 { i + len } else { i };
        if (0..len).contains(&j) {
            Ok(chars[j as usize])
        } else {
            Err(format!(
                "string index {i} out of range for a value of {len} characters"
            ))
        }
    };
    let slice = |a: i64, b: i64| -> String {
        let norm = |i: i64| if i < 0 { (i + len).max(0) } else { i.min(len) };
        let (a, b) = (norm(a), norm(b));
        if a >= b {
            String::new()
        } else {
            chars[a as usize..b as usize].iter().collect()
        }
    };
    for position in positions {
        match *position {
            Position::Index(p) => out.push(index(p.min(len - 1))?),
            Position::Range(Some(start), Some(end)) => {
                out.push_str(&slice(start.min(len - 1), end.min(len)))
            }
            Position::Range(None, Some(end)) => out.push_str(&slice(0, end.min(len))),
            Position::Range(Some(start), None) => out.push_str(&slice(start.min(len), len)),
            Position::Range(None, None) => return Err("invalid pos argument \":\"".into()),
        }
    }
    Ok(Some(out))
}
