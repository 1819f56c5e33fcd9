"""The score model and the Bayes solver through the wheel: estimates without the truth,
groups better than the reference's solvers, clear errors where nothing can be modelled."""

import csv
import itertools

import pytest

from anonlink_rs import AnonlinkError, candidate_generation, similarities, solving, stats
from conftest import DATA, canonical


def entities():
    rows = {}
    with open(DATA / "multiparty" / "entities.csv") as f:
        for r in csv.DictReader(f):
            rows[(int(r["party"]), int(r["row"]))] = r["entity"]
    return rows


def pairwise_f1(groups, truth):
    predicted = {tuple(sorted(p)) for g in groups for p in itertools.combinations(g, 2)}
    by_entity = {}
    for record, entity in truth.items():
        by_entity.setdefault(entity, []).append(record)
    true = {
        tuple(sorted(p))
        for members in by_entity.values()
        for p in itertools.combinations(members, 2)
        if p[0][0] != p[1][0]
    }
    return 2 * len(predicted & true) / (len(predicted) + len(true))


def test_estimate_of_febrl4_is_confident_and_near_the_truth(febrl4):
    est = stats.estimate(febrl4)
    assert est["confidence"]["level"] == "high"
    assert est["suggested"]["f1"] > 0.99
    assert est["floor"] <= est["suggested"]["threshold"] < 0.9
    # About every record of febrl4 has its match (5000 of 5000).
    assert 4900 < est["estimated_matches"] < 5050
    assert est["curve"] and est["distribution"] and len(est["dataset_pairs"]) == 1


def test_auto_groups_of_the_five_parties_beat_the_reference(multiparty):
    groups, choice = solving.auto_solve(multiparty)
    assert choice["solver"] == "bayes" and choice["threshold"] == choice["floor"]
    for g in groups:
        assert len({d for d, _ in g}) == len(g), "two records of one party in a group"
    # anonlink's best over thresholds and merge thresholds, chosen with the truth: 0.9085.
    f1 = pairwise_f1(groups, entities())
    assert f1 >= 0.91, f1
    assert abs(choice["expected"]["f1"] - f1) < 0.03, (choice["expected"], f1)
    # The solver on the same candidates gives the same groups.
    pairs = candidate_generation.find_candidate_pairs(
        multiparty, similarities.dice_coefficient_accelerated, choice["floor"]
    )
    sizes = [len(d) for d in multiparty]
    assert canonical(solving.bayes_solve(pairs, sizes, choice["floor"])) == canonical(groups)


def test_what_cannot_be_modelled_is_an_error_not_a_guess(febrl4):
    a, _ = febrl4
    with pytest.raises(AnonlinkError, match="dataset"):
        stats.estimate([a])
    with pytest.raises(AnonlinkError):
        stats.estimate([a[:5], a[5:10]])
    with pytest.raises(AnonlinkError, match="alike"):
        stats.estimate([[a[0]] * 200, [a[0]] * 200])
    with pytest.raises(AnonlinkError, match="unknown solver"):
        solving.auto_solve(febrl4, solver="nope")
