"""CLKs per second of clkhash 0.18.3 and anonlink_rs on the same records.

Run after scripts/python-env.sh:  .venv/bin/python anonlink-py/bench/bench_clk.py [N]

Records: the febrl4 PII rows with random one-letter changes to the names, N of them
(default 100000), febrl4's schema (v3, doubleHash), secret "horse staple". clkhash runs in
this process (its caches warm up over the run); anonlink_rs uses every core.
"""

import csv
import io
import json
import os
import pathlib
import random
import sys
import time

from clkhash import clk as ref_clk
from clkhash import schema as ref_schema

import anonlink_rs

DATA = pathlib.Path(__file__).resolve().parents[2] / "anonlink-core" / "tests" / "data" / "febrl4"


def records(n):
    with open(DATA / "febrl4_a_pii.csv") as f:
        rows = list(csv.reader(f))
    header, rows = rows[0], rows[1:]
    rng = random.Random(1)
    out = io.StringIO()
    w = csv.writer(out)
    w.writerow(header)
    for _ in range(n):
        r = list(rng.choice(rows))
        r[1] += rng.choice("abcdefghij")
        r[2] = rng.choice("wxyz") + r[2]
        w.writerow(r)
    return out.getvalue()


def main():
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000
    text = records(n)
    schema_path = DATA / "febrl4_schema.json"
    schema = ref_schema.from_json_file(open(schema_path))
    start = time.perf_counter()
    expected = ref_clk.generate_clk_from_csv(io.StringIO(text), "horse staple", schema,
                                             validate=False, progress_bar=False)
    ref_s = time.perf_counter() - start
    start = time.perf_counter()
    ours = anonlink_rs.clk.generate_clk_from_csv(io.StringIO(text), "horse staple", schema_path, validate=False)
    ours_s = time.perf_counter() - start
    assert [b.tobytes() for b in ours] == [b.tobytes() for b in expected]
    print(json.dumps({
        "records": n,
        "cpus": os.cpu_count(),
        "clkhash_clks_per_s": n / ref_s,
        "anonlink_rs_clks_per_s": n / ours_s,
        "ratio": ref_s / ours_s,
    }, indent=2))


if __name__ == "__main__":
    main()
