"""Privacy-preserving record linkage on CLKs, backed by the Rust engine anonlink-core."""

from anonlink_rs._native import (
    AnonlinkError,
    __version__,
    dice_coefficient,
    find_candidate_pairs,
    greedy_solve,
)

__all__ = [
    "AnonlinkError",
    "__version__",
    "dice_coefficient",
    "find_candidate_pairs",
    "greedy_solve",
]
