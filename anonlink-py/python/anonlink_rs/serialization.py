"""Candidate-pair files in anonlink's binary format (header ``01 08 04 04``)."""

from typing import BinaryIO, Iterable

from anonlink_rs import _native
from anonlink_rs._arrays import from_native, to_native


def dump_candidate_pairs_iter(candidate_pairs) -> Iterable[bytes]:
    """The file's bytes, as an iterable of bytes objects."""
    yield _native.dump_candidates(to_native(candidate_pairs))


def dump_candidate_pairs(candidate_pairs, f: BinaryIO) -> None:
    """Writes candidate pairs to the binary file ``f``."""
    for chunk in dump_candidate_pairs_iter(candidate_pairs):
        f.write(chunk)


def load_candidate_pairs(f: BinaryIO):
    """Reads candidate pairs from the binary file ``f``."""
    return from_native(_native.load_candidates(f.read()))


def load_to_iterable(f: BinaryIO):
    """The pairs of ``f`` as ``(sim, dset_i0, dset_i1, rec_i0, rec_i1)`` tuples."""
    sims, (d0, d1), (r0, r1) = load_candidate_pairs(f)
    return zip(sims, d0, d1, r0, r1)


def merge_streams_iter(files_in) -> Iterable[bytes]:
    """Merged (sorted) candidate files, as an iterable of bytes objects."""
    files_in = list(files_in)
    if not files_in:
        raise ValueError("no files provided")
    yield _native.merge_candidate_files([f.read() for f in files_in])


def merge_streams(files_in, f_out: BinaryIO) -> None:
    """Merges sorted candidate files into ``f_out``, keeping the order."""
    for chunk in merge_streams_iter(files_in):
        f_out.write(chunk)


__all__ = [
    "dump_candidate_pairs",
    "dump_candidate_pairs_iter",
    "load_candidate_pairs",
    "load_to_iterable",
    "merge_streams",
    "merge_streams_iter",
]
