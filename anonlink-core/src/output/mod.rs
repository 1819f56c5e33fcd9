//! Results in the shapes the Entity Service returns (API reference §5.6–5.7).
//!
//! - [`similarity_scores`]: every candidate of a 2-party linkage as `(row0, row1, score)`.
//! - [`mapping`]: the 1-to-1 matching of a 2-party linkage, row of dataset 0 → row of 1.
//! - [`permutations`]: a random permutation per party plus a mask, so parties can line up
//!   their matched rows without learning which rows of the other party matched.
//! - groups: [`crate::solve::Groups`] serialises as a list of groups of `[dataset, row]`.

use std::collections::BTreeMap;

use rand::seq::SliceRandom;
use rand::{CryptoRng, RngCore, SeedableRng};
use serde::ser::{Serialize, SerializeTuple, Serializer};

use crate::candidates::CandidatePair;
use crate::error::{Error, Result};
use crate::solve::{Groups, Record};

/// The candidates as `(row_in_dataset0, row_in_dataset1, score)`, in the given order.
///
/// # Errors
/// [`Error::NotTwoParty`] when a pair is not between datasets 0 and 1.
pub fn similarity_scores(pairs: &[CandidatePair]) -> Result<Vec<(u32, u32, f64)>> {
    pairs
        .iter()
        .map(|p| {
            if (p.dataset0, p.dataset1) == (0, 1) {
                Ok((p.row0, p.row1, p.score))
            } else {
                Err(Error::NotTwoParty {
                    what: "similarity scores",
                    got: p.dataset0.max(p.dataset1) as usize + 1,
                })
            }
        })
        .collect()
}

/// Writes `{"similarity_scores": [[row0, row1, score], ...]}` from a stream of two-party
/// pairs in canonical order, byte for byte as the serialised [`crate::linkage::Linkage`]
/// would be, without holding the pairs. Returns how many were written.
///
/// # Errors
/// The stream's first error, [`Error::NotTwoParty`] for a pair of other datasets, or a
/// failure to write.
pub fn write_similarity_scores<W: std::io::Write>(
    pairs: impl Iterator<Item = Result<CandidatePair>>,
    mut writer: W,
) -> Result<u64> {
    writer.write_all(b"{\"similarity_scores\":[")?;
    let mut written = 0u64;
    for pair in pairs {
        let p = pair?;
        if (p.dataset0, p.dataset1) != (0, 1) {
            return Err(Error::NotTwoParty {
                what: "similarity scores",
                got: p.dataset0.max(p.dataset1) as usize + 1,
            });
        }
        if written > 0 {
            writer.write_all(b",")?;
        }
        serde_json::to_writer(&mut writer, &(p.row0, p.row1, p.score))
            .map_err(std::io::Error::from)?;
        written += 1;
    }
    writer.write_all(b"]}")?;
    Ok(written)
}

/// The matching as a map from row of dataset 0 to row of dataset 1.
///
/// # Errors
/// [`Error::NotOneToOne`] when a group is not one record of dataset 0 and one of dataset 1,
/// or a row appears twice.
///
/// # Examples
/// ```
/// use anonlink_core::output::mapping;
/// use anonlink_core::solve::{Groups, Record};
///
/// let groups = Groups::from_unsorted(vec![vec![Record::new(1, 7), Record::new(0, 2)]]);
/// assert_eq!(mapping(&groups)?.get(&2), Some(&7));
/// # Ok::<(), anonlink_core::Error>(())
/// ```
pub fn mapping(groups: &Groups) -> Result<BTreeMap<u32, u32>> {
    let mut map = BTreeMap::new();
    let mut taken = std::collections::HashSet::new();
    for g in groups {
        let (a, b) = match g.as_slice() {
            [Record { dataset: 0, row: a }, Record { dataset: 1, row: b }] => (*a, *b),
            _ => {
                return Err(Error::NotOneToOne {
                    reason: format!(
                        "group {:?} is not one record of dataset 0 and one of dataset 1",
                        g.iter().map(|r| (r.dataset, r.row)).collect::<Vec<_>>()
                    ),
                });
            }
        };
        if map.insert(a, b).is_some() || !taken.insert(b) {
            return Err(Error::NotOneToOne {
                reason: format!("row {a} of dataset 0 or row {b} of dataset 1 is matched twice"),
            });
        }
    }
    Ok(map)
}

/// A permutation for each party and the mask of matched positions.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Permutations {
    /// `permutation_a[i]` is the new position of row `i` of dataset 0.
    pub permutation_a: Vec<u32>,
    /// `permutation_b[i]` is the new position of row `i` of dataset 1.
    pub permutation_b: Vec<u32>,
    /// `mask[p] == 1` when position `p` holds a matched pair; length `rows`.
    pub mask: Vec<u8>,
    /// The smaller dataset's size: positions from `rows` on are to be dropped.
    pub rows: usize,
}

/// Random permutations and a mask from a matching, as the reference service builds them.
///
/// With `s = min(n_a, n_b)`: the slots `0..s` are shuffled and the m-th matched pair gets the
/// m-th slot in both permutations (mask 1 there); each party's unmatched rows get the
/// remaining slots below `s` plus its own slots `s..n`, shuffled independently. Randomness
/// comes from `rng`, which must be a CSPRNG.
///
/// # Errors
/// [`Error::RecordOutOfRange`] when the mapping names a row outside the sizes,
/// [`Error::NotOneToOne`] when a row of dataset 1 is used twice.
pub fn permutations_with<R: RngCore + CryptoRng>(
    mapping: &BTreeMap<u32, u32>,
    sizes: (usize, usize),
    rng: &mut R,
) -> Result<Permutations> {
    let (n_a, n_b) = sizes;
    let s = n_a.min(n_b);
    let out_of_range = |dataset, row| Error::RecordOutOfRange {
        dataset,
        row,
        sizes: vec![n_a, n_b],
    };
    const UNSET: u32 = u32::MAX;
    let mut perm_a = vec![UNSET; n_a];
    let mut perm_b = vec![UNSET; n_b];
    let mut mask = vec![0u8; s];
    let mut slots: Vec<u32> = (0..s as u32).collect();
    slots.shuffle(rng);
    let mut used = 0;
    for (&a, &b) in mapping {
        let slot_a = perm_a
            .get_mut(a as usize)
            .ok_or_else(|| out_of_range(0, a))?;
        if used >= s {
            return Err(out_of_range(0, a));
        }
        let p = slots[used];
        *slot_a = p;
        let slot_b = perm_b
            .get_mut(b as usize)
            .ok_or_else(|| out_of_range(1, b))?;
        if *slot_b != UNSET {
            return Err(Error::NotOneToOne {
                reason: format!("row {b} of dataset 1 is matched twice"),
            });
        }
        *slot_b = p;
        mask[p as usize] = 1;
        used += 1;
    }
    fill_unmatched(&mut perm_a, &slots[used..], s, rng);
    fill_unmatched(&mut perm_b, &slots[used..], s, rng);
    Ok(Permutations {
        permutation_a: perm_a,
        permutation_b: perm_b,
        mask,
        rows: s,
    })
}

/// As [`permutations_with`], with a CSPRNG seeded from the operating system.
///
/// # Errors
/// As [`permutations_with`].
pub fn permutations(mapping: &BTreeMap<u32, u32>, sizes: (usize, usize)) -> Result<Permutations> {
    let mut rng = rand::rngs::StdRng::from_os_rng();
    permutations_with(mapping, sizes, &mut rng)
}

/// One bin of a score histogram: scores in `[low, high)` (the last bin includes `high`).
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct ScoreBin {
    /// Lower edge.
    pub low: f64,
    /// Upper edge.
    pub high: f64,
    /// Pairs with a score in the bin.
    pub count: u64,
}

/// The distribution of candidate scores over `bins` equal bins from `low` to 1, to help
/// choose a threshold (matches pile up near 1, non-matches near the bottom).
///
/// # Examples
/// ```
/// use anonlink_core::candidates::CandidatePair;
/// use anonlink_core::output::score_histogram;
///
/// let pair = |score| CandidatePair { score, dataset0: 0, dataset1: 1, row0: 0, row1: 0 };
/// let bins = score_histogram(&[pair(0.55), pair(0.95), pair(1.0)], 0.5, 5);
/// assert_eq!(bins.iter().map(|b| b.count).collect::<Vec<_>>(), vec![1, 0, 0, 0, 2]);
/// ```
pub fn score_histogram(pairs: &[CandidatePair], low: f64, bins: usize) -> Vec<ScoreBin> {
    let bins = bins.max(1);
    let low = low.clamp(0.0, 1.0);
    let width = (1.0 - low) / bins as f64;
    let mut out: Vec<ScoreBin> = (0..bins)
        .map(|i| ScoreBin {
            low: low + i as f64 * width,
            high: if i + 1 == bins {
                1.0
            } else {
                low + (i + 1) as f64 * width
            },
            count: 0,
        })
        .collect();
    for p in pairs {
        if p.score < low {
            continue;
        }
        let i = if width > 0.0 {
            (((p.score - low) / width) as usize).min(bins - 1)
        } else {
            bins - 1
        };
        out[i].count += 1;
    }
    out
}

fn fill_unmatched<R: RngCore>(perm: &mut [u32], free_low: &[u32], s: usize, rng: &mut R) {
    let mut free: Vec<u32> = free_low
        .iter()
        .copied()
        .chain(s as u32..perm.len() as u32)
        .collect();
    free.shuffle(rng);
    let mut next = free.into_iter();
    for p in perm.iter_mut().filter(|p| **p == u32::MAX) {
        // There are exactly as many free slots as unmatched rows.
        *p = next.next().expect("one free slot per unmatched row");
    }
}

impl Serialize for Record {
    /// A record is `[dataset, row]`, as in the service's `groups` result.
    fn serialize<S: Serializer>(&self, serializer: S) -> std::result::Result<S::Ok, S::Error> {
        let mut t = serializer.serialize_tuple(2)?;
        t.serialize_element(&self.dataset)?;
        t.serialize_element(&self.row)?;
        t.end()
    }
}

impl Serialize for Groups {
    fn serialize<S: Serializer>(&self, serializer: S) -> std::result::Result<S::Ok, S::Error> {
        self.as_slice().serialize(serializer)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand_chacha::ChaCha20Rng;

    #[test]
    fn permutations_line_up_matches() {
        let mut map = BTreeMap::new();
        map.insert(0, 5);
        map.insert(3, 1);
        map.insert(7, 0);
        for seed in 0..20 {
            let mut rng = ChaCha20Rng::seed_from_u64(seed);
            let p = permutations_with(&map, (10, 6), &mut rng).unwrap();
            assert_eq!(p.rows, 6);
            assert_eq!(p.mask.len(), 6);
            assert_eq!(p.mask.iter().filter(|&&m| m == 1).count(), 3);
            let mut sorted_a = p.permutation_a.clone();
            sorted_a.sort();
            assert_eq!(sorted_a, (0..10).collect::<Vec<u32>>());
            let mut sorted_b = p.permutation_b.clone();
            sorted_b.sort();
            assert_eq!(sorted_b, (0..6).collect::<Vec<u32>>());
            for (&a, &b) in &map {
                let pos = p.permutation_a[a as usize];
                assert_eq!(pos, p.permutation_b[b as usize]);
                assert_eq!(p.mask[pos as usize], 1);
            }
            // Positions with mask 1 hold exactly the matched pairs.
            for (pos, &m) in p.mask.iter().enumerate() {
                let a = p
                    .permutation_a
                    .iter()
                    .position(|&x| x as usize == pos)
                    .unwrap();
                let b = p
                    .permutation_b
                    .iter()
                    .position(|&x| x as usize == pos)
                    .unwrap();
                assert_eq!(m == 1, map.get(&(a as u32)) == Some(&(b as u32)));
            }
        }
    }

    #[test]
    fn bad_mappings_are_rejected() {
        let mut rng = ChaCha20Rng::seed_from_u64(1);
        let mut map = BTreeMap::new();
        map.insert(4, 0);
        assert!(permutations_with(&map, (3, 3), &mut rng).is_err());
        let mut map = BTreeMap::new();
        map.insert(0, 1);
        map.insert(1, 1);
        assert!(permutations_with(&map, (3, 3), &mut rng).is_err());
        let groups = Groups::from_unsorted(vec![vec![
            Record::new(0, 0),
            Record::new(1, 0),
            Record::new(2, 0),
        ]]);
        assert!(mapping(&groups).is_err());
    }

    #[test]
    fn groups_serialise_as_lists_of_pairs() {
        let groups = Groups::from_unsorted(vec![vec![Record::new(1, 3), Record::new(0, 2)]]);
        assert_eq!(serde_json::to_string(&groups).unwrap(), "[[[0,2],[1,3]]]");
    }
}
