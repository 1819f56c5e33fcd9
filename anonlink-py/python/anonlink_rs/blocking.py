"""Blocking functions (anonlink's ``blocking``): each returns ``f(dataset_index,
record_index, record) -> block ids`` for ``find_candidate_pairs(..., blocking_f=f)``.

They are the reference's functions, reproduced exactly (the same seed gives the same blocks),
so blocked linkages agree between the two packages.
"""

import itertools as _itertools
import random as _random
import typing as _typing


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


__all__ = ["bit_blocking", "block_and", "block_or", "continuous_blocking", "list_blocking"]
