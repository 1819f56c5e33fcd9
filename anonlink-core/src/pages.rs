//! Where large buffers of words live: on transparent huge pages.
//!
//! The comparison streams every tile of interleaved encodings past every block of queries,
//! and a low threshold writes hundreds of megabytes of sort keys. On 4 KiB pages both pay
//! for address translation: a 256 KiB tile spans 64 pages, and on a virtual machine a
//! missed translation walks two page tables and a first touch of a page costs microseconds
//! (a third of a second per 355 MB here). On 2 MiB pages a tile is one translation and a
//! buffer faults in 512 times less often: in paired runs of a 100K × 100K linkage, 0.72×
//! the wall time at 0.8 and 0.93× at 0.75 (where writing the keys' fresh memory, which
//! huge pages do not make cheaper, is most of the rest).
//!
//! Linux only gives huge pages to memory that asks for them (`madvise`, the default of
//! most distributions), and the allocator does not ask, so a buffer of at least
//! [`HUGE_PAGE`] bytes gets an anonymous mapping of its own with that advice. Elsewhere, or
//! when the mapping fails, it is an ordinary vector: the advice changes speed, never
//! results.

use std::ops::{Deref, DerefMut};

/// Bytes of a transparent huge page on x86-64 and most aarch64 kernels; smaller buffers
/// would not fill one.
const HUGE_PAGE: usize = 2 << 20;

/// A buffer of `u64`, on huge pages where it is large enough and the system allows: a
/// vector that grows by appending, sized up front where the most it will hold is known.
pub(crate) struct Words {
    storage: Storage,
}

enum Storage {
    /// An anonymous mapping advised onto huge pages (page-aligned, so it casts to words),
    /// its first `len` words in use.
    Mapped {
        map: memmap2::MmapMut,
        len: usize,
    },
    Heap(Vec<u64>),
}

impl Words {
    /// `len` zero words.
    pub(crate) fn zeroed(len: usize) -> Words {
        let mut words = Words::with_capacity(len);
        match &mut words.storage {
            // A fresh mapping reads as zeros.
            Storage::Mapped { len: used, .. } => *used = len,
            Storage::Heap(v) => v.resize(len, 0),
        }
        words
    }

    /// No words, with room for `capacity` before the buffer has to move. A mapping only
    /// reserves address space: pages are backed as they are written.
    pub(crate) fn with_capacity(capacity: usize) -> Words {
        let bytes = capacity.saturating_mul(std::mem::size_of::<u64>());
        let storage = match mapped(bytes) {
            Some(map) => Storage::Mapped { map, len: 0 },
            // A large buffer the system would not map grows as it fills instead.
            None if bytes >= HUGE_PAGE => Storage::Heap(Vec::new()),
            None => Storage::Heap(Vec::with_capacity(capacity)),
        };
        Words { storage }
    }

    /// Words the buffer holds before it has to move.
    fn capacity(&self) -> usize {
        match &self.storage {
            Storage::Mapped { map, .. } => map.len() / std::mem::size_of::<u64>(),
            Storage::Heap(v) => v.capacity(),
        }
    }

    /// Appends `more`; past the capacity, the words move to a buffer twice as large.
    pub(crate) fn extend_from_slice(&mut self, more: &[u64]) {
        let wanted = self.len() + more.len();
        if let Storage::Mapped { .. } = self.storage
            && wanted > self.capacity()
        {
            let mut bigger = Words::with_capacity(wanted.max(2 * self.capacity()));
            bigger.extend_from_slice(self);
            *self = bigger;
        }
        match &mut self.storage {
            Storage::Mapped { map, len } => {
                let words: &mut [u64] = bytemuck::cast_slice_mut(&mut map[..]);
                words[*len..wanted].copy_from_slice(more);
                *len = wanted;
            }
            Storage::Heap(v) => v.extend_from_slice(more),
        }
    }

    /// Removes every word, keeping the memory.
    pub(crate) fn clear(&mut self) {
        match &mut self.storage {
            Storage::Mapped { len, .. } => *len = 0,
            Storage::Heap(v) => v.clear(),
        }
    }

    /// True when the words are in a mapping of their own (advised onto huge pages).
    #[cfg(test)]
    fn is_mapped(&self) -> bool {
        matches!(self.storage, Storage::Mapped { .. })
    }
}

impl Default for Words {
    /// No words, and no memory.
    fn default() -> Words {
        Words::from(Vec::new())
    }
}

impl From<Vec<u64>> for Words {
    /// The vector's words, where they are.
    fn from(words: Vec<u64>) -> Words {
        Words {
            storage: Storage::Heap(words),
        }
    }
}

impl IntoIterator for Words {
    type Item = u64;
    type IntoIter = WordsIter;

    fn into_iter(self) -> WordsIter {
        match self.storage {
            Storage::Heap(v) => WordsIter {
                words: Words::default(),
                at: 0,
                batch: v,
                next: 0,
            },
            mapped => WordsIter {
                words: Words { storage: mapped },
                at: 0,
                batch: Vec::with_capacity(BATCH),
                next: 0,
            },
        }
    }
}

/// The words of a [`Words`] in order, copied out of a mapping a batch at a time so that
/// each word costs what a vector's iterator costs.
pub(crate) struct WordsIter {
    words: Words,
    /// Words of `words` already copied into a batch.
    at: usize,
    batch: Vec<u64>,
    /// The next word's place in `batch`.
    next: usize,
}

/// Words copied out of a mapping at a time (64 KiB: stays in the second-level cache, and
/// is a small share of any mapped buffer).
const BATCH: usize = 1 << 13;

impl WordsIter {
    #[cold]
    #[inline(never)]
    fn next_batch(&mut self) -> Option<u64> {
        let end = (self.at + BATCH).min(self.words.len());
        if self.at == end {
            return None;
        }
        self.batch.clear();
        self.batch.extend_from_slice(&self.words[self.at..end]);
        self.at = end;
        self.next = 1;
        self.batch.first().copied()
    }
}

impl Iterator for WordsIter {
    type Item = u64;

    #[inline]
    fn next(&mut self) -> Option<u64> {
        match self.batch.get(self.next) {
            Some(&w) => {
                self.next += 1;
                Some(w)
            }
            None => self.next_batch(),
        }
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let left = (self.batch.len() - self.next) + (self.words.len() - self.at);
        (left, Some(left))
    }
}

/// An anonymous mapping of `bytes` advised onto huge pages, when `bytes` fills at least
/// one and the system gives one.
fn mapped(bytes: usize) -> Option<memmap2::MmapMut> {
    if bytes < HUGE_PAGE {
        return None;
    }
    let map = memmap2::MmapMut::map_anon(bytes).ok()?;
    #[cfg(target_os = "linux")]
    {
        // Refused (a kernel without transparent huge pages): 4 KiB pages, same contents.
        let _ = map.advise(memmap2::Advice::HugePage);
    }
    Some(map)
}

impl Deref for Words {
    type Target = [u64];

    #[inline]
    fn deref(&self) -> &[u64] {
        match &self.storage {
            Storage::Mapped { map, len } => &bytemuck::cast_slice(&map[..])[..*len],
            Storage::Heap(words) => words,
        }
    }
}

impl DerefMut for Words {
    #[inline]
    fn deref_mut(&mut self) -> &mut [u64] {
        match &mut self.storage {
            Storage::Mapped { map, len } => &mut bytemuck::cast_slice_mut(&mut map[..])[..*len],
            Storage::Heap(words) => words,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn large_buffers_are_mapped_and_small_ones_are_not_and_both_hold_their_words() {
        for len in [
            0,
            1,
            1000,
            HUGE_PAGE / 8 - 1,
            HUGE_PAGE / 8,
            3 * HUGE_PAGE / 8 + 5,
        ] {
            let mut words = Words::zeroed(len);
            assert_eq!(words.len(), len);
            assert!(words.iter().all(|&w| w == 0));
            assert_eq!(words.is_mapped(), len * 8 >= HUGE_PAGE, "len {len}");
            for (i, w) in words.iter_mut().enumerate() {
                *w = (i as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15);
            }
            let mut copy = Words::with_capacity(len);
            copy.extend_from_slice(&words);
            assert_eq!(&copy[..], &words[..]);
            assert_eq!(copy.into_iter().collect::<Vec<_>>(), words.to_vec());
        }
    }

    #[test]
    fn a_buffer_grows_past_its_capacity_and_reads_back_in_order() {
        let all: Vec<u64> = (0..3 * HUGE_PAGE as u64 / 8 + 77).collect();
        for capacity in [0, 10, HUGE_PAGE / 8, HUGE_PAGE / 4 + 3] {
            let mut words = Words::with_capacity(capacity);
            for batch in all.chunks(10_007) {
                words.extend_from_slice(batch);
            }
            assert_eq!(&words[..], &all[..], "capacity {capacity}");
            let iter = words.into_iter();
            assert_eq!(iter.size_hint(), (all.len(), Some(all.len())));
            assert_eq!(iter.collect::<Vec<_>>(), all);
        }
        let mut words = Words::with_capacity(HUGE_PAGE / 8);
        words.extend_from_slice(&all[..5]);
        words.clear();
        assert!(words.is_empty());
        words.extend_from_slice(&all[5..9]);
        assert_eq!(&words[..], &all[5..9]);
    }
}
