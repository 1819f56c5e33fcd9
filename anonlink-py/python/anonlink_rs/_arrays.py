"""Candidate pairs between the native module (five byte strings) and anonlink's arrays."""

from array import array

from anonlink_rs import _native


def from_native(parts):
    """``(sims, (dset_is0, dset_is1), (rec_is0, rec_is1))`` from the native byte strings."""
    sims, d0, d1, r0, r1 = parts
    out = []
    for typecode, data in (("d", sims), ("I", d0), ("I", d1), ("I", r0), ("I", r1)):
        a = array(typecode)
        a.frombytes(data)
        out.append(a)
    return out[0], (out[1], out[2]), (out[3], out[4])


def to_native(candidate_pairs):
    """The five sequences the native functions take, checked for shape."""
    try:
        sims, dset_is, rec_is = candidate_pairs
    except (TypeError, ValueError):
        raise ValueError("candidate pairs must be (sims, (dset_is0, dset_is1), (rec_is0, rec_is1))") from None
    if len(dset_is) != len(rec_is):
        raise ValueError("inconsistent shape of index arrays")
    if len(dset_is) != 2:
        raise NotImplementedError("only binary solving is supported")
    (d0, d1), (r0, r1) = dset_is, rec_is
    if not (len(sims) == len(d0) == len(d1) == len(r0) == len(r1)):
        raise ValueError("inconsistent shape of index arrays")
    return list(sims), list(d0), list(d1), list(r0), list(r1)


def empty():
    return array("d"), (array("I"), array("I")), (array("I"), array("I"))


__all__ = ["from_native", "to_native", "empty", "_native"]
