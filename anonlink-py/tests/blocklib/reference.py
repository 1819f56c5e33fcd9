"""Runs blocklib 0.1.11 (in its own environment: it needs pydantic 1) on the cases read as
JSON from stdin, and writes what it returns, or the error it raises, as JSON to stdout."""

import json
import sys

import blocklib

cases = json.load(sys.stdin)
out = []
for case in cases:
    data = case["data"] if case.get("clks") else [tuple(row) for row in case["data"]]
    try:
        result = blocklib.generate_candidate_blocks(data, case["schema"], header=case.get("header"))
        out.append({"blocks": list(result.blocks.items()), "stats": result.stats})
    except Exception as e:  # the comparison checks that both sides refuse
        out.append({"error": f"{type(e).__name__}: {e}"})
json.dump(out, sys.stdout)
