//! Loading the reference fixtures copied from `../shared/fixtures` into `tests/data`.
#![allow(dead_code)]

use std::path::PathBuf;

use anonlink_core::candidates::CandidatePair;
use anonlink_core::encoding::{Clks, SizeLimits, decode_json};
use anonlink_core::solve::Record;

pub fn data(path: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(path)
}

pub fn clks(path: &str) -> Clks {
    let file = std::fs::File::open(data(path)).unwrap();
    decode_json(file, &SizeLimits::default()).unwrap()
}

/// febrl4's true matches, `(row of a, row of b)`.
pub fn febrl4_truth() -> Vec<(u32, u32)> {
    std::fs::read_to_string(data("febrl4/febrl4_truth.csv"))
        .unwrap()
        .lines()
        .skip(1)
        .map(|l| {
            let (x, y) = l.split_once(',').unwrap();
            (x.parse().unwrap(), y.parse().unwrap())
        })
        .collect()
}

/// febrl4's truth as the entity of every record: rows of `a` are entities 0..5000, a row
/// of `b` takes its match's entity (every row of `b` has one).
pub fn febrl4_entities() -> Vec<Vec<u64>> {
    let mut entities = vec![
        (0..5000u64).collect::<Vec<_>>(),
        (10_000..15_000u64).collect(),
    ];
    for (x, y) in febrl4_truth() {
        entities[1][y as usize] = u64::from(x);
    }
    entities
}

/// `score,dset0,dset1,rec0,rec1` with scores as Python's shortest round-trip repr.
pub fn candidates_csv(path: &str) -> Vec<CandidatePair> {
    let text = std::fs::read_to_string(data(path)).unwrap();
    let mut lines = text.lines();
    assert_eq!(lines.next(), Some("score,dset0,dset1,rec0,rec1"));
    lines
        .map(|line| {
            let f: Vec<&str> = line.split(',').collect();
            CandidatePair {
                score: f[0].parse().unwrap(),
                dataset0: f[1].parse().unwrap(),
                dataset1: f[2].parse().unwrap(),
                row0: f[3].parse().unwrap(),
                row1: f[4].parse().unwrap(),
            }
        })
        .collect()
}

pub fn groups_json(path: &str) -> Vec<Vec<Record>> {
    let text = std::fs::read_to_string(data(path)).unwrap();
    let groups: Vec<Vec<[u32; 2]>> = serde_json::from_str(&text).unwrap();
    groups
        .into_iter()
        .map(|g| g.into_iter().map(|[d, r]| Record::new(d, r)).collect())
        .collect()
}

/// Pairs compared field by field, scores by their bits.
pub fn assert_same_pairs(got: &[CandidatePair], expected: &[CandidatePair], what: &str) {
    assert_eq!(got.len(), expected.len(), "{what}: number of pairs");
    for (i, (g, e)) in got.iter().zip(expected).enumerate() {
        assert!(
            g.score.to_bits() == e.score.to_bits()
                && (g.dataset0, g.dataset1, g.row0, g.row1)
                    == (e.dataset0, e.dataset1, e.row0, e.row1),
            "{what}: pair {i} is {g:?}, expected {e:?}"
        );
    }
}
