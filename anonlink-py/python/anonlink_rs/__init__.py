"""Privacy-preserving record linkage on CLKs, backed by the Rust engine anonlink-core.

A drop-in for the ``anonlink`` library: ``import anonlink_rs as anonlink`` and existing code
that uses ``similarities``, ``candidate_generation``, ``solving``, ``serialization``,
``concurrency``, ``blocking`` and ``stats`` keeps working, with the same arguments, return
types and results.
"""

from anonlink_rs import (
    blocking,
    candidate_generation,
    clk,
    concurrency,
    serialization,
    similarities,
    solving,
    stats,
    typechecking,
)
from anonlink_rs._native import AnonlinkError, __version__

__all__ = [
    "AnonlinkError",
    "__version__",
    "blocking",
    "candidate_generation",
    "clk",
    "concurrency",
    "serialization",
    "similarities",
    "solving",
    "stats",
    "typechecking",
]
