"""transparency.storage's hand-written statements answer and write as their ORM equivalents do, on the same rows."""

import random
from datetime import timedelta

import pytest
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from protocol import merkle
from transparency import storage
from transparency.models import LogHead, LogLeaf, LogNode, node_key

# Synthetic leaves (bytes, not entry objects): storage alone.
pytestmark = pytest.mark.log_damaged

LEAF_FIELDS = ("index", "hash", "leaf", "kind", "appended_at")


def _leaf_rows(lo, hi):
    rows = LogLeaf.objects.filter(index__gte=lo, index__lt=hi).order_by("index").values_list(*LEAF_FIELDS)
    return [(i - lo, bytes(h), bytes(leaf), kind, at) for i, h, leaf, kind, at in rows]


def _chunks(leaves, size):
    for start in range(0, len(leaves), size):
        chunk = leaves[start : start + size]
        yield list(zip(chunk, merkle.leaf_hashes(chunk), strict=True))
    return "levels"


def test_copy_leaves_and_nodes_write_the_rows_the_orm_writes(db):
    leaves = [b'{"n":%d}' % i for i in range(4100)] + [b"", b"\x00\xff\n\t\\", b"x" * 70_000]
    at = timezone.now().replace(microsecond=123456)
    with transaction.atomic():
        assert storage.copy_leaves(0, _chunks(leaves, 2000), "attestation", at) == "levels"
        LogLeaf.objects.bulk_create(
            [
                LogLeaf(index=10_000 + i, leaf=leaf, hash=merkle.leaf_hash(leaf), kind="attestation", appended_at=at)
                for i, leaf in enumerate(leaves)
            ]
        )
        nodes = [(node_key(level, k), merkle.leaf_hash(b"%d/%d" % (level, k))) for level in (4, 9) for k in range(40)]
        storage.copy_nodes(nodes)
        storage.copy_nodes([])
    assert _leaf_rows(0, len(leaves)) == _leaf_rows(10_000, 10_000 + len(leaves))
    assert len(_leaf_rows(0, len(leaves))) == len(leaves)
    orm = [LogNode(key=key + 1_000_000, hash=h) for key, h in nodes]
    LogNode.objects.bulk_create(orm)
    stored = {k: bytes(h) for k, h in LogNode.objects.values_list("key", "hash")}
    assert all(stored[key] == h == stored[key + 1_000_000] for key, h in nodes)


def test_reserve_moves_the_head_as_an_orm_update_does(db):
    assert storage.reserve(5) is None  # no head row before the first append
    LogHead.objects.create(id=1, size=7)
    with transaction.atomic():
        assert storage.reserve(5) == 12
        LogHead.objects.filter(id=1).update(size=F("size") + 5)
        assert storage.reserve(0) == 17 == LogHead.objects.get(id=1).size


def test_append_one_writes_the_row_the_orm_writes(db):
    at = timezone.now()
    assert storage.append_one(merkle.leaf_hash(b"a"), b"a", "event", at) is None
    assert not LogLeaf.objects.exists()
    LogHead.objects.create(id=1, size=3)
    with transaction.atomic():
        assert storage.append_one(merkle.leaf_hash(b"a"), b"a", "event", at) == 3
        assert storage.append_one(merkle.leaf_hash(b"b"), b"b", "attestation", at + timedelta(seconds=1)) == 4
        LogLeaf.objects.bulk_create(
            [
                LogLeaf(index=103, leaf=b"a", hash=merkle.leaf_hash(b"a"), kind="event", appended_at=at),
                LogLeaf(
                    index=104,
                    leaf=b"b",
                    hash=merkle.leaf_hash(b"b"),
                    kind="attestation",
                    appended_at=at + timedelta(seconds=1),
                ),
            ]
        )
    assert LogHead.objects.get(id=1).size == 5
    assert _leaf_rows(3, 5) == _leaf_rows(103, 105) and len(_leaf_rows(3, 5)) == 2


def test_nodes_and_leaf_hashes_read_what_the_orm_reads(db):
    at = timezone.now()
    LogLeaf.objects.bulk_create(
        [
            LogLeaf(index=i, leaf=b"%d" % i, hash=merkle.leaf_hash(b"%d" % i), kind="event", appended_at=at)
            for i in range(300)
        ]
    )
    LogNode.objects.bulk_create([LogNode(key=node_key(4, k), hash=merkle.leaf_hash(b"n%d" % k)) for k in range(18)])
    rng = random.Random(16)
    for _ in range(25):
        keys = rng.sample([node_key(4, k) for k in range(30)], rng.randint(0, 6))
        ranges = sorted({(s, s + rng.randint(1, 16)) for s in rng.sample(range(320), rng.randint(0, 4))})
        ranges = [r for i, r in enumerate(ranges) if i == 0 or r[0] >= ranges[i - 1][1]]  # disjoint, as _merge
        nodes, leaves = storage.nodes_and_leaf_hashes(keys, ranges)
        orm_nodes = LogNode.objects.filter(key__in=keys).values_list("key", "hash")
        within = Q(pk__in=[])
        for lo, hi in ranges:
            within |= Q(index__gte=lo, index__lt=hi)
        orm_leaves = LogLeaf.objects.filter(within).values_list("index", "hash") if ranges else []
        assert sorted(nodes) == sorted((k, bytes(h)) for k, h in orm_nodes)
        assert sorted(leaves) == sorted((i, bytes(h)) for i, h in orm_leaves)


def test_insert_event_data_writes_the_rows_the_orm_writes(db):
    """Event data rows from arrays: text with quotes, backslashes, braces and non-ASCII, and parties and
    countries (JSON) empty or not, read back as the ORM's bulk insert stored them."""
    from transparency.models import LogEventData

    rows = [
        ("chip.identity_enrolled", 'nvidia:A"1\\{}', '{"a":"\\"é\\\\"}', ["op-a", "nvidia"], ["US"]),
        ("challenge.imported", "ab" * 32, "{}", [], []),
        ("rule.declared", "x,y", '{"b":[1,2]}', ["*"], ["DE", "FR"]),
    ]
    storage.insert_event_data(1000, rows)
    got = LogEventData.objects.filter(index__gte=1000).order_by("index")
    assert [(r.index, r.event, r.object_id, r.data_jcs, r.parties, r.countries) for r in got] == [
        (1000 + i, *row) for i, row in enumerate(rows)
    ]
    LogEventData.objects.bulk_create(
        LogEventData(index=2000 + i, event=e, object_id=o, data_jcs=d, parties=p, countries=c)
        for i, (e, o, d, p, c) in enumerate(rows)
    )
    orm = LogEventData.objects.filter(index__gte=2000).order_by("index")
    assert [(r.event, r.object_id, r.data_jcs, r.parties, r.countries) for r in orm] == list(rows)
