"""Finding candidate pairs across several datasets, with optional blocking."""

import itertools
from typing import Optional, Sequence

from anonlink_rs import _native, similarities
from anonlink_rs._arrays import empty, from_native

_OURS = (
    similarities.dice_coefficient_accelerated,
    similarities.dice_coefficient_python,
    similarities.dice_coefficient,
)


def _is_dice(similarity_f) -> bool:
    if similarity_f in _OURS:
        return True
    # anonlink's own Dice functions compute the same thing: run them natively too.
    module = getattr(similarity_f, "__module__", "") or ""
    name = getattr(similarity_f, "__name__", "")
    return module.startswith("anonlink.similarities") and name.startswith("dice_coefficient") and "pairs" not in name


def _blocks(datasets, blocking_f):
    """Block ids per dataset and record, interned as integers."""
    ids = {}
    out = []
    for i, dataset in enumerate(datasets):
        per_record = []
        for j, record in enumerate(dataset):
            per_record.append([ids.setdefault(b, len(ids)) for b in blocking_f(i, j, record)])
        out.append(per_record)
    return out


def find_candidate_pairs(
    datasets: Sequence,
    similarity_f,
    threshold: float,
    k: Optional[int] = None,
    blocking_f=None,
):
    """Find candidate pairs from multiple datasets (anonlink's ``find_candidate_pairs``).

    :param datasets: a sequence of datasets (see ``similarities.dice_coefficient``).
    :param similarity_f: a similarity function; the Dice functions of this package (or of
        anonlink) run entirely in the native engine, others are called per block.
    :param threshold: keep pairs with similarity at least this.
    :param k: at most this many candidate pairs per record per dataset pair.
    :param blocking_f: ``f(dataset_index, record_index, record) -> block ids``; records are
        compared only if they share a block.
    :return: ``(sims, (dset_is0, dset_is1), (rec_is0, rec_is1))`` in canonical order.
    """
    datasets = list(datasets)
    if len(datasets) < 2:
        return empty()
    if k is not None and k < 1:
        return empty()
    if _is_dice(similarity_f):
        blocks = _blocks(datasets, blocking_f) if blocking_f is not None else None
        return from_native(_native.find_candidates(datasets, float(threshold), k, "merged", blocks))
    return _generic(datasets, similarity_f, threshold, k, blocking_f)


def _generic(datasets, similarity_f, threshold, k, blocking_f):
    """Any similarity function: called per block and dataset pair; merged natively."""
    if blocking_f is None:
        blocks = {None: tuple(list(range(len(d))) for d in datasets)}
    else:
        blocks = {}
        for i, dataset in enumerate(datasets):
            for j, record in enumerate(dataset):
                for block_id in blocking_f(i, j, record):
                    blocks.setdefault(block_id, tuple([] for _ in datasets))[i].append(j)
    sims, d0, d1, r0, r1 = [], [], [], [], []
    for block in blocks.values():
        for i0, i1 in itertools.combinations(range(len(block)), 2):
            recs0 = [datasets[i0][r] for r in block[i0]]
            recs1 = [datasets[i1][r] for r in block[i1]]
            if not recs0 or not recs1:
                continue
            s, (a, b) = similarity_f((recs0, recs1), threshold, k=k)
            sims.extend(s)
            d0.extend([i0] * len(s))
            d1.extend([i1] * len(s))
            r0.extend(block[i0][x] for x in a)
            r1.extend(block[i1][x] for x in b)
    return from_native(_native.merge_candidates((sims, d0, d1, r0, r1), k))


__all__ = ["find_candidate_pairs"]
