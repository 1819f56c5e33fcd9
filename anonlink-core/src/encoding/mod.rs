//! CLK encodings: the packed in-memory store and its decoders.
//!
//! [`Clks`] holds N records of one size (a multiple of 8 bytes) as big-endian 64-bit words,
//! so that bit 0 of a record is the most significant bit of its byte 0 both on the wire and
//! in memory. Popcounts are computed once, on insertion, because every comparison needs them.
//!
//! Decoders for the three wire formats live in submodules and are re-exported here:
//! [`decode_base64_record`] (one record), [`decode_json`] / [`decode_json_slice`] (the
//! `{"clks": [...]}` upload document, streamed) and [`decode_binary`] (records concatenated,
//! with a declared count and size); [`read_path`] reads an encodings file in any of them.

mod base64;
mod binary;
mod file;
mod json;
mod upload;

pub use self::base64::{decode_base64_record, encode_base64_record};
pub(crate) use self::binary::read_full;
pub use self::binary::{decode_binary, encode_binary};
pub use self::file::{EncodingsFile, read_path, size_from_name};
pub use self::json::{decode_json, decode_json_slice, encode_json, encode_json_with_blocks};
pub use self::upload::{
    DEFAULT_BLOCK, Upload, UploadForm, block_id, decode_upload, default_blocks,
};

use crate::error::{Error, Result};

/// One cache line of record storage; records are packed across lines.
///
/// Keeping storage in 64-byte-aligned lines means every record of a 64-, 128- or 256-byte
/// encoding starts on a cache line.
#[repr(C, align(64))]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct Line([u64; 8]);

/// Limits on the record size accepted by the decoders.
///
/// Sizes are in bytes. Whatever the limits, a size must be a positive multiple of 8, since
/// the comparison works on whole 64-bit words.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SizeLimits {
    /// Smallest accepted record size in bytes.
    pub min_bytes: usize,
    /// Largest accepted record size in bytes.
    pub max_bytes: usize,
}

impl Default for SizeLimits {
    /// The reference service's defaults: 1 to 1024 bytes.
    fn default() -> Self {
        SizeLimits {
            min_bytes: 1,
            max_bytes: 1024,
        }
    }
}

impl SizeLimits {
    /// Limits that accept every positive multiple of 8 bytes up to 1 MiB.
    pub fn any() -> Self {
        SizeLimits {
            min_bytes: 8,
            max_bytes: 1 << 20,
        }
    }

    /// Checks the size of the first record, which fixes the size of all others.
    ///
    /// # Errors
    /// [`Error::SizeOutOfRange`] or [`Error::SizeNotMultipleOf8`], naming `index`.
    pub fn check(&self, index: usize, size: usize) -> Result<()> {
        if size < self.min_bytes || size > self.max_bytes {
            return Err(Error::SizeOutOfRange {
                index,
                size,
                min: self.min_bytes,
                max: self.max_bytes,
            });
        }
        if size == 0 || !size.is_multiple_of(8) {
            return Err(Error::SizeNotMultipleOf8 { index, size });
        }
        Ok(())
    }
}

/// N encodings of equal size, packed and ready to compare.
///
/// # Examples
/// ```
/// use anonlink_core::encoding::Clks;
///
/// let mut clks = Clks::with_record_size(8)?;
/// clks.push(&[0xff, 0, 0, 0, 0, 0, 0, 1])?;
/// assert_eq!(clks.len(), 1);
/// assert_eq!(clks.popcount(0), 9);
/// assert_eq!(clks.record_bytes(0), vec![0xff, 0, 0, 0, 0, 0, 0, 1]);
/// # Ok::<(), anonlink_core::Error>(())
/// ```
#[derive(Clone)]
pub struct Clks {
    lines: Vec<Line>,
    words_per_record: usize,
    len: usize,
    popcounts: Vec<u32>,
}

impl std::fmt::Debug for Clks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print the encodings themselves: they are the parties' private data.
        f.debug_struct("Clks")
            .field("len", &self.len)
            .field("bytes_per_record", &self.bytes_per_record())
            .finish()
    }
}

impl Clks {
    /// An empty store for records of `bytes_per_record` bytes.
    ///
    /// # Errors
    /// [`Error::SizeNotMultipleOf8`] (with record index 0) when the size is zero or not a
    /// multiple of 8.
    pub fn with_record_size(bytes_per_record: usize) -> Result<Self> {
        if bytes_per_record == 0 || !bytes_per_record.is_multiple_of(8) {
            return Err(Error::SizeNotMultipleOf8 {
                index: 0,
                size: bytes_per_record,
            });
        }
        Ok(Clks {
            lines: Vec::new(),
            words_per_record: bytes_per_record / 8,
            len: 0,
            popcounts: Vec::new(),
        })
    }

    /// Builds a store from records given one by one, checking each against the first.
    ///
    /// # Errors
    /// Any size error, naming the index of the offending record. An empty input gives
    /// [`Error::NoEncodings`].
    pub fn from_records<I, R>(records: I, limits: &SizeLimits) -> Result<Self>
    where
        I: IntoIterator<Item = R>,
        R: AsRef<[u8]>,
    {
        let mut builder = ClksBuilder::new(*limits);
        for record in records {
            builder.push(record.as_ref())?;
        }
        builder.finish().ok_or(Error::NoEncodings)
    }

    /// Builds a store from records concatenated in one buffer.
    ///
    /// # Errors
    /// [`Error::SizeNotMultipleOf8`] for a bad size, [`Error::Truncated`] when the buffer
    /// is not a whole number of records.
    pub fn from_concatenated(bytes: &[u8], bytes_per_record: usize) -> Result<Self> {
        let mut clks = Clks::with_record_size(bytes_per_record)?;
        let whole = bytes.len() / bytes_per_record;
        if whole * bytes_per_record != bytes.len() {
            return Err(Error::Truncated {
                index: whole,
                got: bytes.len() as u64,
                expected: ((whole + 1) * bytes_per_record) as u64,
            });
        }
        clks.reserve(whole);
        for record in bytes.chunks_exact(bytes_per_record) {
            clks.push_unchecked(record);
        }
        Ok(clks)
    }

    /// Reserves room for `additional` more records.
    pub fn reserve(&mut self, additional: usize) {
        let words = (self.len + additional) * self.words_per_record;
        let lines = words.div_ceil(8);
        self.lines.reserve(lines.saturating_sub(self.lines.len()));
        self.popcounts.reserve(additional);
    }

    /// Appends one record.
    ///
    /// # Errors
    /// [`Error::SizeMismatch`] when the record's size is not this store's size.
    pub fn push(&mut self, record: &[u8]) -> Result<()> {
        if record.len() != self.bytes_per_record() {
            return Err(Error::SizeMismatch {
                index: self.len,
                got: record.len(),
                expected: self.bytes_per_record(),
            });
        }
        self.push_unchecked(record);
        Ok(())
    }

    fn push_unchecked(&mut self, record: &[u8]) {
        let words = self.next_slot();
        let mut popcount = 0u32;
        for (word, bytes) in words.iter_mut().zip(record.chunks_exact(8)) {
            let mut be = [0u8; 8];
            be.copy_from_slice(bytes);
            *word = u64::from_be_bytes(be);
            popcount += word.count_ones();
        }
        self.popcounts.push(popcount);
        self.len += 1;
    }

    /// The words of a new record at the end, grown into the storage; the caller fills
    /// them and records the popcount.
    fn next_slot(&mut self) -> &mut [u64] {
        let start = self.len * self.words_per_record;
        let end = start + self.words_per_record;
        let lines_needed = end.div_ceil(8);
        if self.lines.len() < lines_needed {
            self.lines.resize(lines_needed, Line([0; 8]));
        }
        let words: &mut [u64] = bytemuck::cast_slice_mut(&mut self.lines);
        &mut words[start..end]
    }

    /// Number of records.
    pub fn len(&self) -> usize {
        self.len
    }

    /// True when there are no records.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Size of each record in bytes.
    pub fn bytes_per_record(&self) -> usize {
        self.words_per_record * 8
    }

    /// Size of each record in 64-bit words.
    pub fn words_per_record(&self) -> usize {
        self.words_per_record
    }

    /// Size of each record in bits.
    pub fn bits_per_record(&self) -> usize {
        self.words_per_record * 64
    }

    /// All records' words, record after record.
    pub fn words(&self) -> &[u64] {
        let words: &[u64] = bytemuck::cast_slice(&self.lines);
        &words[..self.len * self.words_per_record]
    }

    /// The words of record `index`.
    ///
    /// # Panics
    /// When `index >= len()`.
    pub fn record_words(&self, index: usize) -> &[u64] {
        let start = index * self.words_per_record;
        &self.words()[start..start + self.words_per_record]
    }

    /// The bytes of record `index`, as they were decoded.
    ///
    /// # Panics
    /// When `index >= len()`.
    pub fn record_bytes(&self, index: usize) -> Vec<u8> {
        self.record_words(index)
            .iter()
            .flat_map(|w| w.to_be_bytes())
            .collect()
    }

    /// Number of set bits of record `index`.
    ///
    /// # Panics
    /// When `index >= len()`.
    pub fn popcount(&self, index: usize) -> u32 {
        self.popcounts[index]
    }

    /// Number of set bits of every record.
    pub fn popcounts(&self) -> &[u32] {
        &self.popcounts
    }

    /// Appends every record of `other`, which must have this store's record size.
    ///
    /// # Panics
    /// When the record sizes differ.
    pub fn append(&mut self, other: &Clks) {
        assert_eq!(
            self.words_per_record, other.words_per_record,
            "records must have the same size"
        );
        self.reserve(other.len());
        for i in 0..other.len() {
            self.next_slot().copy_from_slice(other.record_words(i));
            self.popcounts.push(other.popcount(i));
            self.len += 1;
        }
    }

    /// A new store with the given rows, in the given order.
    ///
    /// # Panics
    /// When a row is out of range.
    pub fn select(&self, rows: &[u32]) -> Clks {
        let mut out = Clks {
            lines: Vec::new(),
            words_per_record: self.words_per_record,
            len: 0,
            popcounts: Vec::with_capacity(rows.len()),
        };
        let words_needed = rows.len() * self.words_per_record;
        out.lines.resize(words_needed.div_ceil(8), Line([0; 8]));
        {
            let dst: &mut [u64] = bytemuck::cast_slice_mut(&mut out.lines);
            for (i, &row) in rows.iter().enumerate() {
                let row = row as usize;
                dst[i * self.words_per_record..(i + 1) * self.words_per_record]
                    .copy_from_slice(self.record_words(row));
                out.popcounts.push(self.popcounts[row]);
            }
        }
        out.len = rows.len();
        out
    }
}

/// Builds a [`Clks`] from records whose size is only known once the first one arrives.
///
/// The first record's size is checked against the [`SizeLimits`]; every later record must
/// have the same size. Errors name the record's index.
#[derive(Debug)]
pub struct ClksBuilder {
    limits: SizeLimits,
    clks: Option<Clks>,
    index: usize,
}

impl ClksBuilder {
    /// A builder with the given limits.
    pub fn new(limits: SizeLimits) -> Self {
        ClksBuilder {
            limits,
            clks: None,
            index: 0,
        }
    }

    /// Number of records pushed so far; also the index the next record will get.
    pub fn len(&self) -> usize {
        self.index
    }

    /// True when no record was pushed yet.
    pub fn is_empty(&self) -> bool {
        self.index == 0
    }

    /// Adds one record.
    ///
    /// # Errors
    /// A size error naming the record's index.
    pub fn push(&mut self, record: &[u8]) -> Result<()> {
        let clks = match &mut self.clks {
            Some(clks) => clks,
            None => {
                self.limits.check(self.index, record.len())?;
                self.clks.insert(Clks::with_record_size(record.len())?)
            }
        };
        clks.push(record)?;
        self.index += 1;
        Ok(())
    }

    /// The records pushed, or `None` when there were none.
    pub fn finish(self) -> Option<Clks> {
        self.clks
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_bytes_and_counts_bits() {
        let records: Vec<Vec<u8>> = (0..20u8)
            .map(|i| (0..16).map(|j| i.wrapping_mul(31) ^ j).collect())
            .collect();
        let clks = Clks::from_records(&records, &SizeLimits::any()).unwrap();
        assert_eq!(clks.len(), 20);
        for (i, r) in records.iter().enumerate() {
            assert_eq!(&clks.record_bytes(i), r);
            let ones: u32 = r.iter().map(|b| b.count_ones()).sum();
            assert_eq!(clks.popcount(i), ones);
        }
        let mut twice = clks.select(&[3]);
        twice.append(&clks.select(&[1, 2]));
        assert_eq!(twice.len(), 3);
        assert_eq!(twice.record_bytes(2), records[2]);
        assert_eq!(twice.popcount(1), clks.popcount(1));
        let picked = clks.select(&[3, 1]);
        assert_eq!(picked.record_bytes(0), records[3]);
        assert_eq!(picked.record_bytes(1), records[1]);
        assert_eq!(picked.popcounts(), &[clks.popcount(3), clks.popcount(1)]);
    }

    #[test]
    fn bit_zero_is_msb_of_byte_zero() {
        let clks = Clks::from_concatenated(&[0x80, 0, 0, 0, 0, 0, 0, 0], 8).unwrap();
        assert_eq!(clks.record_words(0)[0], 1 << 63);
    }

    #[test]
    fn size_errors_name_the_record() {
        let err =
            Clks::from_records([vec![0u8; 16], vec![0u8; 8]], &SizeLimits::any()).unwrap_err();
        assert!(matches!(
            err,
            Error::SizeMismatch {
                index: 1,
                got: 8,
                expected: 16
            }
        ));
        let err = Clks::from_records([vec![0u8; 12]], &SizeLimits::any()).unwrap_err();
        assert!(matches!(
            err,
            Error::SizeNotMultipleOf8 { index: 0, size: 12 }
        ));
        let err = Clks::from_records([vec![0u8; 2048]], &SizeLimits::default()).unwrap_err();
        assert!(matches!(err, Error::SizeOutOfRange { index: 0, .. }));
        assert!(matches!(
            Clks::from_records(Vec::<Vec<u8>>::new(), &SizeLimits::default()),
            Err(Error::NoEncodings)
        ));
        assert!(Clks::from_concatenated(&[0; 20], 8).is_err());
    }

    #[test]
    fn debug_never_shows_data() {
        let clks = Clks::from_concatenated(&[0xab; 8], 8).unwrap();
        let shown = format!("{clks:?}");
        assert!(shown.contains("len: 1") && !shown.contains("171"));
    }
}
