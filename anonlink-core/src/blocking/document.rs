//! The files blocking reads and writes, as anonlink-client reads and writes them: records
//! from CSV (values stripped of surrounding whitespace), and the block document
//! `{"blocks": {"<record>": ["<block id>", ...]}, "meta": {...}}` that `combine` joins with
//! CLKs into a `clknblocks` upload.

use std::io::{Read, Write};

use serde::Serialize;
use serde_json::Value;

use super::CandidateBlocks;
use crate::{Error, Result};

/// Records read for blocking: the header (if the file has one) and the rows.
#[derive(Debug, Clone, PartialEq)]
pub struct Records {
    /// The first row, when the file has a header.
    pub header: Option<Vec<String>>,
    /// The records' values.
    pub rows: Vec<Vec<String>>,
}

/// Reads records from CSV as anonlink-client's `block` does: each value stripped of
/// surrounding whitespace, rows of any length.
pub fn read_csv_records<R: Read>(reader: R, has_header: bool) -> Result<Records> {
    let mut csv = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(reader);
    let mut header = None;
    let mut rows = Vec::new();
    for (i, record) in csv.records().enumerate() {
        let record = record.map_err(|e| Error::Csv {
            reason: e.to_string(),
        })?;
        if has_header && i == 0 {
            header = Some(record.iter().map(str::to_string).collect());
            continue;
        }
        rows.push(record.iter().map(|v| v.trim().to_string()).collect());
    }
    Ok(Records { header, rows })
}

/// Writes anonlink-client's block document for `records` records: `blocks` (each record,
/// by first appearance, with its block ids) and `meta` (the schema as given, the record
/// count, the statistics).
pub fn write_block_document<W: Write>(
    blocks: &CandidateBlocks,
    schema: &Value,
    records: usize,
    mut writer: W,
) -> Result<()> {
    writer.write_all(b"{\"blocks\": {")?;
    for (i, (record, ids)) in blocks.by_record().iter().enumerate() {
        if i > 0 {
            writer.write_all(b", ")?;
        }
        serde_json::to_writer(&mut writer, &record.to_string()).map_err(json_error)?;
        writer.write_all(b": ")?;
        serde_json::to_writer(&mut writer, ids).map_err(json_error)?;
    }
    writer.write_all(b"}, \"meta\": ")?;
    #[derive(Serialize)]
    struct Source {
        clk_count: [usize; 1],
    }
    let meta = serde_json::json!({
        "config": schema,
        "source": Source { clk_count: [records] },
        "stats": blocks.stats,
    });
    serde_json::to_writer(&mut writer, &meta).map_err(json_error)?;
    writer.write_all(b"}")?;
    Ok(())
}

/// Writes blocklib's own result as JSON: `blocks` (each block id, in blocklib's order, with
/// its records) and `stats` — `CandidateBlockingResult.blocks` and `.stats`.
pub fn write_blocklib_document<W: Write>(blocks: &CandidateBlocks, mut writer: W) -> Result<()> {
    writer.write_all(b"{\"blocks\": {")?;
    for (i, block) in blocks.blocks.iter().enumerate() {
        if i > 0 {
            writer.write_all(b", ")?;
        }
        serde_json::to_writer(&mut writer, &block.id).map_err(json_error)?;
        writer.write_all(b": ")?;
        serde_json::to_writer(&mut writer, &block.records).map_err(json_error)?;
    }
    writer.write_all(b"}, \"stats\": ")?;
    serde_json::to_writer(&mut writer, &blocks.stats).map_err(json_error)?;
    writer.write_all(b"}")?;
    Ok(())
}

fn json_error(e: serde_json::Error) -> Error {
    if e.is_io() {
        Error::Io(e.into())
    } else {
        Error::Json {
            reason: e.to_string(),
        }
    }
}

/// A block document read back: the block ids of each record position, and the record
/// count its `meta` states (if it does).
#[derive(Debug, Clone, PartialEq)]
pub struct BlockDocument {
    /// Block ids per record position (records the document does not mention have none).
    pub record_blocks: Vec<Vec<String>>,
    /// `meta.source.clk_count[0]`, where present.
    pub records: Option<usize>,
}

impl BlockDocument {
    /// Reads a block document: anonlink-client's (record → block ids, with `meta`), or
    /// blocklib's (block id → records, with `stats` and no `meta`). Records must be row
    /// positions, as `combine` requires.
    pub fn read<R: Read>(reader: R) -> Result<Self> {
        let value: Value = serde_json::from_reader(reader).map_err(|e| Error::Json {
            reason: e.to_string(),
        })?;
        if value.get("meta").is_none() && value.get("stats").is_some() {
            return Self::from_blocklib(&value);
        }
        let blocks = value
            .get("blocks")
            .and_then(Value::as_object)
            .ok_or_else(|| Error::Json {
                reason: "a block document has a \"blocks\" object (record -> block ids)".into(),
            })?;
        let records = value
            .pointer("/meta/source/clk_count/0")
            .and_then(Value::as_u64)
            .map(|n| n as usize);
        let mut entries = Vec::with_capacity(blocks.len());
        for (key, ids) in blocks {
            let row: usize = key.trim().parse().map_err(|_| Error::Json {
                reason: format!("block document: record {key:?} is not a row position"),
            })?;
            let ids = ids
                .as_array()
                .ok_or_else(|| Error::Json {
                    reason: format!("block document: record {key}: block ids are a list"),
                })?
                .iter()
                .map(|id| match id {
                    Value::String(s) => Ok(s.clone()),
                    Value::Number(n) => Ok(n.to_string()),
                    other => Err(Error::Json {
                        reason: format!(
                            "block document: record {key}: block id {other} is not text or a number"
                        ),
                    }),
                })
                .collect::<Result<Vec<_>>>()?;
            entries.push((row, ids));
        }
        let len = entries
            .iter()
            .map(|(r, _)| r + 1)
            .max()
            .unwrap_or(0)
            .max(records.unwrap_or(0));
        if let Some(n) = records
            && len > n
        {
            return Err(Error::Json {
                reason: format!(
                    "block document: record {} is past its clk_count of {n}",
                    len - 1
                ),
            });
        }
        let mut record_blocks = vec![Vec::new(); len];
        for (row, ids) in entries {
            record_blocks[row].extend(ids);
        }
        Ok(BlockDocument {
            record_blocks,
            records,
        })
    }

    fn from_blocklib(value: &Value) -> Result<Self> {
        let blocks = value
            .get("blocks")
            .and_then(Value::as_object)
            .ok_or_else(|| Error::Json {
                reason: "a blocklib document has a \"blocks\" object (block id -> records)".into(),
            })?;
        let mut record_blocks: Vec<Vec<String>> = Vec::new();
        for (id, records) in blocks {
            let records = records.as_array().ok_or_else(|| Error::Json {
                reason: format!("blocklib document: block {id}: records are a list"),
            })?;
            for record in records {
                let row = match record {
                    Value::Number(n) => n.as_u64().map(|n| n as usize),
                    Value::String(s) => s.trim().parse().ok(),
                    _ => None,
                }
                .ok_or_else(|| Error::Json {
                    reason: format!(
                        "blocklib document: block {id}: record {record} is not a row position"
                    ),
                })?;
                if record_blocks.len() <= row {
                    record_blocks.resize(row + 1, Vec::new());
                }
                record_blocks[row].push(id.clone());
            }
        }
        Ok(BlockDocument {
            record_blocks,
            records: None,
        })
    }

    /// The records the document is for: its `clk_count`, else as many as it names.
    pub fn record_count(&self) -> usize {
        self.records.unwrap_or(self.record_blocks.len())
    }

    /// The share of the records in at least one block (0 without records).
    pub fn coverage(&self) -> f64 {
        let covered = self.record_blocks.iter().filter(|b| !b.is_empty()).count();
        match self.record_count() {
            0 => 0.0,
            n => covered as f64 / n as f64,
        }
    }

    /// The blocks as block id → record positions, in order of first appearance.
    pub fn blocks(&self) -> Vec<(String, Vec<usize>)> {
        let mut order = super::InsertionOrder::new();
        for (row, ids) in self.record_blocks.iter().enumerate() {
            for id in ids {
                order.group(id.as_str()).push(row);
            }
        }
        order
            .into_groups()
            .into_iter()
            .map(|(id, rows)| (id.to_string(), rows))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::blocking::{BlockingSchema, candidate_blocks};

    #[test]
    fn a_written_document_reads_back() {
        let text = "id,name\n0, Anna \n1,anne\n2,Bob\n";
        let records = read_csv_records(text.as_bytes(), true).unwrap();
        assert_eq!(records.rows[0], ["0", "Anna"]);
        let schema_json = serde_json::json!({"type": "p-sig", "version": 1, "config": {
            "blocking-features": [1], "filter": {"type": "ratio", "max": 1.0},
            "blocking-filter": {"type": "bloom filter", "number-hash-functions": 2, "bf-len": 64},
            "signatureSpecs": [[{"type": "characters-at", "feature": 1, "config": {"pos": [0]}}]]}});
        let schema = BlockingSchema::from_value(&schema_json).unwrap();
        let blocks = candidate_blocks(&schema, &records.rows, records.header.as_deref()).unwrap();
        let mut out = Vec::new();
        write_block_document(&blocks, &schema_json, 3, &mut out).unwrap();
        let back = BlockDocument::read(&out[..]).unwrap();
        assert_eq!(back.records, Some(3));
        assert_eq!(back.record_blocks, blocks.record_blocks(3));
        // "A" and "a" differ; "B" is alone.
        assert_eq!(back.blocks().len(), 3);
        // blocklib's own form reads back to the same blocks.
        let mut out = Vec::new();
        write_blocklib_document(&blocks, &mut out).unwrap();
        let doc: serde_json::Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(doc["stats"]["num_of_blocks"], 3);
        let back = BlockDocument::read(&out[..]).unwrap();
        let mut ours = back.blocks();
        let mut theirs: Vec<(String, Vec<usize>)> = blocks
            .blocks
            .iter()
            .map(|b| {
                (
                    b.id.clone(),
                    (0..3)
                        .filter(|r| b.records.contains(&crate::blocking::RecordId::Row(*r)))
                        .collect(),
                )
            })
            .collect();
        ours.sort();
        theirs.sort();
        assert_eq!(ours, theirs);
    }
}
