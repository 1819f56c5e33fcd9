"""anonlink_rs.blocking.generate_candidate_blocks against blocklib 0.1.11 itself: identical
block dictionaries (ids, records and their order) and statistics, for P-Sig and λ-fold over
many schema variations, on the fixtures' PII, on noisy generated records and on text with
non-ASCII letters and missing values.

blocklib needs pydantic 1, so it lives in its own environment (`.venv-blocklib`, made by
scripts/python-env.sh) and runs in a subprocess."""

import csv
import functools
import json
import math
import os
import pathlib
import random
import subprocess

import pytest

from anonlink_rs import AnonlinkError
from anonlink_rs.blocking import generate_candidate_blocks

from conftest import DATA

ROOT = pathlib.Path(__file__).resolve().parents[2]
BLOCKLIB_PYTHON = pathlib.Path(os.environ.get("BLOCKLIB_PYTHON", ROOT / ".venv-blocklib" / "bin" / "python"))


def read_csv(path, limit=None):
    with open(path, newline="") as f:
        reader = csv.reader(f)
        header = next(reader)
        rows = [row for _, row in zip(range(limit or 10**9), reader)]
    return header, rows


UNICODE_NAMES = [
    "José", "JOSÉ", "Müller", "Mueller", "Çelik", "çağlar", "Nguyễn", "Øster", "Straße", "STRASSE",
    "Ærø", "ﬁnn", "Đorđe", "Łukasz", "Søren", "Zoë", "Ångström", "Renée", "Björk", "Žižek",
    "王", "Ελένη", "Дмитрий", "", "", "o'brien", "van der berg", "VON TRAPP", "Mac Gregor", "de la Cruz",
    "X", "Xavier", "J", "jj", "gh", "Gh", "hugh", "wright", "schmidt", "Schneider", "michael",
    "czerny", "focaccia", "tagliaro", "cabrillo", "rogier", "Thomas", "Arnow", "filipowicz",
    "bacci", "accident", "edge", "jose", "San Jacinto", "breaux", "zhao", "sugar", "island",
    "1234", "A1", "b9b", "ñandú", "  padded  ", "tab\tin", "-", "--", "Q", "mcclellan", "caesar",
]


def unicode_records(count=400, seed=5):
    rng = random.Random(seed)
    header = ["id", "first", "last", "dob", "city"]
    rows = []
    for i in range(count):
        first = rng.choice(UNICODE_NAMES)
        last = rng.choice(UNICODE_NAMES)
        dob = "" if rng.random() < 0.1 else f"{rng.randint(1900, 2020)}/{rng.randint(1, 12):02d}/{rng.randint(1, 28):02d}"
        city = rng.choice(["Zürich", "São Paulo", "", "NA", "Kraków", "Reykjavík", "Sydney", "Perth"])
        rows.append([str(i), first, last, dob, city])
    return header, rows


def noisy_records(count=3000, seed=11):
    """Febrl-like records with typos, swapped and missing values, from the fixture's names."""
    header, base = read_csv(DATA / "febrl4" / "febrl4_b_pii.csv")
    rng = random.Random(seed)
    rows = []
    for i in range(count):
        row = list(rng.choice(base))
        for j in (1, 2, 6):
            v = row[j]
            roll = rng.random()
            if roll < 0.08 and len(v) > 1:
                k = rng.randrange(len(v))
                v = v[:k] + rng.choice("aeiouxyz") + v[k + 1:]
            elif roll < 0.12:
                v = ""
            elif roll < 0.15:
                v = v.upper()
            row[j] = v
        if rng.random() < 0.05:
            row[1], row[2] = row[2], row[1]
        rows.append(row)
    return header, rows


def psig(specs, filter_=None, features=(1, 2), bf_len=2048, hashes=4, **extra):
    config = {
        "blocking-features": list(features),
        "filter": filter_ or {"type": "ratio", "max": 0.02, "min": 0.0},
        "blocking-filter": {"type": "bloom filter", "number-hash-functions": hashes, "bf-len": bf_len},
        "signatureSpecs": specs,
    }
    config.update(extra)
    return {"type": "p-sig", "version": 1, "config": config}


def lambda_fold(features=(1, 2), lam=5, bf_len=1024, hashes=10, k=30, seed=42, clks=False, **extra):
    config = {
        "blocking-features": list(features), "Lambda": lam, "bf-len": bf_len, "num-hash-funcs": hashes,
        "K": k, "input-clks": clks, "random_state": seed,
    }
    config.update(extra)
    return {"type": "lambda-fold", "version": 1, "config": config}


def chars(feature, *pos):
    return {"type": "characters-at", "feature": feature, "config": {"pos": list(pos)}}


def meta(feature):
    return {"type": "metaphone", "feature": feature}


def value(feature):
    return {"type": "feature-value", "feature": feature}


PSIG_SCHEMAS = {
    "tutorial": psig([[chars(1, ":2")], [meta(2)], [value(3)]], {"type": "ratio", "max": 0.02}),
    "joined parts": psig([[chars(1, 0, "-1", "1:3"), value(3)], [meta(1), meta(2)]], {"type": "count", "max": 50, "min": 2}),
    "every position form": psig([[chars(2, 0, 3, "-1", "-2", ":2", "2:", "1:4", "-3:", "0:100", 99)]], {"type": "ratio", "max": 1.0}),
    "null sentinel NA": psig([[chars(1, ":3"), chars(4, 0)], [value(4)]], {"type": "ratio", "max": 1.0, "min": 0.0}, **{"null-sentinel": "NA"}),
    "record id column": psig([[meta(2)]], {"type": "ratio", "max": 0.5}, **{"record-id-col": 0}),
    "colliding ids": psig([[chars(1, 0)], [chars(2, 0)], [meta(1)]], {"type": "ratio", "max": 1.0}, bf_len=16, hashes=3),
    "long filter": psig([[meta(2)], [chars(1, ":4")]], {"type": "ratio", "max": 1.0}, bf_len=1 << 20, hashes=40),
    "compressed keys": psig([[chars(1, ":1"), chars(2, ":1")]], {"type": "count", "max": 1000, "min": 0},
                            **{"compress-block-key": True}),
    "metaphone only": psig([[meta(1)], [meta(2)], [meta(1), meta(2)]], {"type": "ratio", "max": 0.3, "min": 0.001}),
    "string numbers": psig([[chars("1", "0", ":2")]], {"type": "count", "max": "40", "min": "1"}, features=["1", "2"]),
}

LAMBDA_SCHEMAS = {
    "set sampling": lambda_fold(),
    "pool sampling": lambda_fold(bf_len=32, hashes=2, k=8, seed=0),
    "one table, negative seed": lambda_fold(lam=1, bf_len=256, hashes=5, k=12, seed=-123456789),
    "many tables, big seed": lambda_fold(lam=12, bf_len=2048, hashes=20, k=4, seed=2**40 + 7),
    "three features": lambda_fold(features=(1, 2, 3), bf_len=512, hashes=3, k=5, seed=9),
}


def named(schema, header):
    """The schema with column names instead of indices (blocklib then needs the header)."""
    schema = json.loads(json.dumps(schema))
    config = schema["config"]
    config["blocking-features"] = [header[i] for i in config["blocking-features"]]
    for strategy in config.get("signatureSpecs", []):
        for spec in strategy:
            spec["feature"] = header[spec["feature"]]
    return schema


def generated_records(tmp_dir=pathlib.Path(os.environ.get("TMPDIR", "/tmp"))):
    """People from `anonlink generate` at high noise (typos, swapped and missing fields,
    date slips), when the CLI is built."""
    anonlink = ROOT / "target" / "release" / "anonlink"
    if not anonlink.exists():
        return None
    out = tmp_dir / f"blocklib-parity-{os.getpid()}.csv"
    subprocess.run([str(anonlink), "generate", "2000", str(out), "--parties", "2", "--corruption", "high", "--seed", "21"],
                   check=True, capture_output=True)
    header, rows = read_csv(out.with_name(out.stem + "-1.csv"))
    for suffix in ("-1.csv", "-2.csv", "-truth.csv"):
        out.with_name(out.stem + suffix).unlink(missing_ok=True)
    return header, rows


def datasets():
    febrl_header, febrl = read_csv(DATA / "febrl4" / "febrl4_a_pii.csv")
    abc_header, abc = read_csv(DATA / "abc" / "dataset-alice.csv")
    uni_header, uni = unicode_records()
    noisy_header, noisy = noisy_records()
    generated = generated_records()
    return {
        **({"generated": generated} if generated else {}),
        "febrl4": (febrl_header, febrl),
        "abc": (abc_header, [row + ["NA" if i % 7 == 0 else row[2]] for i, row in enumerate(abc)]),
        "unicode": (uni_header, uni),
        "noisy": (noisy_header, noisy),
    }


def cases():
    out = []
    for data_name, (header, rows) in datasets().items():
        width = len(rows[0])
        for name, schema in {**PSIG_SCHEMAS, **LAMBDA_SCHEMAS}.items():
            if data_name == "abc":
                header = header if len(header) == width else header + ["extra"]
            columns = [int(c) for c in schema["config"]["blocking-features"]]
            if max(columns) >= width:
                continue
            out.append((f"{data_name}/{name}", {"data": rows, "schema": schema}))
        if len(header) == width:
            out.append((f"{data_name}/names", {"data": rows, "header": header, "schema": named(PSIG_SCHEMAS["tutorial"], header)}))
            out.append((f"{data_name}/lambda names", {"data": rows, "header": header, "schema": named(LAMBDA_SCHEMAS["set sampling"], header)}))
    with open(DATA / "febrl4" / "febrl4_a.json") as f:
        clks = json.load(f)["clks"][:2000]
    out.append(("febrl4 clks", {"data": clks, "clks": True, "schema": lambda_fold(lam=8, k=20, seed=7, clks=True, **{"bf-len": 1024})}))
    # Refused by both: a feature outside the header, and a sample larger than the filter.
    header, rows = datasets()["febrl4"]
    bad = named(PSIG_SCHEMAS["tutorial"], header)
    bad["config"]["signatureSpecs"][0][0]["feature"] = "nickname"
    out.append(("unknown feature", {"data": rows[:10], "header": header, "schema": bad, "refused": True}))
    out.append(("filtered out", {"data": rows[:10], "schema": psig([[value(1)]], {"type": "count", "max": 0, "min": 0}), "refused": True}))
    return out


@functools.lru_cache(maxsize=None)
def all_cases():
    return dict(cases())


@pytest.fixture(scope="module")
def reference():
    if not BLOCKLIB_PYTHON.exists():
        pytest.fail(f"blocklib's environment is missing ({BLOCKLIB_PYTHON}); run scripts/python-env.sh")
    named_cases = list(all_cases().items())
    payload = json.dumps([case for _, case in named_cases])
    done = subprocess.run([str(BLOCKLIB_PYTHON), str(pathlib.Path(__file__).parent / "blocklib" / "reference.py")],
                          input=payload, capture_output=True, text=True, check=True)
    return dict(zip((name for name, _ in named_cases), json.loads(done.stdout)))


def assert_stats_equal(ours, theirs, where):
    assert ours.keys() == theirs.keys(), where
    for key, expected in theirs.items():
        got = ours[key]
        if key == "statistics_per_strategy":
            assert len(got) == len(expected), where
            for g, e in zip(got, expected):
                assert_stats_equal(g, e, f"{where} strategy {e['strategy_idx']}")
        elif isinstance(expected, float) or isinstance(got, float):
            assert math.isclose(got, expected, rel_tol=1e-12, abs_tol=1e-12), f"{where}: {key} {got} != {expected}"
        else:
            assert got == expected, f"{where}: {key}"


@pytest.mark.parametrize("name", list(all_cases()))
def test_same_blocks_as_blocklib(reference, name):
    case = all_cases()[name]
    expected = reference[name]
    if case.get("refused"):
        assert "error" in expected, expected
    if "error" in expected:
        # blocklib refuses these records (e.g. a position outside a one-letter value): so must we.
        with pytest.raises(AnonlinkError):
            generate_candidate_blocks(case["data"], case["schema"], header=case.get("header"))
        return
    ours = generate_candidate_blocks(case["data"], case["schema"], header=case.get("header"))
    assert list(ours.blocks.items()) == [(k, v) for k, v in expected["blocks"]]
    assert_stats_equal(ours.stats, expected["stats"], name)


def test_invalid_schema_names_the_field():
    schema = psig([[chars(1, ":2")]], {"type": "ratio", "max": 1.5})
    with pytest.raises(AnonlinkError, match=r"config\.filter\.max"):
        generate_candidate_blocks([["0", "a", "b"]], schema)


ANONLINK = ROOT / "target" / "release" / "anonlink"


@pytest.mark.parametrize("schema_file", ["febrl4-psig.json", "febrl4-lambda-fold.json"])
def test_cli_block_documents_match_anonlink_client(tmp_path, schema_file):
    """`anonlink block` writes the document anonlink-client's `block` writes: the same
    record -> block ids map (values stripped as the client strips them) and statistics."""
    if not ANONLINK.exists():
        pytest.skip("build the CLI first (cargo build --release -p anonlink-cli)")
    schema_path = ROOT / "examples" / "blocking" / schema_file
    records = DATA / "febrl4" / "febrl4_b_pii.csv"
    header, rows = read_csv(records)
    # Padding that the client strips away.
    padded = tmp_path / "padded.csv"
    with open(padded, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(header)
        for i, row in enumerate(rows):
            writer.writerow([f" {v} " if i % 3 == 0 else v for v in row])
    out = tmp_path / "blocks.json"
    subprocess.run([str(ANONLINK), "block", str(padded), "--schema", str(schema_path), "-o", str(out), "-q"], check=True)
    with open(schema_path) as f:
        schema = json.load(f)
    _, padded_rows = read_csv(padded)
    case = {"data": padded_rows, "header": header, "schema": schema, "client": True}
    done = subprocess.run([str(BLOCKLIB_PYTHON), str(pathlib.Path(__file__).parent / "blocklib" / "reference.py")],
                          input=json.dumps([case]), capture_output=True, text=True, check=True)
    expected = json.loads(done.stdout)[0]
    with open(out) as f:
        ours = json.load(f)
    assert list(ours["blocks"].items()) == [(k, v) for k, v in expected["by_record"]]
    assert_stats_equal(ours["meta"]["stats"], expected["stats"], schema_file)
    assert ours["meta"]["source"] == {"clk_count": [len(rows)]}
    assert ours["meta"]["config"] == schema
    # --format blocklib: blocklib's own result (block id -> records, stats).
    subprocess.run([str(ANONLINK), "block", str(padded), "--schema", str(schema_path), "-o", str(out), "-q",
                    "--format", "blocklib"], check=True)
    with open(out) as f:
        theirs_form = json.load(f)
    assert list(theirs_form["blocks"].items()) == [(k, v) for k, v in expected["blocks"]]
    assert_stats_equal(theirs_form["stats"], expected["stats"], schema_file)
