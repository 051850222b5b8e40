"""protocol.merkle against a naive recursive tree written from RFC 6962 section 2.1.

The naive tree here shares no code with protocol.merkle: its own hashing, the
RFC's MTH / PATH / SUBPROOF recursions, and MTH memoised per leaf range.
"""

import hashlib
from functools import cache

import pytest
from hypothesis import given
from hypothesis import strategies as st

from protocol import merkle
from tests.protocol.helpers import FAST

N_EXHAUSTIVE = 300
N_STORED = 4096


def _h(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


LEAVES = [b"leaf-%d" % i for i in range(N_STORED)]
LEAF_HASHES = [_h(b"\x00" + leaf) for leaf in LEAVES]


def _k(n: int) -> int:
    k = 1
    while k * 2 < n:
        k *= 2
    return k


@cache
def naive_mth(start: int, end: int) -> bytes:
    n = end - start
    if n == 0:
        return _h(b"")
    if n == 1:
        return LEAF_HASHES[start]
    k = _k(n)
    return _h(b"\x01" + naive_mth(start, start + k) + naive_mth(start + k, end))


def naive_path_ranges(m: int, lo: int, hi: int) -> list:
    """RFC 6962 PATH(m, D[lo:hi]) as ranges (m relative to lo)."""
    n = hi - lo
    if n == 1:
        return []
    k = _k(n)
    if m < k:
        return [*naive_path_ranges(m, lo, lo + k), (lo + k, hi)]
    return [*naive_path_ranges(m - k, lo + k, hi), (lo, lo + k)]


def naive_subproof_ranges(m: int, lo: int, hi: int, b: bool) -> list:
    """RFC 6962 SUBPROOF(m, D[lo:hi], b) as ranges."""
    n = hi - lo
    if m == n:
        return [] if b else [(lo, hi)]
    k = _k(n)
    if m <= k:
        return [*naive_subproof_ranges(m, lo, lo + k, b), (lo + k, hi)]
    return [*naive_subproof_ranges(m - k, lo + k, hi, False), (lo, lo + k)]


def naive_consistency_ranges(m: int, n: int) -> list:
    return [] if m in (0, n) else naive_subproof_ranges(m, 0, n, True)


def hashes(ranges) -> list:
    return [naive_mth(s, e) for s, e in ranges]


@pytest.fixture(scope="module")
def store():
    """A node store as a database would keep it, filled only through nodes_completed_by_append."""
    nodes = {}
    for i, lh in enumerate(LEAF_HASHES):
        for level, k in merkle.nodes_completed_by_append(i):
            if level == 0:
                nodes[(level, k)] = lh
            else:
                left, right = merkle.node_children(level, k)
                nodes[(level, k)] = merkle.node_hash(nodes[left], nodes[right])
    return nodes


def bulk(store, calls=None):
    def get_nodes_bulk(wanted):
        if calls is not None:
            calls.append(list(wanted))
        return {node: store[node] for node in wanted if node in store}

    return get_nodes_bulk


# --- exhaustive for every size up to 300 ------------------------------------------


def test_roots_every_size(store):
    for n in range(N_EXHAUSTIVE + 1):
        root = naive_mth(0, n)
        assert merkle.root_from_leaf_hashes(LEAF_HASHES[:n]) == root
        assert merkle.root_from_nodes(n, bulk(store)) == root
        assert merkle.hash_range(0, n, lambda level, k: store[(level, k)]) == root


def _sampled(k: int, n: int) -> bool:
    """Which proofs also go through the node store (all of them would double the run time)."""
    return n <= 64 or k % 7 == 0 or k >= n - 2


def test_inclusion_every_index_every_size(store):
    for n in range(1, N_EXHAUSTIVE + 1):
        root = naive_mth(0, n)
        for i in range(n):
            ranges = merkle.inclusion_proof_ranges(i, n)
            assert ranges == naive_path_ranges(i, 0, n)
            proof = hashes(ranges)
            assert merkle.verify_inclusion(i, n, LEAF_HASHES[i], proof, root)
            if _sampled(i, n):
                calls = []
                assert merkle.proof_from_nodes(ranges, bulk(store, calls)) == proof
                assert len(calls) <= 1  # one query, whatever the proof


def test_consistency_every_m_every_size(store):
    for n in range(1, N_EXHAUSTIVE + 1):
        root_n = naive_mth(0, n)
        for m in range(0, n + 1):
            ranges = merkle.consistency_proof_ranges(m, n)
            assert ranges == naive_consistency_ranges(m, n)
            proof = hashes(ranges)
            assert merkle.verify_consistency(m, n, naive_mth(0, m), root_n, proof)
            if _sampled(m, n):
                assert merkle.proof_from_nodes(ranges, bulk(store)) == proof


def test_proof_lengths_without_ranges():
    for n in range(1, 260):
        for i in range(n):
            assert merkle.inclusion_proof_length(i, n) == len(naive_path_ranges(i, 0, n))
        for m in range(1, n):
            assert merkle.consistency_proof_length(m, n) == len(naive_consistency_ranges(m, n))


def test_in_memory_proofs_match_small_sizes():
    for n in range(1, 65):
        for i in range(n):
            assert merkle.inclusion_proof(i, n, LEAF_HASHES) == hashes(naive_path_ranges(i, 0, n))
        for m in range(n + 1):
            assert merkle.consistency_proof(m, n, LEAF_HASHES) == hashes(naive_consistency_ranges(m, n))


def test_nodes_completed_by_append_are_exactly_the_complete_aligned_subtrees(store):
    done = set()
    for i in range(300):
        done.update(merkle.nodes_completed_by_append(i))
        expected = {(lv, k) for lv in range(10) for k in range((i + 1) >> lv)}
        assert done == expected
    for (level, k), h in store.items():
        start, end = merkle.node_range(level, k)
        assert h == naive_mth(start, end)


def test_range_to_perfect_nodes_every_small_range(store):
    """Any range either decomposes into stored nodes that fold to its MTH, or is refused."""
    refused = 0
    for start in range(0, 70):
        for end in range(start, 70):
            try:
                nodes = merkle.range_to_perfect_nodes(start, end)
            except ValueError:
                refused += 1
                continue
            covered = [merkle.node_range(level, k) for level, k in nodes]
            bounds = [start] + [c[1] for c in covered]
            assert [c[0] for c in covered] == bounds[:-1]
            assert bounds[-1] == end
            assert merkle.hash_range(start, end, lambda level, k: store[(level, k)]) == naive_mth(start, end)
    assert refused  # e.g. [1, 4): MTH splits it 2+1 at an unaligned point


def test_missing_node_is_a_storage_fault():
    with pytest.raises(KeyError):
        merkle.proof_from_nodes([(0, 3)], lambda wanted: {})


# --- random beyond 300 -------------------------------------------------------------


@FAST
@given(st.data())
def test_random_proofs_from_store_match_naive(store, data):
    n = data.draw(st.integers(N_EXHAUSTIVE + 1, N_STORED))
    i = data.draw(st.integers(0, n - 1))
    m = data.draw(st.integers(0, n))
    root_n = naive_mth(0, n)
    ranges = merkle.inclusion_proof_ranges(i, n)
    assert ranges == naive_path_ranges(i, 0, n)
    proof = merkle.proof_from_nodes(ranges, bulk(store))
    assert proof == hashes(ranges)
    assert merkle.verify_inclusion(i, n, LEAF_HASHES[i], proof, root_n)
    cranges = merkle.consistency_proof_ranges(m, n)
    assert cranges == naive_consistency_ranges(m, n)
    cproof = merkle.proof_from_nodes(cranges, bulk(store))
    assert cproof == hashes(cranges)
    assert merkle.verify_consistency(m, n, naive_mth(0, m), root_n, cproof)
    assert merkle.root_from_nodes(n, bulk(store)) == root_n


# Identical leaves make every complete subtree of level l the same hash, so trees of
# 2**62 leaves can be hashed: the proofs' structure and verification are exercised
# at sizes no test could store.
SAME_LEAF = _h(b"\x00same")
LEVEL_HASH = [SAME_LEAF]
for _ in range(64):
    LEVEL_HASH.append(_h(b"\x01" + LEVEL_HASH[-1] + LEVEL_HASH[-1]))


@cache
def uniform_mth(n: int) -> bytes:
    if n & (n - 1) == 0:
        return LEVEL_HASH[n.bit_length() - 1]
    k = _k(n)
    return _h(b"\x01" + uniform_mth(k) + uniform_mth(n - k))


def uniform_bulk(wanted):
    return {(level, k): LEVEL_HASH[level] for level, k in wanted}


@FAST
@given(st.data())
def test_huge_trees(data):
    n = data.draw(st.integers(1, 2**62))
    i = data.draw(st.integers(0, n - 1))
    m = data.draw(st.integers(0, n))
    ranges = merkle.inclusion_proof_ranges(i, n)
    assert ranges == naive_path_ranges(i, 0, n)
    nodes = merkle.nodes_for_ranges(ranges)
    assert len(nodes) <= 2 * 64 * 64
    root = merkle.root_from_nodes(n, uniform_bulk)
    assert root == uniform_mth(n)
    proof = merkle.proof_from_nodes(ranges, uniform_bulk)
    assert merkle.verify_inclusion(i, n, SAME_LEAF, proof, root)
    assert merkle.inclusion_proof_length(i, n) == len(ranges)
    cranges = merkle.consistency_proof_ranges(m, n)
    assert cranges == naive_consistency_ranges(m, n)
    if 0 < m < n:
        assert merkle.consistency_proof_length(m, n) == len(cranges)
    cproof = merkle.proof_from_nodes(cranges, uniform_bulk)
    assert merkle.verify_consistency(m, n, merkle.root_from_nodes(m, uniform_bulk), root, cproof)


# --- mutations are rejected -----------------------------------------------------------


def _flips(h: bytes):
    for byte in (0, 17, 31):
        for bit in (0, 7):
            yield h[:byte] + bytes([h[byte] ^ (1 << bit)]) + h[byte + 1 :]


CASES = [
    (i, n) for n in (1, 2, 3, 5, 7, 8, 9, 16, 31, 33, 100) for i in sorted({0, 1, n // 2, n - 2, n - 1}) if 0 <= i < n
]


@pytest.mark.parametrize(("i", "n"), CASES)
def test_inclusion_mutations_fail(i, n):
    root = naive_mth(0, n)
    leaf = LEAF_HASHES[i]
    proof = hashes(naive_path_ranges(i, 0, n))
    assert merkle.verify_inclusion(i, n, leaf, proof, root)
    for j in (i - 1, i + 1):
        assert not merkle.verify_inclusion(j, n, leaf, proof, root)
    # Only x2 and /2: a root of size n also has the *shape* of a tree of size n + 1
    # whose last subtree is that one leaf (RFC 9162 verifiers cannot tell the hash
    # of a leaf from that of a node), which is why sizes travel signed with roots.
    for size in (n * 2, n // 2):
        assert not merkle.verify_inclusion(i, size, leaf, proof, root)
    for bad in _flips(leaf):
        assert not merkle.verify_inclusion(i, n, bad, proof, root)
    for bad in _flips(root):
        assert not merkle.verify_inclusion(i, n, leaf, proof, bad)
    for pos in range(len(proof)):
        for bad in _flips(proof[pos]):
            assert not merkle.verify_inclusion(i, n, leaf, [*proof[:pos], bad, *proof[pos + 1 :]], root)
        assert not merkle.verify_inclusion(i, n, leaf, proof[:pos] + proof[pos + 1 :], root)
    for pos in range(len(proof) + 1):
        assert not merkle.verify_inclusion(i, n, leaf, [*proof[:pos], root, *proof[pos:]], root)
    if n > 1:  # for one leaf the root is the leaf hash
        assert not merkle.verify_inclusion(i, n, leaf, proof, leaf)


CCASES = [(m, n) for n in (2, 3, 4, 5, 7, 8, 9, 16, 17, 31, 100) for m in sorted({1, 2, n // 2, n - 1}) if 0 < m < n]


@pytest.mark.parametrize(("m", "n"), CCASES)
def test_consistency_mutations_fail(m, n):
    root_m, root_n = naive_mth(0, m), naive_mth(0, n)
    proof = hashes(naive_consistency_ranges(m, n))
    assert merkle.verify_consistency(m, n, root_m, root_n, proof)
    assert not merkle.verify_consistency(n, m, root_n, root_m, proof)
    assert not merkle.verify_consistency(m, n, root_n, root_m, proof)
    for mm in (m - 1, m + 1, m * 2, m // 2):
        if mm != m:
            assert not merkle.verify_consistency(mm, n, root_m, root_n, proof)
    for nn in (n * 2, n // 2):
        if nn != n:
            assert not merkle.verify_consistency(m, nn, root_m, root_n, proof)
    for bad in _flips(root_m):
        assert not merkle.verify_consistency(m, n, bad, root_n, proof)
    for bad in _flips(root_n):
        assert not merkle.verify_consistency(m, n, root_m, bad, proof)
    for pos in range(len(proof)):
        for bad in _flips(proof[pos]):
            assert not merkle.verify_consistency(m, n, root_m, root_n, [*proof[:pos], bad, *proof[pos + 1 :]])
        assert not merkle.verify_consistency(m, n, root_m, root_n, proof[:pos] + proof[pos + 1 :])
    for pos in range(len(proof) + 1):
        assert not merkle.verify_consistency(m, n, root_m, root_n, [*proof[:pos], root_m, *proof[pos:]])


def test_edge_cases_return_false_never_raise():
    r1, r2 = naive_mth(0, 1), naive_mth(0, 2)
    assert not merkle.verify_inclusion(0, 0, r1, [], merkle.EMPTY_ROOT)
    assert not merkle.verify_inclusion(-1, 2, r1, [], r2)
    assert not merkle.verify_inclusion(2, 2, r1, [], r2)
    assert not merkle.verify_inclusion(0, 1, r1[:31], [], r1[:31])
    assert merkle.verify_inclusion(0, 1, r1, [], r1)
    assert not merkle.verify_inclusion(0, 1, r1, [r1], r1)
    assert merkle.verify_consistency(0, 5, merkle.EMPTY_ROOT, naive_mth(0, 5), [])
    assert not merkle.verify_consistency(0, 5, r1, naive_mth(0, 5), [])
    assert not merkle.verify_consistency(0, 5, merkle.EMPTY_ROOT, naive_mth(0, 5), [r1])
    assert merkle.verify_consistency(3, 3, naive_mth(0, 3), naive_mth(0, 3), [])
    assert not merkle.verify_consistency(3, 3, naive_mth(0, 3), naive_mth(0, 3), [r1])
    assert not merkle.verify_consistency(3, 3, naive_mth(0, 3), r1, [])
    assert not merkle.verify_consistency(3, 2, naive_mth(0, 3), r2, [])
    assert not merkle.verify_consistency(-1, 2, r1, r2, [])
    assert not merkle.verify_consistency(1, 2, r1, r2, [])
    assert not merkle.verify_consistency(1, 2, r1, r2, [b"short"])


def test_wrong_types_raise():
    r = naive_mth(0, 1)
    with pytest.raises(TypeError):
        merkle.verify_inclusion("0", 1, r, [], r)
    with pytest.raises(TypeError):
        merkle.verify_inclusion(True, 1, r, [], r)
    with pytest.raises(TypeError):
        merkle.verify_inclusion(0, 1, r.hex(), [], r)
    with pytest.raises(TypeError):
        merkle.verify_inclusion(0, 1, r, r, r)
    with pytest.raises(TypeError):
        merkle.verify_consistency(1, 2, r, r, [r.hex()])
    with pytest.raises(ValueError):
        merkle.inclusion_proof_ranges(3, 3)
    with pytest.raises(ValueError):
        merkle.consistency_proof_ranges(4, 3)
