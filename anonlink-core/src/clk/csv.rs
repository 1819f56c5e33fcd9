//! Many records at once: rows of values ([`encode_records`]) or a CSV file ([`encode_csv`]),
//! encoded in parallel batches with one token cache per thread.

use std::io::Read;

use rayon::prelude::*;

use super::{Encoder, TokenCache};
use crate::encoding::Clks;
use crate::error::{Error, Result};

/// Records read and encoded per parallel batch.
const BATCH: usize = 10_000;

/// Bad values reported by name; the count covers all of them.
const MAX_REPORTED: usize = 10;

/// What to do with the first CSV row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Header {
    /// There is a header; its names must be the schema's identifiers.
    Check,
    /// There is a header; skip it unchecked.
    Ignore,
    /// There is no header.
    Absent,
}

/// Encodes batches of records into one store, keeping every bad value's error.
struct Batches<'e> {
    encoder: &'e Encoder,
    validate: bool,
    /// The encodings so far, concatenated.
    encoded: Vec<u8>,
    /// One per thread, kept across batches: each thread encodes one contiguous slice of
    /// every batch.
    caches: Vec<TokenCache>,
    row: usize,
    invalid: Vec<String>,
    invalid_count: usize,
}

impl<'e> Batches<'e> {
    fn new(encoder: &'e Encoder, validate: bool) -> Batches<'e> {
        let threads = rayon::current_num_threads().max(1);
        Batches {
            encoder,
            validate,
            encoded: Vec::new(),
            caches: (0..threads).map(|_| TokenCache::default()).collect(),
            row: 0,
            invalid: Vec::new(),
            invalid_count: 0,
        }
    }

    /// Encodes one batch of rows (values in schema order).
    fn add(&mut self, batch: &[Vec<&str>]) -> Result<()> {
        if batch.is_empty() {
            return Ok(());
        }
        let (encoder, validate, first) = (self.encoder, self.validate, self.row);
        let slice = batch.len().div_ceil(self.caches.len());
        let encoded: Vec<Vec<std::result::Result<Vec<u8>, Vec<Error>>>> = batch
            .par_chunks(slice)
            .zip(self.caches.par_iter_mut())
            .enumerate()
            .map(|(c, (chunk, cache))| {
                chunk
                    .iter()
                    .enumerate()
                    .map(|(i, values)| {
                        let row = first + c * slice + i;
                        if validate && values.len() == encoder.schema.features.len() {
                            let problems = encoder.validate_record(values, row);
                            if !problems.is_empty() {
                                return Err(problems);
                            }
                        }
                        encoder
                            .encode_cached(values, row, validate, cache)
                            .map_err(|e| vec![e])
                    })
                    .collect()
            })
            .collect();
        self.encoded
            .reserve(batch.len() * self.encoder.bytes_per_record());
        for result in encoded.into_iter().flatten() {
            match result {
                Ok(e) if self.invalid.is_empty() => self.encoded.extend_from_slice(&e),
                Ok(_) => {}
                Err(errors) => {
                    for e in errors {
                        match e {
                            Error::Value { .. } => {
                                self.invalid_count += 1;
                                if self.invalid.len() < MAX_REPORTED {
                                    self.invalid.push(e.to_string());
                                }
                            }
                            other => return Err(other),
                        }
                    }
                }
            }
        }
        self.row += batch.len();
        Ok(())
    }

    fn finish(self) -> Result<Vec<u8>> {
        if self.invalid_count > 0 {
            return Err(Error::InvalidValues {
                count: self.invalid_count,
                problems: self.invalid,
            });
        }
        Ok(self.encoded)
    }
}

/// Encodes records given as rows of values (one per schema feature, in schema order), in
/// parallel batches; returns the encodings concatenated, [`Encoder::bytes_per_record`]
/// bytes each (any `clkConfig.l`, as clkhash allows). `progress` hears the number of
/// records done after each batch; when it returns `false` the encoding stops with
/// [`Error::Cancelled`].
///
/// # Errors
/// [`Error::Csv`] for a row with the wrong number of values; [`Error::InvalidValues`]
/// listing the row and field of the values that fail validation (with `validate`) or cannot
/// be encoded — every record is checked before failing; [`Error::Cancelled`].
pub fn encode_records<S: AsRef<str> + Sync>(
    encoder: &Encoder,
    records: &[Vec<S>],
    validate: bool,
    progress: &(dyn Fn(u64) -> bool + Sync),
) -> Result<Vec<u8>> {
    let mut batches = Batches::new(encoder, validate);
    for batch in records.chunks(BATCH) {
        let rows: Vec<Vec<&str>> = batch
            .iter()
            .map(|r| r.iter().map(AsRef::as_ref).collect())
            .collect();
        batches.add(&rows)?;
        if !progress(batch.len() as u64) {
            return Err(Error::Cancelled);
        }
    }
    batches.finish()
}

/// Encodes every record of a CSV file, in parallel batches, into a [`Clks`] store; `progress`
/// hears the number of records done after each batch.
///
/// # Errors
/// [`Error::Csv`] for unreadable CSV, a wrong header or a wrong number of columns;
/// [`Error::InvalidValues`] listing the row and field of the values that fail validation
/// (with `validate`) or cannot be encoded — every record is checked before failing.
pub fn encode_csv<R: Read>(
    encoder: &Encoder,
    reader: R,
    header: Header,
    validate: bool,
    progress: &(dyn Fn(u64) + Sync),
) -> Result<Clks> {
    let size = encoder.bytes_per_record();
    if !size.is_multiple_of(8) {
        return Err(Error::Schema {
            feature: None,
            reason: format!(
                "clkConfig.l = {} bits is not a multiple of 64",
                encoder.schema.l
            ),
        });
    }
    let mut batches = Batches::new(encoder, validate);
    let mut csv = csv::ReaderBuilder::new()
        .has_headers(header != Header::Absent)
        .flexible(true)
        .from_reader(reader);
    if header == Header::Check {
        let names: Vec<String> = csv
            .headers()
            .map_err(|e| Error::Csv {
                reason: e.to_string(),
            })?
            .iter()
            .map(str::to_string)
            .collect();
        let expected: Vec<&str> = encoder
            .schema
            .features
            .iter()
            .map(|f| f.identifier.as_str())
            .collect();
        if names != expected {
            return Err(Error::Csv {
                reason: format!(
                    "header {names:?} does not match the schema's identifiers {expected:?}"
                ),
            });
        }
    }
    let mut records = csv.into_records();
    loop {
        let mut batch = Vec::with_capacity(BATCH);
        for record in records.by_ref().take(BATCH) {
            batch.push(record.map_err(|e| Error::Csv {
                reason: e.to_string(),
            })?);
        }
        if batch.is_empty() {
            break;
        }
        let rows: Vec<Vec<&str>> = batch.iter().map(|r| r.iter().collect()).collect();
        batches.add(&rows)?;
        progress(batch.len() as u64);
    }
    let encoded = batches.finish()?;
    if encoded.is_empty() {
        return Clks::with_record_size(size);
    }
    Clks::from_concatenated(&encoded, size)
}
