"""Statistics to choose a threshold (anonlink's ``stats``). The greedy walks run in the
native engine; ``numpy`` provides the histogram bins, as in the reference."""

from anonlink_rs import _native
from anonlink_rs._arrays import to_native


def _np():
    try:
        import numpy
    except ImportError as e:  # pragma: no cover - numpy is a dependency
        raise ImportError("anonlink_rs.stats needs numpy") from e
    return numpy


def _sims(candidate_pairs):
    np = _np()
    sims = candidate_pairs[0]
    return np.asarray(sims, dtype=float)


def _check_bipartite(candidate_pairs) -> bool:
    _, (d0, d1), _ = candidate_pairs
    return all(x == 0 for x in d0) and all(x == 1 for x in d1)


def similarities_hist(candidate_pairs, bins: int = 100):
    """Histogram of the similarity scores: ``(counts, bin_edges)``."""
    return _np().histogram(_sims(candidate_pairs), bins=bins)


def _semiopen_hist_matches_nonmatches(candidate_pairs, steps: int = 100):
    np = _np()
    if not _check_bipartite(candidate_pairs):
        raise ValueError("only 2-party matching is supported")
    thresholds = np.histogram_bin_edges(_sims(candidate_pairs), bins=steps)
    matches, nonmatches = _native.semiopen_histogram(to_native(candidate_pairs), list(map(float, thresholds)))
    return np.array(matches, dtype=int), np.array(nonmatches, dtype=int), thresholds


def matches_nonmatches_hist(candidate_pairs, bins: int = 100):
    """Histograms of possible matches and definite non-matches (2-party greedy rule):
    ``(matches, nonmatches, bin_edges)``."""
    np = _np()
    num_matches, num_nonmatches, thresholds = _semiopen_hist_matches_nonmatches(candidate_pairs, bins)
    num_matches[-2] += num_matches[-1]
    num_nonmatches[-2] += num_nonmatches[-1]
    return np.array(num_matches[:-1]), np.array(num_nonmatches[:-1]), thresholds


def cumul_number_matches_vs_threshold(candidate_pairs, steps: int = 100):
    """Number of matches the greedy solver would return at each threshold:
    ``(num_matches, thresholds)``, both of length ``steps + 1``."""
    np = _np()
    num_matches, _, thresholds = _semiopen_hist_matches_nonmatches(candidate_pairs, steps)
    num_matches_rev = num_matches[::-1]
    np.cumsum(num_matches_rev, out=num_matches_rev)
    return num_matches, thresholds


def nonmatch_index_score(candidate_pairs, n: int = 1) -> int:
    """Index (in descending similarity) of the ``n``-th definite non-match."""
    if not _check_bipartite(candidate_pairs):
        raise ValueError("only 2-party matching is supported")
    flags = _native.possible_matches(to_native(candidate_pairs))
    nonmatches = 0
    for i, fresh in enumerate(flags):
        if not fresh:
            nonmatches += 1
            if nonmatches == n:
                return i
    raise ValueError("fewer than n definite nonmatches")


def plot_similarities_hist(candidate_pairs, bins: int = 100, ax=None, threshold=None):
    """Plots the score histogram with matplotlib (log scale), marking ``threshold`` if given.

    Returns the axes. Needs matplotlib (``pip install matplotlib``).
    """
    try:
        import matplotlib.pyplot as plt
    except ImportError as e:
        raise ImportError("plot_similarities_hist needs matplotlib: pip install matplotlib") from e
    counts, edges = similarities_hist(candidate_pairs, bins=bins)
    if ax is None:
        _, ax = plt.subplots()
    ax.bar(edges[:-1], counts, width=edges[1:] - edges[:-1], align="edge", log=True)
    ax.set_xlabel("similarity score")
    ax.set_ylabel("candidate pairs")
    if threshold is not None:
        ax.axvline(threshold, color="red", linestyle="--")
    return ax


def estimate(datasets):
    """What a model of the scores says about linking ``datasets`` (CLKs), without the
    truth: candidates above a floor chosen from the data, the threshold of best estimated
    F1 (``suggested``), estimated precision, recall and F1 over thresholds (``curve``), the
    link scores split into expected matches and non-matches (``distribution``), and how far
    to trust it (``confidence``). Raises ``AnonlinkError`` when the scores cannot be
    modelled (one dataset, no records, scores all alike).
    """
    import json

    return json.loads(_native.estimate(list(datasets)))


__all__ = [
    "estimate",
    "cumul_number_matches_vs_threshold",
    "matches_nonmatches_hist",
    "nonmatch_index_score",
    "plot_similarities_hist",
    "similarities_hist",
]
