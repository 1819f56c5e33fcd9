//! Exact parity with the reference anonlink outputs on febrl4 (5000 × 5000 CLKs).

mod common;

use anonlink_core::candidates::{self, Config};
use anonlink_core::similarity::Kernel;
use anonlink_core::{output, solve};
use common::*;

const THRESHOLDS: [&str; 3] = ["0.8", "0.9", "0.95"];

#[test]
fn candidates_are_bit_identical_for_every_kernel() {
    let a = clks("febrl4/febrl4_a.json");
    let b = clks("febrl4/febrl4_b.json");
    assert_eq!((a.len(), b.len()), (5000, 5000));
    for t in THRESHOLDS {
        let expected = candidates_csv(&format!("febrl4/candidates_t{t}.csv"));
        for kernel in Kernel::available() {
            let config = Config::new(t.parse().unwrap()).with_kernel(kernel);
            let got = candidates::find(&[&a, &b], &config).unwrap();
            assert_same_pairs(
                got.as_slice(),
                &expected,
                &format!("t={t} kernel={}", kernel.name()),
            );
        }
    }
}

#[test]
fn greedy_and_probabilistic_groups_match() {
    for t in THRESHOLDS {
        let pairs = candidates_csv(&format!("febrl4/candidates_t{t}.csv"));
        let greedy = solve::greedy(&pairs);
        assert_eq!(
            greedy.as_slice(),
            groups_json(&format!("febrl4/greedy_groups_t{t}.json")).as_slice(),
            "greedy t={t}"
        );
        // Two parties: the greedy groups are a 1-to-1 mapping.
        let mapping = output::mapping(&greedy).unwrap();
        assert_eq!(mapping.len(), greedy.len());

        let probabilistic = solve::probabilistic(&pairs, 0.5, true).unwrap();
        assert_eq!(
            probabilistic.as_slice(),
            groups_json(&format!("febrl4/probabilistic_groups_t{t}_m0.5.json")).as_slice(),
            "probabilistic t={t}"
        );
    }
}

#[test]
fn greedy_precision_and_recall_as_documented() {
    let truth: std::collections::HashSet<(u32, u32)> = febrl4_truth().into_iter().collect();
    let pairs = candidates_csv("febrl4/candidates_t0.8.csv");
    let mapping = output::mapping(&solve::greedy(&pairs)).unwrap();
    let correct = mapping
        .iter()
        .filter(|(a, b)| truth.contains(&(**a, **b)))
        .count();
    assert_eq!(mapping.len(), 4964);
    assert_eq!(correct, 4964);
}
