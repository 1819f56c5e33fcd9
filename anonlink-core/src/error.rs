//! The one error type of the core.
//!
//! Every variant says what the input did wrong and where (record index, dataset index,
//! byte offset), so that shells can show it as is: messages are lowercase, without a
//! trailing period and without an "error:" prefix.

/// Result type of the core.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong in the core.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A record was not valid base64.
    #[error("record {index}: invalid base64: {reason}")]
    Base64 {
        /// Index of the record in its document.
        index: usize,
        /// What the base64 decoder reported.
        reason: String,
    },
    /// A record's size differs from the size of the first record.
    #[error("record {index}: {got} bytes, expected {expected} (the size of record 0)")]
    SizeMismatch {
        /// Index of the record.
        index: usize,
        /// Its size in bytes.
        got: usize,
        /// The size of record 0.
        expected: usize,
    },
    /// A record's size is not a whole number of 64-bit words.
    #[error("record {index}: {size} bytes is not a multiple of 8")]
    SizeNotMultipleOf8 {
        /// Index of the record.
        index: usize,
        /// Its size in bytes.
        size: usize,
    },
    /// A record's size is outside the configured limits.
    #[error("record {index}: {size} bytes is outside the allowed range {min}..={max}")]
    SizeOutOfRange {
        /// Index of the record.
        index: usize,
        /// Its size in bytes.
        size: usize,
        /// Smallest allowed size in bytes.
        min: usize,
        /// Largest allowed size in bytes.
        max: usize,
    },
    /// A binary body ended before the declared number of records.
    #[error("record {index}: body ended after {got} of {expected} bytes")]
    Truncated {
        /// Index of the first incomplete record.
        index: usize,
        /// Bytes read in all.
        got: u64,
        /// Bytes the declared count and size call for.
        expected: u64,
    },
    /// A binary body had bytes left after the declared number of records.
    #[error("body has more than the declared {count} records of {size} bytes")]
    TrailingData {
        /// Declared number of records.
        count: usize,
        /// Declared record size in bytes.
        size: usize,
    },
    /// A JSON document could not be read.
    #[error("invalid JSON document: {reason}")]
    Json {
        /// What the JSON parser reported, with line and column.
        reason: String,
    },
    /// A JSON document had no `clks` list, or an empty one.
    #[error("JSON document has no encodings (expected a non-empty \"clks\" list)")]
    NoEncodings,
    /// Two datasets to be compared have records of different sizes.
    #[error(
        "dataset {dataset}: records of {got} bytes, but dataset 0 has records of {expected} bytes"
    )]
    DatasetSizeMismatch {
        /// Index of the dataset.
        dataset: usize,
        /// Its record size in bytes.
        got: usize,
        /// The record size of dataset 0.
        expected: usize,
    },
    /// Fewer than two datasets were given where at least two are needed.
    #[error("need at least 2 datasets, got {got}")]
    TooFewDatasets {
        /// Number of datasets given.
        got: usize,
    },
    /// A dataset has more records than a `u32` row index can address.
    #[error("dataset {dataset}: {len} records is more than the supported {max}")]
    DatasetTooLarge {
        /// Index of the dataset.
        dataset: usize,
        /// Its number of records.
        len: usize,
        /// Largest supported number of records.
        max: usize,
    },
    /// A threshold outside its allowed range.
    #[error("threshold {value} is outside {range}")]
    Threshold {
        /// The value given.
        value: f64,
        /// The allowed range, as text.
        range: &'static str,
    },
    /// A merge threshold outside (0, 1].
    #[error("merge threshold {value} is outside (0, 1]")]
    MergeThreshold {
        /// The value given.
        value: f64,
    },
    /// `k` of zero for top-k candidate generation.
    #[error("k must be at least 1")]
    ZeroK,
    /// Blocks given for a different number of datasets or records.
    #[error("blocks: {reason}")]
    Blocks {
        /// What does not fit.
        reason: String,
    },
    /// Records or block lists that do not fit a chunk's row ranges.
    #[error("chunk: {reason}")]
    Chunk {
        /// What does not fit.
        reason: String,
    },
    /// A result type that needs exactly two datasets got another number.
    #[error("{what} needs exactly 2 datasets, got {got}")]
    NotTwoParty {
        /// The result type.
        what: &'static str,
        /// Number of datasets.
        got: usize,
    },
    /// A group referred to a dataset or row that does not exist.
    #[error("record ({dataset}, {row}) is outside the dataset sizes {sizes:?}")]
    RecordOutOfRange {
        /// Dataset index.
        dataset: u32,
        /// Row index.
        row: u32,
        /// Sizes of the datasets.
        sizes: Vec<usize>,
    },
    /// Groups that do not form a one-to-one matching between two datasets.
    #[error("not a one-to-one matching: {reason}")]
    NotOneToOne {
        /// What breaks it.
        reason: String,
    },
    /// A candidate-pair file did not follow the format.
    #[error("candidate file: {reason}")]
    CandidateFile {
        /// What is wrong, with the byte offset where it applies.
        reason: String,
    },
    /// Candidate pairs that were expected in canonical order are not.
    #[error("candidate pairs are not in canonical order at index {index}")]
    Unsorted {
        /// Index of the first pair out of order.
        index: usize,
    },
    /// The progress callback asked to stop.
    #[error("cancelled")]
    Cancelled,
    /// A linkage schema that cannot be used; names the feature where one is at fault.
    #[error("schema: {}{reason}", feature.as_ref().map(|(i, id)| format!("feature {i} ({id:?}): ")).unwrap_or_default())]
    Schema {
        /// Index and identifier of the feature at fault, if one is.
        feature: Option<(usize, String)>,
        /// What is wrong.
        reason: String,
    },
    /// A record value that cannot be encoded (or fails validation).
    #[error("row {row}, field {field:?}: {reason}")]
    Value {
        /// Row of the record (0-based, not counting a header).
        row: usize,
        /// The field's identifier.
        field: String,
        /// What is wrong.
        reason: String,
    },
    /// Records with values that fail validation or cannot be encoded: how many, and the
    /// first of them (row and field each).
    #[error("{count} invalid values{}; {}", if *count > problems.len() { format!(" (the first {})", problems.len()) } else { String::new() }, problems.join("; "))]
    InvalidValues {
        /// Number of bad values.
        count: usize,
        /// The first bad values, each "row R, field F: reason".
        problems: Vec<String>,
    },
    /// A CSV input that cannot be read.
    #[error("csv: {reason}")]
    Csv {
        /// What is wrong, with the row where it applies.
        reason: String,
    },
    /// Input that cannot be used as given, and why (for example a file name without the
    /// record size it needs).
    #[error("{reason}")]
    Usage {
        /// What is wrong.
        reason: String,
    },
    /// Reading a file failed; names the file. (The cause is part of the message, not a
    /// separate source, so that error chains do not print it twice.)
    #[error("{path}: {cause}")]
    File {
        /// The file.
        path: String,
        /// What went wrong.
        cause: Box<Error>,
    },
    /// Candidates could not be spilled to (or read back from) their temporary directory:
    /// typically a full disk.
    #[error(
        "spilling candidates to {dir}: {reason} (give more memory, or a directory on a disk with more room)"
    )]
    Spill {
        /// The directory.
        dir: String,
        /// What failed.
        reason: String,
    },
    /// Reading or writing failed.
    #[error("i/o error: {0}")]
    Io(#[from] std::io::Error),
    /// A GPU cannot be used (no driver or device, a build without the `gpu` feature) or
    /// failed; callers fall back to the CPU where they can.
    #[error("gpu: {reason}")]
    Device {
        /// What happened.
        reason: String,
    },
    /// The scores cannot be modelled: too few, all alike, or not telling matches from
    /// non-matches (the estimate refuses rather than guesses).
    #[error("cannot estimate the linkage quality: {reason}")]
    Estimation {
        /// What is wrong with the scores.
        reason: String,
    },
    /// A blocking schema that cannot be used; names the field (a dotted path) at fault.
    #[error("blocking schema: {}{reason}", if field.is_empty() { String::new() } else { format!("{field}: ") })]
    BlockingSchema {
        /// Dotted path of the field at fault (`config.filter.max`), empty for the document.
        field: String,
        /// What is wrong, with the value.
        reason: String,
    },
    /// Records that cannot be blocked with a valid schema.
    #[error("blocking: {}{reason}", row.map(|r| format!("row {r}: ")).unwrap_or_default())]
    Blocking {
        /// The record at fault (0-based, header not counted), if one is.
        row: Option<usize>,
        /// What is wrong.
        reason: String,
    },
}

impl Error {
    /// The record index an input error points at, where there is one.
    pub fn record_index(&self) -> Option<usize> {
        match self {
            Error::Base64 { index, .. }
            | Error::SizeMismatch { index, .. }
            | Error::SizeNotMultipleOf8 { index, .. }
            | Error::SizeOutOfRange { index, .. }
            | Error::Truncated { index, .. } => Some(*index),
            _ => None,
        }
    }
}
