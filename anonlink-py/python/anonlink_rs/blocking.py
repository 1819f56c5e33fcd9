"""Blocking.

Two kinds, both reproducing the reference exactly:

- anonlink's blocking functions: each returns ``f(dataset_index, record_index, record) ->
  block ids`` for ``find_candidate_pairs(..., blocking_f=f)`` (the same seed gives the same
  blocks).
- blocklib's client-side blocking from PII: ``generate_candidate_blocks(data, schema)`` with
  a P-Sig or λ-fold blocking schema gives the same blocks and statistics as
  ``blocklib.generate_candidate_blocks`` 0.1.11.
"""

import itertools as _itertools
import json as _json
import random as _random
import sys as _sys
import typing as _typing

from . import _native


class CandidateBlockingResult:
    """blocklib's result object: ``blocks`` (block id -> record ids, in blocklib's order)
    and ``stats`` (sizes; for P-Sig also coverage and statistics per strategy)."""

    def __init__(self, blocks: dict, stats: dict, schema: dict):
        self.blocks = blocks
        self.stats = stats
        self.schema = schema

    def print_summary_statistics(self, output: _typing.TextIO = _sys.stdout, round_ndigits: int = 4):
        """Writes the statistics as blocklib's method of this name does."""

        def print_stats(stats, out):
            out.write("\tNumber of Blocks:   {}\n".format(stats["num_of_blocks"]))
            out.write("\tMinimum Block Size: {}\n".format(stats["min_size"]))
            out.write("\tMaximum Block Size: {}\n".format(stats["max_size"]))
            out.write("\tAverage Block Size: {}\n".format(round(stats["avg_size"], round_ndigits)))
            out.write("\tMedian Block Size:  {}\n".format(stats["med_size"]))
            out.write("\tStandard Deviation of Block Size:  {}\n".format(round(stats["std_size"], round_ndigits)))
            if "coverage" in stats:
                out.write("\tCoverage:           {}%\n".format(round(stats["coverage"] * 100, 2)))

        output.write("Statistics for the generated blocks:\n")
        print_stats(self.stats, output)
        if "statistics_per_strategy" in self.stats:
            output.write("Individual statistics for each strategy:\n")
            for stat in self.stats["statistics_per_strategy"]:
                output.write("Strategy: {}\n".format(stat["strategy_idx"]))
                print_stats(stat, output)


def generate_candidate_blocks(
    data: _typing.Sequence, blocking_schema: dict, header: _typing.Optional[_typing.List[str]] = None
) -> CandidateBlockingResult:
    """blocklib's ``generate_candidate_blocks``: the blocks of ``data`` (a sequence of
    records, each a sequence of values; for λ-fold with ``input-clks`` a sequence of base64
    CLKs) under ``blocking_schema`` (a dict). ``header`` names the columns where the schema
    uses names. Values are text (others are converted with ``str``); an invalid schema
    raises ``AnonlinkError`` naming the field."""
    rows = [[value] if isinstance(value, str) else [v if isinstance(v, str) else str(v) for v in value] for value in data]
    schema_json = _json.dumps(blocking_schema)
    result = _json.loads(_native.candidate_blocks(rows, schema_json, None if header is None else list(header)))
    blocks = {key: records for key, records in result["blocks"]}
    return CandidateBlockingResult(blocks, result["stats"], blocking_schema)


def _evalf(funcs, *args):
    return (f(*args) for f in funcs)


def block_and(*args):
    """Records share a block iff they share a block under every given function."""
    funcs = tuple(args[0]) if len(args) == 1 and not callable(args[0]) else args

    def block_and_inner(dataset_index, record_index, hash_):
        return _itertools.product(*_evalf(funcs, dataset_index, record_index, hash_))

    return block_and_inner


def block_or(*args):
    """Records share a block iff they share a block under any given function."""
    funcs = tuple(args[0]) if len(args) == 1 and not callable(args[0]) else args

    def block_or_inner(dataset_index, record_index, hash_):
        funcs_eval = _evalf(funcs, dataset_index, record_index, hash_)
        funcs_enum = (zip(_itertools.repeat(i), f) for i, f in enumerate(funcs_eval))
        return _itertools.chain.from_iterable(funcs_enum)

    return block_or_inner


def bit_blocking(g: int, r: int, *, seed: _typing.Any = None):
    """Block on ``r`` sampled bits of the hash, in ``g`` independent tables."""
    if g < 1:
        raise ValueError(f"g is expected to be positive but is {g}")
    if r < 1:
        raise ValueError(f"r is expected to be positive but is {r}")
    state = {"len": None, "indices": None}

    def bit_blocking_inner(dataset_index, record_index, hash_):
        this_len = len(hash_)
        if state["indices"] is None:
            state["len"] = this_len
            rng = _random.Random(seed)
            state["indices"] = tuple(rng.sample(range(this_len), r) for _ in range(g))
        if this_len != state["len"]:
            raise ValueError("inconsistent hash length")
        indices = state["indices"]
        for i, table_indices in enumerate(indices):
            vals = map(hash_.__getitem__, table_indices)
            table_block = sum(b << j for j, b in enumerate(vals))
            yield table_block * len(indices) + i

    return bit_blocking_inner


def continuous_blocking(radius: float, source):
    """Block on a real value per record: values within ``radius`` share a block."""
    if radius <= 0:
        raise ValueError(f"radius should be positive, got {radius}")

    def continuous_blocking_inner(dataset_index, record_index, hash_):
        x = source[dataset_index][record_index]
        bucket_1 = int(x // (2 * radius))
        bucket_2 = int((x + radius) // (2 * radius))
        return (bucket_1 * 2, bucket_2 * 2 + 1)

    return continuous_blocking_inner


def list_blocking(source):
    """Block on given ids: ``source[dataset][record]`` is the record's block."""

    def list_blocking_inner(dataset_index, record_index, hash_):
        return (source[dataset_index][record_index],)

    return list_blocking_inner


__all__ = [
    "CandidateBlockingResult",
    "bit_blocking",
    "block_and",
    "block_or",
    "continuous_blocking",
    "generate_candidate_blocks",
    "list_blocking",
]
