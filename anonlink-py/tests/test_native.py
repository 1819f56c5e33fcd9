"""The native module against the reference fixtures copied into anonlink-core/tests/data."""

import base64
import csv
import json
import pathlib

import pytest

import anonlink_rs

DATA = pathlib.Path(__file__).resolve().parents[2] / "anonlink-core" / "tests" / "data"


def load_clks(path):
    with open(path) as f:
        return [base64.b64decode(s) for s in json.load(f)["clks"]]


def test_dice_coefficient():
    a = bytes([0xFF, 0, 0, 0, 0, 0, 0, 0])
    b = bytes([0xF0, 0, 0, 0, 0, 0, 0, 0])
    assert anonlink_rs.dice_coefficient(a, b) == pytest.approx(2 * 4 / 12)
    with pytest.raises(anonlink_rs.AnonlinkError, match="differ in size"):
        anonlink_rs.dice_coefficient(a, b[:4])


def test_febrl4_candidates_and_greedy_match_reference():
    a = load_clks(DATA / "febrl4" / "febrl4_a.json")
    b = load_clks(DATA / "febrl4" / "febrl4_b.json")
    sims, (d0, d1), (r0, r1) = anonlink_rs.find_candidate_pairs([a, b], 0.9)
    with open(DATA / "febrl4" / "candidates_t0.9.csv") as f:
        expected = [
            (float(row["score"]), int(row["dset0"]), int(row["dset1"]), int(row["rec0"]), int(row["rec1"]))
            for row in csv.DictReader(f)
        ]
    assert list(zip(sims, d0, d1, r0, r1)) == expected

    groups = anonlink_rs.greedy_solve((sims, (d0, d1), (r0, r1)))
    with open(DATA / "febrl4" / "greedy_groups_t0.9.json") as f:
        expected_groups = json.load(f)
    canonical = sorted(sorted(list(r) for r in g) for g in groups)
    assert canonical == expected_groups


def test_bad_inputs_raise_clear_errors():
    with pytest.raises(anonlink_rs.AnonlinkError, match="record 1"):
        anonlink_rs.find_candidate_pairs([[bytes(8), bytes(16)], [bytes(8)]], 0.5)
    with pytest.raises(anonlink_rs.AnonlinkError, match="not a multiple of 8"):
        anonlink_rs.find_candidate_pairs([[bytes(12)], [bytes(12)]], 0.5)
    with pytest.raises(ValueError, match="threshold"):
        anonlink_rs.find_candidate_pairs([[bytes(8)], [bytes(8)]], 1.5)
    with pytest.raises(ValueError, match="inconsistent"):
        anonlink_rs.greedy_solve(([0.9], ([0], [1]), ([0], [])))
