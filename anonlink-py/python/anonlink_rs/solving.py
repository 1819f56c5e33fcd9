"""Solvers: candidate pairs to groups of records (anonlink's ``solving``)."""

import json
from typing import Iterable, Optional, Tuple

from anonlink_rs import _native
from anonlink_rs._arrays import to_native


def probabilistic_greedy_solve(candidates, *, merge_threshold: float = 0.5, deduplicated: bool = True):
    """The probabilistic greedy solver (anonlink's native ``probabilistic_greedy_solve``).

    :param candidates: ``(sims, (dset_is0, dset_is1), (rec_is0, rec_is1))``, best first.
    :param merge_threshold: share of cross pairs that must have been seen to merge two
        groups, in (0, 1].
    :param deduplicated: when True, a group never holds two records of one dataset.
    :return: a tuple of groups, each a tuple of ``(dataset_index, record_index)``, sorted.
    """
    if merge_threshold < 0 or merge_threshold > 1:
        raise ValueError(f"merge_threshold must be between 0 and 1 (got {merge_threshold})")
    parts = to_native(candidates)
    groups = _native.solve_groups(parts, float(merge_threshold), bool(deduplicated))
    return tuple(tuple(tuple(r) for r in g) for g in groups)


def greedy_solve(candidates):
    """The greedy solver: merge threshold 1, duplicates allowed (anonlink's ``greedy_solve``)."""
    parts = to_native(candidates)
    groups = _native.solve_groups(parts, 1.0, False)
    return tuple(tuple(tuple(r) for r in g) for g in groups)


def bayes_solve(candidates, dataset_sizes, floor: float):
    """This engine's Bayes solver: fits a model of the scores to ``candidates`` (found at
    ``floor``, best first) and keeps the links it finds more likely than not to be
    matches, at most one record per dataset in a group.

    :param dataset_sizes: the number of records of every dataset.
    :return: a tuple of groups, each a tuple of ``(dataset_index, record_index)``, sorted.
    """
    parts = to_native(candidates)
    groups = _native.bayes_solve(parts, [int(n) for n in dataset_sizes], float(floor))
    return tuple(tuple(tuple(r) for r in g) for g in groups)


def auto_solve(datasets, solver: Optional[str] = None, merge_threshold: float = 0.5):
    """Groups of ``datasets`` (CLKs, as for candidate generation) with the threshold chosen
    from the data and, without ``solver`` (``"greedy"``, ``"probabilistic"``, ``"bayes"``),
    the Bayes solver.

    :return: ``(groups, choice)``: the groups as from the other solvers, and a dict of what
        was chosen (``floor``, ``threshold``, ``solver``) and expected (``expected``:
        estimated precision, recall and F1; ``confidence``).
    """
    groups, choice = _native.link_auto(list(datasets), solver, float(merge_threshold))
    return tuple(tuple(tuple(r) for r in g) for g in groups), json.loads(choice)


greedy_solve_native = greedy_solve
greedy_solve_python = greedy_solve
probabilistic_greedy_solve_native = probabilistic_greedy_solve
probabilistic_greedy_solve_python = probabilistic_greedy_solve


def pairs_from_groups(groups) -> Iterable[Tuple[int, int]]:
    """Pairs ``(i, j)`` (rows of datasets 0 and 1) from two-party groups."""
    for group in map(sorted, groups):
        if len(group) == 2:
            (dset_i0, rec_i0), (dset_i1, rec_i1) = group
            if dset_i0 == 0 and dset_i1 == 1:
                yield rec_i0, rec_i1
                continue
        raise ValueError("non-bipartite problems are unsupported")


__all__ = ["auto_solve", "bayes_solve", "greedy_solve", "pairs_from_groups", "probabilistic_greedy_solve"]
