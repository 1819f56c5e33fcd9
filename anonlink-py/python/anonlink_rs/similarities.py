"""Similarity functions: Sørensen–Dice on CLKs, computed by anonlink-core's SIMD kernels.

``dice_coefficient_accelerated``, ``dice_coefficient_python`` and ``dice_coefficient`` are
the same exact function here (the reference's Python and C++ versions agree too).
"""

from array import array
from typing import Optional, Sequence, Tuple

from anonlink_rs import _native
from anonlink_rs._arrays import from_native


def dice_coefficient_accelerated(
    datasets: Sequence, threshold: float, k: Optional[int] = None
) -> Tuple[array, Tuple[array, array]]:
    """Dice coefficients of two datasets of CLKs, at least ``threshold``.

    :param datasets: two datasets; each a sequence of ``bitarray``/``bytes``/uint8 arrays,
        a 2-D ``numpy`` uint8 array (N × bytes), or a file path.
    :param threshold: keep pairs with similarity at least this.
    :param k: keep at most this many candidates per record of the first dataset (ties go
        to the lower index in the second).
    :return: ``(sims, (rec_is0, rec_is1))``, sorted by similarity descending, then indices.
    """
    n = len(datasets)
    if n < 2:
        raise ValueError(f"not enough datasets (expected 2, got {n})")
    if n > 2:
        raise NotImplementedError(f"too many datasets (expected 2, got {n})")
    if k is not None and k < 1:
        return array("d"), (array("I"), array("I"))
    sims, _, recs = from_native(
        _native.find_candidates(list(datasets), float(threshold), k, "row")
    )
    return sims, recs


dice_coefficient_python = dice_coefficient_accelerated
dice_coefficient = dice_coefficient_accelerated


def dice_coefficient_pairs_python(datasets: Sequence) -> array:
    """Dice coefficient of each pair ``(datasets[0][i], datasets[1][i])``."""
    a, b = datasets
    if len(a) != len(b):
        raise ValueError("datasets must have the same length")
    return array("d", (_native.dice(x, y) for x, y in zip(a, b)))


__all__ = [
    "dice_coefficient",
    "dice_coefficient_accelerated",
    "dice_coefficient_pairs_python",
    "dice_coefficient_python",
]
