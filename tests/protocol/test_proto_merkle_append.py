"""protocol.merkle's append hashing (leaf_hashes, hash_levels, hash_append) against the naive RFC 6962 tree.

What a log stores when it appends, recomputed with no database: the nodes an
append completes are exactly those nodes_completed_by_append names, and each
is the MTH of the leaves it covers (naive_mth: code shared with nothing here).
"""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from protocol import merkle
from tests.protocol.helpers import FAST
from tests.protocol.test_proto_merkle import LEAF_HASHES, LEAVES, N_STORED, naive_mth


def _left(first):
    """The right edge of the tree of size `first`: {level: hash}, as a log reads it from its stored nodes."""
    return {level: naive_mth(*merkle.node_range(level, k)) for level, k in merkle.range_to_perfect_nodes(0, first)}


def _appended(first, count):
    levels = merkle.hash_append(first, LEAVES[first : first + count], _left(first))
    return {(level, k0 + i): h for level, (k0, hashes) in enumerate(levels) for i, h in enumerate(hashes)}


def test_leaf_hashes_are_leaf_hash_of_each():
    assert merkle.leaf_hashes(LEAVES[:50]) == [merkle.leaf_hash(leaf) for leaf in LEAVES[:50]] == LEAF_HASHES[:50]
    assert merkle.leaf_hashes([]) == []


@pytest.mark.parametrize(
    "first,count", [(0, 1), (0, 64), (1, 1), (5, 11), (63, 2), (64, 64), (1000, 1049), (2047, 2), (4095, 1)]
)
def test_an_append_completes_exactly_the_nodes_nodes_completed_by_append_names(first, count):
    got = _appended(first, count)
    expected = {node for index in range(first, first + count) for node in merkle.nodes_completed_by_append(index)}
    assert set(got) == expected
    for (level, k), h in got.items():
        assert h == naive_mth(*merkle.node_range(level, k))


@FAST
@given(st.integers(0, N_STORED - 1), st.integers(1, 300))
def test_any_append_hashes_the_mth_of_each_node_it_completes(first, count):
    count = min(count, N_STORED - first)
    for (level, k), h in _appended(first, count).items():
        assert h == naive_mth(*merkle.node_range(level, k))


def test_appends_in_any_batches_give_the_root_of_the_whole():
    """A verifier replaying a log's appends (ragged batches) rebuilds its nodes, and from them its roots."""
    stored = {}
    first = 0
    for count in (1, 2, 509, 1024, 513):
        left = {level: stored[(level, k)] for level, k in merkle.range_to_perfect_nodes(0, first)}
        levels = merkle.hash_levels(first, merkle.leaf_hashes(LEAVES[first : first + count]), left)
        stored.update({(level, k0 + i): h for level, (k0, hs) in enumerate(levels) for i, h in enumerate(hs)})
        first += count
    for size in (1, 3, 512, 1024, first):
        assert merkle.root_from_nodes(size, lambda nodes: {n: stored[n] for n in nodes}) == naive_mth(0, size)


def test_hash_levels_needs_the_left_edge():
    """Appending at an odd index needs the left sibling: a missing edge is a KeyError, never a wrong hash."""
    with pytest.raises(KeyError):
        merkle.hash_levels(1, [LEAF_HASHES[1]], {})
    assert merkle.hash_levels(0, [LEAF_HASHES[0]], {}) == [(0, [LEAF_HASHES[0]])]
