"""Comparisons per second of anonlink (reference) and anonlink_rs on the same data.

Run after scripts/python-env.sh:  .venv/bin/python anonlink-py/bench/bench_vs_anonlink.py [REPEAT]

The data are the febrl4 CLKs (1024 bits, 5000 per party) repeated REPEAT times (default 4,
so 20K x 20K = 4e8 comparisons), threshold 0.8, `find_candidate_pairs` with Dice.
"""

import base64
import json
import os
import pathlib
import sys
import time

import anonlink
import numpy as np
from bitarray import bitarray

import anonlink_rs

DATA = pathlib.Path(__file__).resolve().parents[2] / "anonlink-core" / "tests" / "data" / "febrl4"


def load(name, repeat):
    with open(DATA / name) as f:
        raw = [base64.b64decode(s) for s in json.load(f)["clks"]] * repeat
    bits = []
    for r in raw:
        b = bitarray()
        b.frombytes(r)
        bits.append(b)
    return raw, bits


def timed(f):
    start = time.perf_counter()
    out = f()
    return time.perf_counter() - start, out


def main():
    repeat = int(sys.argv[1]) if len(sys.argv) > 1 else 4
    a_raw, a_bits = load("febrl4_a.json", repeat)
    b_raw, b_bits = load("febrl4_b.json", repeat)
    comparisons = len(a_raw) * len(b_raw)
    a_np = np.frombuffer(b"".join(a_raw), dtype=np.uint8).reshape(len(a_raw), -1)
    b_np = np.frombuffer(b"".join(b_raw), dtype=np.uint8).reshape(len(b_raw), -1)

    ref_s, ref = timed(lambda: anonlink.candidate_generation.find_candidate_pairs(
        [a_bits, b_bits], anonlink.similarities.dice_coefficient, 0.8))
    ours_bits_s, ours_bits = timed(lambda: anonlink_rs.candidate_generation.find_candidate_pairs(
        [a_bits, b_bits], anonlink_rs.similarities.dice_coefficient, 0.8))
    ours_np_s, ours_np = timed(lambda: anonlink_rs.candidate_generation.find_candidate_pairs(
        [a_np, b_np], anonlink_rs.similarities.dice_coefficient, 0.8))
    assert list(ref[0]) == list(ours_bits[0]) == list(ours_np[0])
    report = {
        "cpus": os.cpu_count(),
        "comparisons": comparisons,
        "candidates": len(ref[0]),
        "anonlink_per_s": comparisons / ref_s,
        "anonlink_rs_bitarrays_per_s": comparisons / ours_bits_s,
        "anonlink_rs_numpy_per_s": comparisons / ours_np_s,
        "ratio_bitarrays": ref_s / ours_bits_s,
        "ratio_numpy": ref_s / ours_np_s,
    }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
