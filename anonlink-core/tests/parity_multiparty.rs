//! Exact parity with the reference anonlink outputs on the 5-party tutorial data.

mod common;

use anonlink_core::candidates::{self, Config};
use anonlink_core::encoding::Clks;
use anonlink_core::solve;
use common::*;

fn datasets() -> Vec<Clks> {
    (1..=5)
        .map(|i| clks(&format!("multiparty/clks-{i}.json")))
        .collect()
}

#[test]
fn candidates_at_0_8_are_bit_identical() {
    let sets = datasets();
    let refs: Vec<&Clks> = sets.iter().collect();
    let got = candidates::find(&refs, &Config::new(0.8)).unwrap();
    let expected = candidates_csv("multiparty/candidates_t0.8.csv");
    assert_same_pairs(got.as_slice(), &expected, "5 parties t=0.8");
}

#[test]
fn greedy_and_probabilistic_groups_match() {
    let sets = datasets();
    let refs: Vec<&Clks> = sets.iter().collect();
    for t in ["0.8", "0.7"] {
        let pairs = candidates::find(&refs, &Config::new(t.parse().unwrap())).unwrap();
        let greedy = solve::greedy(pairs.as_slice());
        assert_eq!(
            greedy.as_slice(),
            groups_json(&format!("multiparty/greedy_groups_t{t}.json")).as_slice(),
            "greedy t={t}"
        );
        let probabilistic = solve::probabilistic(pairs.as_slice(), 0.5, true).unwrap();
        assert_eq!(
            probabilistic.as_slice(),
            groups_json(&format!("multiparty/probabilistic_groups_t{t}_m0.5.json")).as_slice(),
            "probabilistic t={t}"
        );
    }
}
