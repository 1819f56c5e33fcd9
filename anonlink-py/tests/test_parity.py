"""anonlink_rs against the reference anonlink 0.15.3 package, on the same data."""

import io

import anonlink
import numpy as np
import pytest

import anonlink_rs

from conftest import DATA, assert_same_candidates, canonical


@pytest.mark.parametrize("threshold", [0.8, 0.9, 0.95])
@pytest.mark.parametrize("k", [None, 1, 3])
def test_dice_coefficient_matches(febrl4, threshold, k):
    ours = anonlink_rs.similarities.dice_coefficient_accelerated(febrl4, threshold, k=k)
    theirs = anonlink.similarities.dice_coefficient_accelerated(febrl4, threshold, k=k)
    assert list(ours[0]) == list(theirs[0])
    assert [list(x) for x in ours[1]] == [list(x) for x in theirs[1]]
    assert anonlink_rs.similarities.dice_coefficient is anonlink_rs.similarities.dice_coefficient_accelerated


@pytest.mark.parametrize("k", [None, 2])
def test_find_candidate_pairs_multiparty(multiparty, k):
    ours = anonlink_rs.candidate_generation.find_candidate_pairs(
        multiparty, anonlink_rs.similarities.dice_coefficient, 0.8, k=k)
    theirs = anonlink.candidate_generation.find_candidate_pairs(
        multiparty, anonlink.similarities.dice_coefficient, 0.8, k=k)
    assert_same_candidates(ours, theirs)


def test_find_candidate_pairs_with_blocking(multiparty):
    small = [d[:800] for d in multiparty[:3]]
    for ours_f, theirs_f in [
        (anonlink_rs.blocking.bit_blocking(4, 12, seed=7), anonlink.blocking.bit_blocking(4, 12, seed=7)),
        (anonlink_rs.blocking.list_blocking([[i % 3 for i in range(800)]] * 3),
         anonlink.blocking.list_blocking([[i % 3 for i in range(800)]] * 3)),
    ]:
        for k in (None, 1):
            ours = anonlink_rs.candidate_generation.find_candidate_pairs(
                small, anonlink_rs.similarities.dice_coefficient, 0.7, k=k, blocking_f=ours_f)
            theirs = anonlink.candidate_generation.find_candidate_pairs(
                small, anonlink.similarities.dice_coefficient, 0.7, k=k, blocking_f=theirs_f)
            assert_same_candidates(ours, theirs)


def test_custom_similarity_function_goes_through_the_generic_path(multiparty):
    small = [d[:500] for d in multiparty[:3]]

    def my_dice(datasets, threshold, k=None):
        return anonlink.similarities.dice_coefficient_python(datasets, threshold, k=k)

    ours = anonlink_rs.candidate_generation.find_candidate_pairs(small, my_dice, 0.75, k=2)
    theirs = anonlink.candidate_generation.find_candidate_pairs(small, my_dice, 0.75, k=2)
    assert_same_candidates(ours, theirs)
    # anonlink's own Dice function is recognised and runs natively, with the same result.
    fast = anonlink_rs.candidate_generation.find_candidate_pairs(
        small, anonlink.similarities.dice_coefficient_accelerated, 0.75, k=2)
    assert_same_candidates(fast, theirs)


@pytest.mark.parametrize("threshold", [0.7, 0.8])
def test_solvers_match(multiparty, threshold):
    cands = anonlink.candidate_generation.find_candidate_pairs(
        multiparty, anonlink.similarities.dice_coefficient, threshold)
    assert canonical(anonlink_rs.solving.greedy_solve(cands)) == canonical(anonlink.solving.greedy_solve(cands))
    for mt, dedup in [(0.5, True), (0.5, False), (1.0, True), (0.3, True)]:
        ours = anonlink_rs.solving.probabilistic_greedy_solve(cands, merge_threshold=mt, deduplicated=dedup)
        theirs = anonlink.solving.probabilistic_greedy_solve(cands, merge_threshold=mt, deduplicated=dedup)
        assert canonical(ours) == canonical(theirs), (mt, dedup)


def test_pairs_from_groups(febrl4):
    cands = anonlink_rs.candidate_generation.find_candidate_pairs(febrl4, anonlink_rs.similarities.dice_coefficient, 0.8)
    groups = anonlink_rs.solving.greedy_solve(cands)
    assert sorted(anonlink_rs.solving.pairs_from_groups(groups)) == sorted(anonlink.solving.pairs_from_groups(groups))
    with pytest.raises(ValueError, match="non-bipartite"):
        list(anonlink_rs.solving.pairs_from_groups([((0, 1), (2, 1))]))


def test_serialization_round_trips_with_the_reference(multiparty):
    cands = anonlink_rs.candidate_generation.find_candidate_pairs(
        multiparty[:3], anonlink_rs.similarities.dice_coefficient, 0.8)
    ours, theirs = io.BytesIO(), io.BytesIO()
    anonlink_rs.serialization.dump_candidate_pairs(cands, ours)
    anonlink.serialization.dump_candidate_pairs(cands, theirs)
    assert ours.getvalue() == theirs.getvalue()
    assert_same_candidates(anonlink_rs.serialization.load_candidate_pairs(io.BytesIO(theirs.getvalue())), cands)
    assert_same_candidates(anonlink.serialization.load_candidate_pairs(io.BytesIO(ours.getvalue())), cands)
    # Merging two halves gives the whole, in order, as the reference's merge does.
    halves = []
    for part in (slice(0, None, 2), slice(1, None, 2)):
        sims, (d0, d1), (r0, r1) = cands
        import array
        half = (array.array("d", sims[part]), (array.array("I", d0[part]), array.array("I", d1[part])),
                (array.array("I", r0[part]), array.array("I", r1[part])))
        f = io.BytesIO()
        anonlink_rs.serialization.dump_candidate_pairs(half, f)
        halves.append(f.getvalue())
    merged_ours, merged_theirs = io.BytesIO(), io.BytesIO()
    anonlink_rs.serialization.merge_streams([io.BytesIO(h) for h in halves], merged_ours)
    anonlink.serialization.merge_streams([io.BytesIO(h) for h in halves], merged_theirs)
    assert merged_ours.getvalue() == merged_theirs.getvalue() == ours.getvalue()


@pytest.mark.parametrize("aim", [1e3, 1e4, 12345.6, 3e8])
def test_chunks_and_process_chunk(multiparty, aim):
    sizes = [len(d) for d in multiparty] + [0, 17]
    assert list(anonlink_rs.concurrency.split_to_chunks(aim, dataset_sizes=sizes)) == \
        list(anonlink.concurrency.split_to_chunks(aim, dataset_sizes=sizes))
    # The first and the last chunk (rows offset in both datasets), plain, with k, blocked.
    chunks = list(anonlink.concurrency.split_to_chunks(2e5, dataset_sizes=[len(multiparty[1]), len(multiparty[3])]))
    for chunk in (chunks[0], chunks[-1]):
        chunk = [dict(chunk[0], datasetIndex=1), dict(chunk[1], datasetIndex=3)]
        parts = [multiparty[1][slice(*chunk[0]["range"])], multiparty[3][slice(*chunk[1]["range"])]]
        for options in ({}, {"k": 2}, {"blocking_f": anonlink.blocking.bit_blocking(2, 4, seed=5)}):
            ours_options = dict(options)
            if "blocking_f" in options:
                ours_options["blocking_f"] = anonlink_rs.blocking.bit_blocking(2, 4, seed=5)
            ours = anonlink_rs.concurrency.process_chunk(
                chunk, parts, anonlink_rs.similarities.dice_coefficient, 0.7, **ours_options)
            theirs = anonlink.concurrency.process_chunk(
                chunk, parts, anonlink.similarities.dice_coefficient, 0.7, **options)
            assert_same_candidates(ours, theirs)


def test_blocking_functions_give_the_same_blocks(febrl4):
    a = febrl4[0][:50]
    for make in [lambda m: m.bit_blocking(3, 8, seed=1),
                 lambda m: m.block_or(m.bit_blocking(2, 4, seed=2), m.list_blocking([list(range(50))])),
                 lambda m: m.block_and(m.bit_blocking(2, 4, seed=3), m.bit_blocking(1, 3, seed=4)),
                 lambda m: m.continuous_blocking(0.5, [[i / 7 for i in range(50)]])]:
        ours, theirs = make(anonlink_rs.blocking), make(anonlink.blocking)
        for j, rec in enumerate(a):
            assert list(ours(0, j, rec)) == list(theirs(0, j, rec))


def test_stats_match(febrl4):
    cands = anonlink.candidate_generation.find_candidate_pairs(febrl4, anonlink.similarities.dice_coefficient, 0.6)
    for ours, theirs in [
        (anonlink_rs.stats.similarities_hist(cands, bins=20), anonlink.stats.similarities_hist(cands, bins=20)),
        (anonlink_rs.stats.matches_nonmatches_hist(cands, bins=30), anonlink.stats.matches_nonmatches_hist(cands, bins=30)),
        (anonlink_rs.stats.cumul_number_matches_vs_threshold(cands, steps=25),
         anonlink.stats.cumul_number_matches_vs_threshold(cands, steps=25)),
    ]:
        assert len(ours) == len(theirs)
        for x, y in zip(ours, theirs):
            np.testing.assert_array_equal(x, y)
    for n in (1, 10, 1000):
        assert anonlink_rs.stats.nonmatch_index_score(cands, n) == anonlink.stats.nonmatch_index_score(cands, n)
