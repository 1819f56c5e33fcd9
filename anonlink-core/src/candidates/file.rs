//! The reference library's candidate-pair file format.
//!
//! A 4-byte header — version `1`, then the byte sizes of the score, of a dataset index and
//! of a record index — followed by entries of score, two dataset indices and two record
//! indices, all little-endian, with no count (the file length gives it). We write
//! `01 08 04 04` (f64 scores, u32 indices) and read f32/f64 scores and 1-, 2-, 4- or 8-byte
//! indices, as the reference's loader does.

use std::cmp::Ordering;
use std::collections::BinaryHeap;
use std::io::{BufRead, BufReader, BufWriter, Read, Write};

use super::CandidatePair;
use crate::encoding::read_full;
use crate::error::{Error, Result};

const HEADER: [u8; 4] = [1, 8, 4, 4];

/// Bytes of the header.
pub(super) const HEADER_LEN: usize = HEADER.len();

/// Writes pairs with the header `01 08 04 04`.
///
/// # Errors
/// [`Error::Io`] when writing fails.
pub fn write_file<'a, W: Write>(
    pairs: impl IntoIterator<Item = &'a CandidatePair>,
    writer: W,
) -> Result<()> {
    let mut writer = BufWriter::new(writer);
    writer.write_all(&HEADER)?;
    for p in pairs {
        write_entry(&mut writer, p)?;
    }
    writer.flush()?;
    Ok(())
}

/// Writes a stream of pairs as a candidate file; returns how many were written.
///
/// # Errors
/// The stream's first error; [`Error::Io`] when writing fails.
pub fn write_stream<W: Write>(
    pairs: impl Iterator<Item = Result<CandidatePair>>,
    writer: W,
) -> Result<u64> {
    let mut writer = BufWriter::with_capacity(1 << 20, writer);
    writer.write_all(&HEADER)?;
    let mut n = 0;
    for p in pairs {
        write_entry(&mut writer, &p?)?;
        n += 1;
    }
    writer.flush()?;
    Ok(n)
}

fn write_entry<W: Write>(writer: &mut W, p: &CandidatePair) -> Result<()> {
    writer.write_all(&entry_bytes(p))?;
    Ok(())
}

fn entry_bytes(p: &CandidatePair) -> [u8; 24] {
    let mut entry = [0u8; 24];
    entry[0..8].copy_from_slice(&p.score.to_le_bytes());
    entry[8..12].copy_from_slice(&p.dataset0.to_le_bytes());
    entry[12..16].copy_from_slice(&p.dataset1.to_le_bytes());
    entry[16..20].copy_from_slice(&p.row0.to_le_bytes());
    entry[20..24].copy_from_slice(&p.row1.to_le_bytes());
    entry
}

/// A stream of pairs read as a candidate file, made as it is read: the bytes of one entry
/// at a time, never a copy of them all. This is how a stream goes into a blob store or a
/// merge without a temporary file in between.
///
/// The stream's first error ends the file with an [`std::io::Error`] that only says so;
/// [`StreamAsFile::take_error`] gives the error itself, to report instead of the reader's.
///
/// # Examples
/// ```
/// use std::io::Read;
/// use anonlink_core::candidates::{read_file, CandidatePair, StreamAsFile};
///
/// let pairs = vec![CandidatePair { score: 0.9, dataset0: 0, dataset1: 1, row0: 4, row1: 2 }];
/// let mut file = StreamAsFile::new(pairs.clone().into_iter().map(Ok));
/// let mut bytes = Vec::new();
/// file.read_to_end(&mut bytes)?;
/// assert_eq!(file.pairs_read(), 1);
/// assert_eq!(read_file(&bytes[..])?, pairs);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct StreamAsFile<I> {
    pairs: I,
    pending: [u8; 24],
    at: usize,
    end: usize,
    read: u64,
    error: Option<Error>,
}

impl<I: Iterator<Item = Result<CandidatePair>>> StreamAsFile<I> {
    /// The file of `pairs`, its header first.
    pub fn new(pairs: impl IntoIterator<IntoIter = I>) -> StreamAsFile<I> {
        let mut pending = [0u8; 24];
        pending[..HEADER_LEN].copy_from_slice(&HEADER);
        StreamAsFile {
            pairs: pairs.into_iter(),
            pending,
            at: 0,
            end: HEADER_LEN,
            read: 0,
            error: None,
        }
    }

    /// How many pairs the stream has given so far.
    pub fn pairs_read(&self) -> u64 {
        self.read
    }

    /// The error that ended the stream, if one did.
    pub fn take_error(&mut self) -> Option<Error> {
        self.error.take()
    }
}

impl<I: Iterator<Item = Result<CandidatePair>>> Read for StreamAsFile<I> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let mut written = 0;
        while written < buf.len() {
            if self.at == self.end {
                if self.error.is_some() {
                    return Err(std::io::Error::other("the candidate stream failed"));
                }
                match self.pairs.next() {
                    Some(Ok(p)) => {
                        self.pending = entry_bytes(&p);
                        (self.at, self.end) = (0, 24);
                        self.read += 1;
                    }
                    Some(Err(e)) => {
                        self.error = Some(e);
                        // What was written is returned first; the next call fails.
                        if written == 0 {
                            return Err(std::io::Error::other("the candidate stream failed"));
                        }
                        break;
                    }
                    None => break,
                }
            }
            let n = (self.end - self.at).min(buf.len() - written);
            buf[written..written + n].copy_from_slice(&self.pending[self.at..self.at + n]);
            self.at += n;
            written += n;
        }
        Ok(written)
    }
}

/// Reads every pair of a candidate file, in file order.
///
/// # Errors
/// [`Error::CandidateFile`] for a bad header, an entry cut short, or an index beyond
/// `u32`, naming the byte offset; [`Error::Io`].
///
/// # Examples
/// ```
/// use anonlink_core::candidates::{read_file, write_file, CandidatePair};
///
/// let pairs = vec![CandidatePair { score: 0.9, dataset0: 0, dataset1: 1, row0: 4, row1: 2 }];
/// let mut bytes = Vec::new();
/// write_file(&pairs, &mut bytes)?;
/// assert_eq!(&bytes[..4], &[1, 8, 4, 4]);
/// assert_eq!(read_file(&bytes[..])?, pairs);
/// # Ok::<(), anonlink_core::Error>(())
/// ```
pub fn read_file<R: Read>(reader: R) -> Result<Vec<CandidatePair>> {
    FileReader::new(reader)?.collect()
}

/// Streams the pairs of a candidate file.
#[derive(Debug)]
pub struct FileReader<R: Read> {
    reader: BufReader<R>,
    score_bytes: usize,
    dataset_bytes: usize,
    record_bytes: usize,
    offset: u64,
    done: bool,
}

impl<R: Read> FileReader<R> {
    /// Reads and checks the header.
    ///
    /// # Errors
    /// [`Error::CandidateFile`] for a missing or unsupported header.
    pub fn new(reader: R) -> Result<Self> {
        let mut reader = BufReader::with_capacity(1 << 16, reader);
        let mut header = [0u8; 4];
        let got = read_full(&mut reader, &mut header)?;
        if got < 4 {
            return Err(Error::CandidateFile {
                reason: format!("header is {got} bytes, expected 4"),
            });
        }
        let [version, score_bytes, dataset_bytes, record_bytes] = header.map(usize::from);
        if version != 1 {
            return Err(Error::CandidateFile {
                reason: format!("unsupported version {version}"),
            });
        }
        if score_bytes != 4 && score_bytes != 8 {
            return Err(Error::CandidateFile {
                reason: format!("floats of {score_bytes} bytes are not supported"),
            });
        }
        for size in [dataset_bytes, record_bytes] {
            if ![1, 2, 4, 8].contains(&size) {
                return Err(Error::CandidateFile {
                    reason: format!("indices of {size} bytes are not supported"),
                });
            }
        }
        Ok(FileReader {
            reader,
            score_bytes,
            dataset_bytes,
            record_bytes,
            offset: 4,
            done: false,
        })
    }

    fn entry_bytes(&self) -> usize {
        self.score_bytes + 2 * self.dataset_bytes + 2 * self.record_bytes
    }

    fn next_entry(&mut self) -> Result<Option<CandidatePair>> {
        let size = self.entry_bytes();
        let widths = [self.score_bytes, self.dataset_bytes, self.record_bytes];
        let at = self.offset;
        // Parsed where the buffer holds it, without copying it out first: a merge reads
        // tens of millions of entries, and the copy cost as much as the parse.
        let buffered = self.reader.fill_buf()?;
        if buffered.len() >= size {
            let pair = parse_entry(&buffered[..size], widths, at)?;
            self.reader.consume(size);
            self.offset += size as u64;
            return Ok(Some(pair));
        }
        // An entry across the buffer's end.
        let mut buf = [0u8; 40];
        let entry = &mut buf[..size];
        let got = read_full(&mut self.reader, entry)?;
        if got == 0 {
            return Ok(None);
        }
        if got < size {
            return Err(Error::CandidateFile {
                reason: format!("entry at byte {at} is cut short: {got} of {size} bytes"),
            });
        }
        self.offset += size as u64;
        parse_entry(entry, widths, at).map(Some)
    }
}

/// One entry of `widths` (score, dataset index and record index bytes), found at byte `at`.
#[inline]
fn parse_entry(entry: &[u8], widths: [usize; 3], at: u64) -> Result<CandidatePair> {
    let u32_at = |pos: usize| {
        u32::from_le_bytes([entry[pos], entry[pos + 1], entry[pos + 2], entry[pos + 3]])
    };
    if widths == [8, 4, 4] {
        // What this crate writes.
        let mut score = [0u8; 8];
        score.copy_from_slice(&entry[..8]);
        return Ok(CandidatePair {
            score: f64::from_le_bytes(score),
            dataset0: u32_at(8),
            dataset1: u32_at(12),
            row0: u32_at(16),
            row1: u32_at(20),
        });
    }
    let [score_bytes, dataset_bytes, record_bytes] = widths;
    let score = if score_bytes == 8 {
        f64::from_le_bytes(entry[..8].try_into().expect("8 bytes"))
    } else {
        f64::from(f32::from_le_bytes(entry[..4].try_into().expect("4 bytes")))
    };
    let mut pos = score_bytes;
    let mut index = |width: usize| -> Result<u32> {
        let mut le = [0u8; 8];
        le[..width].copy_from_slice(&entry[pos..pos + width]);
        pos += width;
        let value = u64::from_le_bytes(le);
        u32::try_from(value).map_err(|_| Error::CandidateFile {
            reason: format!("entry at byte {at}: index {value} does not fit in 32 bits"),
        })
    };
    let dataset0 = index(dataset_bytes)?;
    let dataset1 = index(dataset_bytes)?;
    let row0 = index(record_bytes)?;
    let row1 = index(record_bytes)?;
    Ok(CandidatePair {
        score,
        dataset0,
        dataset1,
        row0,
        row1,
    })
}

impl<R: Read> Iterator for FileReader<R> {
    type Item = Result<CandidatePair>;
    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        match self.next_entry() {
            Ok(Some(p)) => Some(Ok(p)),
            Ok(None) => {
                self.done = true;
                None
            }
            Err(e) => {
                self.done = true;
                Some(Err(e))
            }
        }
    }
}

/// Pairs of several sorted candidate files, merged into canonical order (k-way, streaming:
/// one pending pair per input in memory). Made by [`merge_sorted`].
pub struct MergedPairs<R: Read> {
    readers: Vec<FileReader<R>>,
    heap: BinaryHeap<Head>,
    last: Option<CandidatePair>,
    yielded: usize,
    failed: bool,
}

#[derive(Clone, Copy)]
struct Head {
    pair: CandidatePair,
    source: usize,
}

impl PartialEq for Head {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for Head {}

impl PartialOrd for Head {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Head {
    // BinaryHeap is a max-heap: reverse so the canonically first pair pops first.
    fn cmp(&self, other: &Self) -> Ordering {
        other
            .pair
            .canonical_cmp(&self.pair)
            .then(other.source.cmp(&self.source))
    }
}

/// Merges candidate files, each in canonical order, into one canonical sequence.
///
/// # Errors
/// A bad header or first entry of an input ([`Error::CandidateFile`], [`Error::Io`]). The
/// iterator yields later read errors, and [`Error::Unsorted`] when an input is out of order
/// (the index counts pairs yielded so far); it stops after an error.
///
/// # Examples
/// ```
/// use anonlink_core::candidates::{merge_sorted, write_file, CandidatePair};
///
/// let pair = |score, row0| CandidatePair { score, dataset0: 0, dataset1: 1, row0, row1: 0 };
/// let (mut a, mut b) = (Vec::new(), Vec::new());
/// write_file(&[pair(0.9, 0), pair(0.5, 1)], &mut a)?;
/// write_file(&[pair(0.7, 2)], &mut b)?;
/// let merged = merge_sorted(vec![&a[..], &b[..]])?.collect::<Result<Vec<_>, _>>()?;
/// assert_eq!(merged.iter().map(|p| p.row0).collect::<Vec<_>>(), [0, 2, 1]);
/// # Ok::<(), anonlink_core::Error>(())
/// ```
pub fn merge_sorted<R: Read>(inputs: Vec<R>) -> Result<MergedPairs<R>> {
    let mut readers = inputs
        .into_iter()
        .map(FileReader::new)
        .collect::<Result<Vec<_>>>()?;
    let mut heap = BinaryHeap::new();
    for (source, reader) in readers.iter_mut().enumerate() {
        if let Some(pair) = reader.next().transpose()? {
            heap.push(Head { pair, source });
        }
    }
    Ok(MergedPairs {
        readers,
        heap,
        last: None,
        yielded: 0,
        failed: false,
    })
}

impl<R: Read> MergedPairs<R> {
    fn advance(&mut self) -> Result<Option<CandidatePair>> {
        let Some(mut top) = self.heap.peek_mut() else {
            return Ok(None);
        };
        let Head { pair, source } = *top;
        if let Some(prev) = self.last
            && prev.canonical_cmp(&pair) == Ordering::Greater
        {
            return Err(Error::Unsorted {
                index: self.yielded,
            });
        }
        // Replacing the top in place sifts once, instead of a pop and a push.
        match self.readers[source].next().transpose()? {
            Some(next) => top.pair = next,
            None => {
                std::collections::binary_heap::PeekMut::pop(top);
            }
        }
        self.last = Some(pair);
        self.yielded += 1;
        Ok(Some(pair))
    }
}

impl<R: Read> Iterator for MergedPairs<R> {
    type Item = Result<CandidatePair>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed {
            return None;
        }
        let next = self.advance();
        if next.is_err() {
            self.failed = true;
        }
        next.transpose()
    }
}

/// Merges sorted candidate files into one sorted file (k-way, streaming).
///
/// Each input must be in canonical order; the output is too, with the header `01 08 04 04`.
/// Returns the number of pairs written.
///
/// # Errors
/// As [`merge_sorted`].
pub fn merge_files<R: Read, W: Write>(inputs: Vec<R>, writer: W) -> Result<u64> {
    let mut writer = BufWriter::new(writer);
    writer.write_all(&HEADER)?;
    let mut written = 0u64;
    for pair in merge_sorted(inputs)? {
        write_entry(&mut writer, &pair?)?;
        written += 1;
    }
    writer.flush()?;
    Ok(written)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pairs_in_memory_read_as_their_file() {
        let pairs: Vec<CandidatePair> = (0..1000u32)
            .map(|i| CandidatePair {
                score: 1.0 - f64::from(i) / 2000.0,
                dataset0: i % 3,
                dataset1: 3 + i % 2,
                row0: i,
                row1: i * 7,
            })
            .collect();
        let mut expected = Vec::new();
        write_file(&pairs, &mut expected).unwrap();
        // Read in odd-sized pieces, as a buffered reader might.
        let mut reader = StreamAsFile::new(pairs.clone().into_iter().map(Ok));
        let mut got = Vec::new();
        let mut piece = [0u8; 37];
        loop {
            let n = reader.read(&mut piece).unwrap();
            if n == 0 {
                break;
            }
            got.extend_from_slice(&piece[..n]);
        }
        assert_eq!(got, expected);
        assert_eq!(reader.pairs_read(), 1000);
        assert!(reader.take_error().is_none());
        let empty = StreamAsFile::new(std::iter::empty::<Result<CandidatePair>>());
        assert_eq!(read_file(empty).unwrap(), Vec::new());
    }

    #[test]
    fn a_failing_stream_fails_its_file_and_keeps_the_cause() {
        let pairs = (0..500u32).map(|i| {
            if i == 300 {
                Err(Error::Cancelled)
            } else {
                Ok(CandidatePair {
                    score: 0.9,
                    dataset0: 0,
                    dataset1: 1,
                    row0: i,
                    row1: i,
                })
            }
        });
        let mut reader = StreamAsFile::new(pairs);
        let mut bytes = Vec::new();
        let read = std::io::copy(&mut reader, &mut bytes);
        assert!(read.is_err(), "the file must not end as if complete");
        // Every pair before the failure was given out, none after it.
        assert_eq!(reader.pairs_read(), 300);
        assert_eq!(bytes.len(), HEADER_LEN + 300 * 24);
        assert!(matches!(reader.take_error(), Some(Error::Cancelled)));
    }

    use crate::testing::pair;

    #[test]
    fn reads_other_widths() {
        // Header 01 04 01 02: f32 scores, u8 dataset, u16 record indices.
        let mut bytes = vec![1, 4, 1, 2];
        bytes.extend(0.5f32.to_le_bytes());
        bytes.extend([0, 2]);
        bytes.extend(300u16.to_le_bytes());
        bytes.extend(7u16.to_le_bytes());
        let pairs = read_file(&bytes[..]).unwrap();
        assert_eq!(
            pairs,
            vec![CandidatePair {
                score: 0.5,
                dataset0: 0,
                dataset1: 2,
                row0: 300,
                row1: 7
            }]
        );
    }

    #[test]
    fn rejects_bad_files() {
        for (bytes, needle) in [
            (&[1u8, 8][..], "header"),
            (&[2, 8, 4, 4][..], "version"),
            (&[1, 2, 4, 4][..], "floats of 2"),
            (&[1, 8, 3, 4][..], "indices of 3"),
            (&[1, 8, 4, 4, 0, 0][..], "cut short"),
        ] {
            let err = read_file(bytes).unwrap_err();
            assert!(err.to_string().contains(needle), "{err}");
        }
        let mut big = vec![1, 8, 8, 8];
        big.extend(1.0f64.to_le_bytes());
        big.extend(u64::MAX.to_le_bytes());
        big.extend([0u8; 24]);
        assert!(
            read_file(&big[..])
                .unwrap_err()
                .to_string()
                .contains("32 bits")
        );
    }

    #[test]
    fn merge_keeps_canonical_order() {
        let a = vec![pair(0.9, 0, 0), pair(0.8, 1, 1), pair(0.8, 3, 0)];
        let b = vec![pair(0.95, 5, 5), pair(0.8, 2, 2), pair(0.1, 0, 9)];
        let (mut fa, mut fb) = (Vec::new(), Vec::new());
        write_file(&a, &mut fa).unwrap();
        write_file(&b, &mut fb).unwrap();
        let mut out = Vec::new();
        assert_eq!(merge_files(vec![&fa[..], &fb[..]], &mut out).unwrap(), 6);
        let merged = read_file(&out[..]).unwrap();
        let mut expected: Vec<_> = a.iter().chain(&b).copied().collect();
        expected.sort_by(CandidatePair::canonical_cmp);
        assert_eq!(merged, expected);

        let unsorted = vec![pair(0.1, 0, 0), pair(0.9, 0, 1)];
        let mut fu = Vec::new();
        write_file(&unsorted, &mut fu).unwrap();
        assert!(matches!(
            merge_files(vec![&fu[..]], Vec::new()),
            Err(Error::Unsorted { .. })
        ));
    }
}
