import base64
import json
import pathlib

import pytest
from bitarray import bitarray

DATA = pathlib.Path(__file__).resolve().parents[2] / "anonlink-core" / "tests" / "data"


def load_bytes(path):
    with open(path) as f:
        return [base64.b64decode(s) for s in json.load(f)["clks"]]


def to_bitarrays(records):
    out = []
    for r in records:
        b = bitarray()
        b.frombytes(r)
        out.append(b)
    return out


@pytest.fixture(scope="session")
def febrl4_bytes():
    return load_bytes(DATA / "febrl4" / "febrl4_a.json"), load_bytes(DATA / "febrl4" / "febrl4_b.json")


@pytest.fixture(scope="session")
def febrl4(febrl4_bytes):
    return tuple(to_bitarrays(d) for d in febrl4_bytes)


@pytest.fixture(scope="session")
def multiparty():
    return [to_bitarrays(load_bytes(DATA / "multiparty" / f"clks-{i}.json")) for i in range(1, 6)]


def canonical(groups):
    return sorted(sorted(tuple(r) for r in g) for g in groups)


def assert_same_candidates(ours, theirs):
    (s0, (d0, d1), (r0, r1)), (t0, (e0, e1), (q0, q1)) = ours, theirs
    assert s0.typecode == "d" and d0.typecode == "I" and r0.typecode == "I"
    assert len(s0) == len(t0)
    assert list(s0) == list(t0)
    assert list(d0) == list(e0) and list(d1) == list(e1)
    assert list(r0) == list(q0) and list(r1) == list(q1)
