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
        if case.get("client"):
            # anonlink-client's `block`: values stripped, then the record -> blocks map.
            data = [tuple(v.strip() for v in row) for row in data]
        result = blocklib.generate_candidate_blocks(data, case["schema"], header=case.get("header"))
        done = {"blocks": list(result.blocks.items()), "stats": result.stats}
        if case.get("client"):
            by_record = {}
            for block_id, records in result.blocks.items():
                for record in records:
                    by_record.setdefault(str(record), []).append(block_id)
            done["by_record"] = list(by_record.items())
        out.append(done)
    except Exception as e:  # the comparison checks that both sides refuse
        out.append({"error": f"{type(e).__name__}: {e}"})
json.dump(out, sys.stdout)
