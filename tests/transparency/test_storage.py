"""Storage that scales: a proof reads O(log n) stored nodes in one query, whatever n.

The log keeps every complete aligned subtree hash, so the request cost must not
grow with the log: the same number of queries at 3 leaves and at 2,049, and
exactly one of them reads nodes.
"""

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from protocol import merkle
from transparency import log
from transparency.checkpoints import sign_if_due
from transparency.log import append_leaves
from transparency.models import LogNode

from .helpers import b64d

BATCHES = (1, 2, 509, 1024, 513)  # ragged appends, 2,049 leaves in all


@pytest.fixture
def leaf_hashes(db):
    hashes, index = [], 0
    for count in BATCHES:
        leaves = [b'{"n":%d}' % (index + i) for i in range(count)]
        with transaction.atomic():
            assert append_leaves(leaves, kind="attestation") == index
        hashes += [merkle.leaf_hash(leaf) for leaf in leaves]
        index += count
    sign_if_due()
    return hashes


def test_append_stores_about_two_nodes_per_leaf(leaf_hashes):
    n = len(leaf_hashes)
    assert LogNode.objects.count() == 2 * n - bin(n).count("1")
    assert log.root_at(n) == merkle.root_from_leaf_hashes(leaf_hashes)
    for size in (1, 2, 3, 512, 1535, n):
        assert log.root_at(size) == merkle.root_from_leaf_hashes(leaf_hashes[:size])


def _node_queries(queries):
    return [q for q in queries if LogNode._meta.db_table in q["sql"]]


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
        # One read of the latest checkpoint, one bulk read of the O(log n) nodes (none for an empty proof).
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
