"""Storage that scales: a proof reads O(log n) stored hashes in one query, whatever n.

The log keeps every leaf hash and every complete aligned subtree hash from
NODE_LEVEL_MIN up (lower ones are folded from leaf hashes), so the request
cost must not grow with the log: the same number of queries at 3 leaves and at
2,049, and exactly one of them reads stored hashes. Every test runs with the
default layout and with others, down to storing every inner node.
"""

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from protocol import merkle
from transparency import log, models
from transparency.checkpoints import sign_if_due
from transparency.log import append_leaves
from transparency.models import LogLeaf, LogNode, node_key

from .helpers import b64d

# These tests append synthetic leaves (bytes, not entry objects) to measure storage alone.
pytestmark = pytest.mark.log_damaged

BATCHES = (1, 2, 509, 1024, 513)  # ragged appends, 2,049 leaves in all


@pytest.fixture(
    params=[(models.NODE_LEVEL_MIN, "copy"), (models.NODE_LEVEL_MIN, "insert"), (1, "copy"), (3, "copy"), (11, "copy")],
    ids=lambda p: f"level_min={p[0]}-{p[1]}",
)
def level_min(request, monkeypatch):
    """The lowest stored level, and the writer: binary COPY (transparency.storage) or its ORM
    equivalent, bulk inserts of the same rows (orm_append)."""
    level, writer = request.param
    monkeypatch.setattr(models, "NODE_LEVEL_MIN", level)
    if writer == "insert":
        monkeypatch.setattr(log.storage, "copy_leaves", orm_copy_leaves)
        monkeypatch.setattr(log.storage, "copy_nodes", orm_copy_nodes)
    return level


def orm_copy_leaves(first, chunks, kind, appended_at):
    """storage.copy_leaves's specification in the ORM: the same rows, by bulk inserts."""
    rows = []
    while True:
        try:
            rows += next(chunks)
        except StopIteration as done:
            levels = done.value
            break
    LogLeaf.objects.bulk_create(
        [
            LogLeaf(index=first + i, leaf=leaf, hash=h, kind=kind, appended_at=appended_at)
            for i, (leaf, h) in enumerate(rows)
        ],
        batch_size=2000,
    )
    return levels


def orm_copy_nodes(nodes):
    LogNode.objects.bulk_create([LogNode(key=key, hash=h) for key, h in nodes], batch_size=5000)


@pytest.fixture
def leaf_hashes(db, level_min):
    hashes, index = [], 0
    for count in BATCHES:
        leaves = [b'{"n":%d}' % (index + i) for i in range(count)]
        with transaction.atomic():
            assert append_leaves(leaves, kind="attestation") == index
        hashes += [merkle.leaf_hash(leaf) for leaf in leaves]
        index += count
    sign_if_due()
    return hashes


def test_append_stores_a_row_per_leaf_and_the_nodes_of_the_stored_levels(leaf_hashes, level_min):
    n = len(leaf_hashes)
    stored = list(LogLeaf.objects.order_by("index").values_list("index", "hash", "kind", "appended_at"))
    assert [i for i, *_ in stored] == list(range(n))
    assert [bytes(h) for _, h, *_ in stored] == leaf_hashes
    assert {kind for *_, kind, _ in stored} == {"attestation"}
    assert all(abs((timezone.now() - at).total_seconds()) < 600 for *_, at in stored)
    expected = {node_key(level, k) for level in range(level_min, n.bit_length()) for k in range(n >> level)}
    assert set(LogNode.objects.values_list("key", flat=True)) == expected
    assert log.root_at(n) == merkle.root_from_leaf_hashes(leaf_hashes)
    for size in (1, 2, 3, 512, 1535, n):
        assert log.root_at(size) == merkle.root_from_leaf_hashes(leaf_hashes[:size])


def _node_queries(queries):
    """Queries that read stored hashes: node rows, or leaf hashes for the levels below NODE_LEVEL_MIN."""
    tables = (LogNode._meta.db_table, LogLeaf._meta.db_table)
    return [q for q in queries if any(t in q["sql"] for t in tables)]


PROOFS = [
    ("inclusion", {"index": 0, "size": 1}),
    ("inclusion", {"index": 2, "size": 3}),
    ("inclusion", {"index": 1234, "size": 1535}),
    ("inclusion", {"index": 2048, "size": 2049}),
    ("inclusion", {"index": 0, "size": 2049}),
    ("consistency", {"first": 1, "second": 2}),
    ("consistency", {"first": 3, "second": 2049}),
    ("consistency", {"first": 1024, "second": 2047}),
    ("consistency", {"first": 2048, "second": 2049}),
]


def test_proof_requests_cost_constant_queries(api, leaf_hashes, django_assert_max_num_queries):
    client = api(None)
    for path, params in PROOFS:
        with CaptureQueriesContext(connection) as ctx, django_assert_max_num_queries(2):
            response = client.get(f"/api/v1/log/proof/{path}", params)
        assert response.status_code == 200, response.content
        proof = [b64d(h) for h in response.json()["hashes"]]
        # One read of the latest checkpoint, one bulk read of the O(log n) hashes (none for an empty proof).
        assert len(_node_queries(ctx.captured_queries)) == (1 if proof else 0), (path, params)
        if path == "inclusion":
            i, n = params["index"], params["size"]
            root = merkle.root_from_leaf_hashes(leaf_hashes[:n])
            assert merkle.verify_inclusion(i, n, leaf_hashes[i], proof, root)
        else:
            m, n = params["first"], params["second"]
            roots = [merkle.root_from_leaf_hashes(leaf_hashes[:s]) for s in (m, n)]
            assert merkle.verify_consistency(m, n, *roots, proof)


def test_node_fetch_is_one_query_of_logarithmic_rows(leaf_hashes, monkeypatch, django_assert_num_queries):
    calls = []
    real = log.get_nodes_bulk

    def spy(nodes):
        calls.append(len(nodes))
        return real(nodes)

    monkeypatch.setattr(log, "get_nodes_bulk", spy)
    n = len(leaf_hashes)
    for index in (0, 1, 1023, 1024, 2047, n - 1):
        calls.clear()
        with django_assert_num_queries(1):
            log.inclusion_proof(index, n)
        assert len(calls) == 1 and calls[0] <= 2 * n.bit_length()
    for first in (1, 3, 1024, 1537, n - 1):
        calls.clear()
        with django_assert_num_queries(1):
            log.consistency_proof(first, n)
        assert len(calls) == 1 and calls[0] <= 2 * n.bit_length()


@pytest.mark.parametrize("first,count", [(0, 1), (0, 64), (1, 1), (5, 11), (63, 2), (64, 64), (1000, 1049), (2047, 2)])
def test_hash_append_completes_what_nodes_completed_by_append_names(first, count):
    """hash_append's levels are exactly the nodes the appended leaves complete, with their MTHs."""
    every = [b'{"n":%d}' % i for i in range(first + count)]
    hashes = [merkle.leaf_hash(leaf) for leaf in every]
    left = {
        level: merkle.root_from_leaf_hashes(hashes[slice(*merkle.node_range(level, k))])
        for level, k in merkle.range_to_perfect_nodes(0, first)
    }
    got = {
        (level, k0 + i): h
        for level, (k0, level_hashes) in enumerate(merkle.hash_append(first, every[first:], left))
        for i, h in enumerate(level_hashes)
    }
    expected = {node for index in range(first, first + count) for node in merkle.nodes_completed_by_append(index)}
    assert set(got) == expected
    for (level, k), h in got.items():
        assert h == merkle.root_from_leaf_hashes(hashes[slice(*merkle.node_range(level, k))])


def test_single_leaf_appends_store_what_batch_appends_store(db, level_min):
    """append_leaf (a statement's one leaf, in one round trip) keeps the same rows and nodes as append_leaves."""
    leaves = [b'{"one":%d}' % i for i in range(70)]
    with transaction.atomic():
        assert append_leaves(leaves[:3], kind="attestation") == 0
    for i, leaf in enumerate(leaves[3:], start=3):
        with transaction.atomic():
            assert log.append_leaf(leaf, kind="attestation") == i
    n, hashes = len(leaves), [merkle.leaf_hash(leaf) for leaf in leaves]
    stored = list(LogLeaf.objects.order_by("index").values_list("index", "hash", "leaf", "kind"))
    assert [(i, bytes(h), bytes(leaf), k) for i, h, leaf, k in stored] == [
        (i, hashes[i], leaves[i], "attestation") for i in range(n)
    ]
    expected = {node_key(level, k) for level in range(level_min, n.bit_length()) for k in range(n >> level)}
    assert set(LogNode.objects.values_list("key", flat=True)) == expected
    for size in (1, 4, 16, 17, 32, 64, n):
        assert log.root_at(size) == merkle.root_from_leaf_hashes(hashes[:size])


def test_single_leaf_append_starts_an_empty_log(db):
    with transaction.atomic():
        assert log.append_leaf(b"first", kind="attestation") == 0
        assert log.append_leaf(b"second", kind="attestation") == 1
    assert log.root_at(2) == merkle.root_from_leaf_hashes([merkle.leaf_hash(b"first"), merkle.leaf_hash(b"second")])
