//! Client-side blocking from PII, as blocklib 0.1.11 computes it: each party derives block
//! ids from its records with a shared [`BlockingSchema`], uploads them with its CLKs
//! (`clknblocks`), and the service compares only records that share a block.
//!
//! Two methods, bit for bit as blocklib's `generate_candidate_blocks`:
//!
//! - **P-Sig** ([`Method::PSig`]): each signature strategy joins parts of a record's values
//!   (characters at positions, double metaphone codes, whole values) into a signature;
//!   signatures carried by too few or too many records are dropped (`filter`); each kept
//!   signature's block id is the tuple of the bit positions it sets in a Bloom filter
//!   (SHA-1/MD5 double hashing), written as Python writes the tuple of a set.
//! - **λ-fold** ([`Method::LambdaFold`]): each record becomes a bigram Bloom filter (or is
//!   a CLK already); `Lambda` tables each sample `K` bit positions with Python's `random`
//!   seeded by `random_state`, and a record's block in a table is the bits it has there.
//!
//! The result, [`CandidateBlocks`], keeps blocklib's order (blocks by first appearance),
//! with its statistics; [`CandidateBlocks::record_blocks`] turns it into the
//! per-record block lists of an upload. [`assess_two_party`] is blocklib's
//! `assess_blocks_2party`: reduction ratio and pairs completeness against a truth.
//!
//! ```
//! use anonlink_core::blocking::{candidate_blocks, BlockingSchema};
//!
//! let schema = BlockingSchema::from_json(r#"{
//!     "type": "p-sig", "version": 1,
//!     "config": {
//!         "blocking-features": [1],
//!         "filter": {"type": "ratio", "max": 1.0},
//!         "blocking-filter": {"type": "bloom filter", "number-hash-functions": 4, "bf-len": 2048},
//!         "signatureSpecs": [[{"type": "characters-at", "feature": 1, "config": {"pos": [0]}}]]
//!     }
//! }"#)?;
//! let rows: Vec<Vec<String>> = [["0", "Kenneth"], ["1", "Karen"], ["2", "Bob"]]
//!     .iter()
//!     .map(|r| r.iter().map(|s| s.to_string()).collect())
//!     .collect();
//! let blocks = candidate_blocks(&schema, &rows, None)?;
//! assert_eq!(blocks.blocks.len(), 2); // "K" and "B"
//! assert_eq!(blocks.record_blocks(rows.len())[0], blocks.record_blocks(rows.len())[1]);
//! # Ok::<(), anonlink_core::Error>(())
//! ```

mod document;
mod lambda_fold;
mod metaphone;
mod psig;
mod python;
mod schema;
mod stats;

use std::fmt;

use serde::{Serialize, Serializer};

pub use document::{
    BlockDocument, Records, read_csv_records, write_block_document, write_blocklib_document,
};
pub use schema::{
    BlockBloomFilter, BlockingSchema, CommonConfig, Feature, LambdaFoldConfig, Method, PSigConfig,
    Position, SignatureFilter, SignatureKind, SignatureSpec,
};
pub use stats::{Assessment, BlockStats, StrategyStats, assess_two_party};

use crate::{Error, Result};

/// What names a record in the blocks: its row position, or the value of the schema's
/// `record-id-col`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum RecordId {
    /// The record's position among the rows (no `record-id-col`).
    Row(usize),
    /// The record's value in the `record-id-col` column.
    Value(String),
}

impl fmt::Display for RecordId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RecordId::Row(i) => write!(f, "{i}"),
            RecordId::Value(v) => f.write_str(v),
        }
    }
}

impl Serialize for RecordId {
    fn serialize<S: Serializer>(&self, serializer: S) -> std::result::Result<S::Ok, S::Error> {
        match self {
            RecordId::Row(i) => serializer.serialize_u64(*i as u64),
            RecordId::Value(v) => serializer.serialize_str(v),
        }
    }
}

/// One block: its id and its records, in blocklib's order (a record may appear twice where
/// two of its signatures share a Bloom filter id, as in blocklib).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Block {
    /// The block id.
    pub id: String,
    /// The records in the block.
    pub records: Vec<RecordId>,
}

/// blocklib's `CandidateBlockingResult`: the blocks and their statistics.
#[derive(Debug, Clone, PartialEq)]
pub struct CandidateBlocks {
    /// The blocks, in order of first appearance.
    pub blocks: Vec<Block>,
    /// `stats`: sizes, and for P-Sig coverage and statistics per strategy.
    pub stats: BlockStats,
}

impl CandidateBlocks {
    /// The block ids of each row (`rows` of them), in block order: what a party uploads
    /// with its CLKs. Records named by a `record-id-col` value are placed by that value
    /// read as a row number, as anonlink-client's `combine` places them; other values are
    /// ignored.
    pub fn record_blocks(&self, rows: usize) -> Vec<Vec<String>> {
        let mut per_row = vec![Vec::new(); rows];
        for block in &self.blocks {
            for record in &block.records {
                let row = match record {
                    RecordId::Row(i) => Some(*i),
                    RecordId::Value(v) => v.trim().parse().ok(),
                };
                if let Some(ids) = row.and_then(|r| per_row.get_mut(r)) {
                    ids.push(block.id.clone());
                }
            }
        }
        per_row
    }

    /// anonlink-client's block map: each record (by first appearance) with its block ids.
    pub fn by_record(&self) -> Vec<(RecordId, Vec<String>)> {
        let mut order = InsertionOrder::new();
        for block in &self.blocks {
            for record in &block.records {
                order.group(record).push(block.id.clone());
            }
        }
        order
            .into_groups()
            .into_iter()
            .map(|(record, ids)| (record.clone(), ids))
            .collect()
    }
}

/// Values grouped by key, the groups in order of their keys' first appearance — the order
/// of a Python dict, which blocklib's results keep.
pub(crate) struct InsertionOrder<K, V> {
    index: rustc_hash::FxHashMap<K, usize>,
    groups: Vec<(K, Vec<V>)>,
}

impl<K: std::hash::Hash + Eq + Clone, V> InsertionOrder<K, V> {
    pub(crate) fn new() -> Self {
        InsertionOrder {
            index: Default::default(),
            groups: Vec::new(),
        }
    }

    /// The values of `key`'s group, a new group at the end if the key is new.
    pub(crate) fn group(&mut self, key: K) -> &mut Vec<V> {
        use std::collections::hash_map::Entry;
        let slot = match self.index.entry(key) {
            Entry::Occupied(e) => *e.get(),
            Entry::Vacant(e) => {
                self.groups.push((e.key().clone(), Vec::new()));
                *e.insert(self.groups.len() - 1)
            }
        };
        &mut self.groups[slot].1
    }

    pub(crate) fn into_groups(self) -> Vec<(K, Vec<V>)> {
        self.groups
    }
}

/// blocklib's `generate_candidate_blocks(data, schema, header)`: the blocks of these
/// records. Rows are the records' values (for λ-fold with `input-clks`, each row's first
/// value is the record's CLK in base64); `header` names the columns where the schema uses
/// names.
pub fn candidate_blocks(
    schema: &BlockingSchema,
    rows: &[Vec<String>],
    header: Option<&[String]>,
) -> Result<CandidateBlocks> {
    let common = schema.common();
    if matches!(common.blocking_features.first(), Some(Feature::Name(_))) && header.is_none() {
        return Err(Error::Blocking {
            row: None,
            reason: "the schema names its blocking features, so the records need a header".into(),
        });
    }
    let clk_input = matches!(&schema.method, Method::LambdaFold(c) if c.input_clks);
    let columns = Columns::new(common, rows, header, clk_input)?;
    let ids = record_ids(common, rows)?;
    match &schema.method {
        Method::PSig(config) => psig::blocks(config, rows, &columns, ids),
        Method::LambdaFold(config) => lambda_fold::blocks(config, rows, &columns, ids),
    }
}

/// blocklib's feature name → column map, which exists only when there is a header and the
/// blocking features are names.
pub(crate) struct Columns {
    by_name: Option<rustc_hash::FxHashMap<String, usize>>,
}

impl Columns {
    fn new(
        common: &CommonConfig,
        rows: &[Vec<String>],
        header: Option<&[String]>,
        clk_input: bool,
    ) -> Result<Self> {
        let by_name = match (header, common.blocking_features.first(), rows.first()) {
            (Some(header), Some(Feature::Name(_)), Some(first)) if !clk_input => {
                if header.len() != first.len() {
                    return Err(Error::Blocking {
                        row: None,
                        reason: format!(
                            "there are {} features specified in header, but each row has {} fields",
                            header.len(),
                            first.len()
                        ),
                    });
                }
                // As a dict comprehension: a repeated name maps to its last column.
                Some(
                    header
                        .iter()
                        .enumerate()
                        .map(|(i, n)| (n.clone(), i))
                        .collect(),
                )
            }
            _ => None,
        };
        Ok(Columns { by_name })
    }

    /// The column of a feature.
    pub(crate) fn index(&self, feature: &Feature) -> Result<usize> {
        match feature {
            Feature::Index(i) => Ok(*i),
            Feature::Name(name) => {
                let map = self.by_name.as_ref().ok_or_else(|| Error::Blocking {
                    row: None,
                    reason: format!(
                        "feature {name:?} is a name, but the blocking features are column indices \
                         (names need named blocking features and a header)"
                    ),
                })?;
                map.get(name).copied().ok_or_else(|| Error::Blocking {
                    row: None,
                    reason: format!("feature {name:?} is not in the dataset"),
                })
            }
        }
    }
}

/// A row's value in a column, or an error naming the row.
pub(crate) fn value(rows: &[Vec<String>], row: usize, column: usize) -> Result<&str> {
    rows[row]
        .get(column)
        .map(String::as_str)
        .ok_or_else(|| Error::Blocking {
            row: Some(row),
            reason: format!(
                "no column {column} (the row has {} fields)",
                rows[row].len()
            ),
        })
}

fn record_ids(common: &CommonConfig, rows: &[Vec<String>]) -> Result<Vec<RecordId>> {
    match common.record_id_column {
        None => Ok((0..rows.len()).map(RecordId::Row).collect()),
        Some(column) => (0..rows.len())
            .map(|r| value(rows, r, column).map(|v| RecordId::Value(v.to_string())))
            .collect(),
    }
}

/// blocklib's `flip_bloom_filter`: the bit positions a string sets, by double hashing with
/// SHA-1 and MD5 (each digest read as a big-endian integer modulo the length), in the
/// order of generation with repeats removed.
pub(crate) fn bloom_positions(
    text: &str,
    length: u32,
    hash_functions: u32,
) -> impl Iterator<Item = u64> {
    use md5::Digest as _;
    let modulo = |digest: &[u8]| {
        digest
            .iter()
            .fold(0u64, |r, b| ((r << 8) | u64::from(*b)) % u64::from(length))
    };
    let first = modulo(&sha1::Sha1::digest(text.as_bytes()));
    let second = modulo(&md5::Md5::digest(text.as_bytes()));
    (0..u64::from(hash_functions)).map(move |i| (first + i * second) % u64::from(length))
}
