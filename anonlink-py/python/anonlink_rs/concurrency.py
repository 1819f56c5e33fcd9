"""Splitting work into chunks for parallel processing (anonlink's ``concurrency``)."""

from typing import Optional, Sequence

from anonlink_rs import _native
from anonlink_rs._arrays import empty, from_native
from anonlink_rs.candidate_generation import _blocks, _is_dice, find_candidate_pairs


def split_to_chunks(chunk_size_aim, *, dataset_sizes: Sequence[int]):
    """Chunks of about ``chunk_size_aim`` comparisons, exactly as anonlink splits them.

    Each chunk is ``[{"datasetIndex": i0, "range": [a0, b0]}, {"datasetIndex": i1, "range": [a1, b1]}]``.
    """
    for (i0, a0, b0), (i1, a1, b1) in _native.split_to_chunks(
        float(chunk_size_aim), [int(s) for s in dataset_sizes]
    ):
        yield [{"datasetIndex": i0, "range": [a0, b0]}, {"datasetIndex": i1, "range": [a1, b1]}]


def process_chunk(chunk, datasets: Sequence, similarity_f, threshold: float, k: Optional[int] = None, blocking_f=None):
    """Candidate pairs of one chunk, with the chunk's dataset indices and row offsets."""
    if len(chunk) != len(datasets):
        raise ValueError(
            f"number of datasets does not match chunk (expected {len(chunk)}, got {len(datasets)})"
        )
    for i, dataset_chunk in enumerate(chunk):
        if "datasetIndex" not in dataset_chunk:
            raise ValueError(f"invalid chunk: expected value for 'datasetIndex' at index {i}")
        if "range" not in dataset_chunk:
            raise ValueError(f"invalid chunk: expected value for 'range' at index {i}")
    for i, (dataset_chunk, records) in enumerate(zip(chunk, datasets)):
        a, b = dataset_chunk["range"]
        if len(records) != b - a:
            raise ValueError(
                f"size of dataset at index {i} does not match chunk (expected {b - a}, got {len(records)})"
            )
    if len(chunk) != 2:
        raise NotImplementedError(
            f"only binary matching is currently supported (chunk has {len(chunk)} datasets)"
        )
    (i0, (a0, b0)), (i1, (a1, b1)) = ((c["datasetIndex"], c["range"]) for c in chunk)
    if _is_dice(similarity_f) and i0 < i1:
        # The whole chunk in the native engine, rows and dataset indices included.
        if k is not None and k < 1:
            return empty()
        blocks = _blocks(datasets, blocking_f) if blocking_f is not None else None
        return from_native(_native.find_chunk_candidates(
            (i0, i1), ((a0, b0), (a1, b1)), list(datasets), float(threshold), k, blocks
        ))
    sims, (d0, d1), (r0, r1) = find_candidate_pairs(datasets, similarity_f, threshold, k=k, blocking_f=blocking_f)
    for arr, dataset_chunk in ((d0, chunk[0]), (d1, chunk[1])):
        for i in range(len(arr)):
            arr[i] = dataset_chunk["datasetIndex"]
    for arr, dataset_chunk in ((r0, chunk[0]), (r1, chunk[1])):
        offset = dataset_chunk["range"][0]
        if offset:
            for i in range(len(arr)):
                arr[i] += offset
    return sims, (d0, d1), (r0, r1)


__all__ = ["process_chunk", "split_to_chunks"]
