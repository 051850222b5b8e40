"""`manage.py verify_log`: recompute the log from its leaves; name the first bad index.

Failures surface as CommandError (exit status 1 from the shell), whose message
begins with the place of the first mismatch: "index 7: ..." or "checkpoint 5: ...".
"""

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from django.core.management import CommandError, call_command
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from protocol import merkle, note
from protocol.leaves import attestation_leaf
from registry.registration import register_chips
from tests.factories import chip_rows
from transparency import models
from transparency.checkpoints import sign_if_due
from transparency.log import append_leaves
from transparency.models import Checkpoint, Cosignature, LogEventData, WitnessKey, node_key
from transparency.verify import Frontier

from .helpers import append_events


@pytest.fixture
def log(parties, monkeypatch):
    """21 entries of both kinds, checkpoints at 0, 5, 12 and 21, one of them cosigned.

    Stored inner nodes from level 2 up (the default is 6: a tree of 21 leaves
    would have none to tamper with).
    """
    monkeypatch.setattr(models, "NODE_LEVEL_MIN", 2)
    sign_if_due()
    append_events(3)
    register_chips(chip_rows("VFY", 2), parties.users["op_a_admin"])
    append_events(1, prefix="B")
    sign_if_due()
    with transaction.atomic():
        append_leaves(
            [attestation_leaf([{"keyid": "k", "sig": f"s{i}"}], f"{i:064x}") for i in range(7)], "attestation"
        )
    cp = sign_if_due()
    key = Ed25519PrivateKey.generate()
    witness = WitnessKey.objects.create(
        organisation=parties.treaty.code, name="w.example", public_key=key.public_key().public_bytes_raw(), key_line="-"
    )
    line = note.cosign(key, "w.example", note.parse_checkpoint(cp.note).body, 1_700_000_000)
    Cosignature.objects.create(checkpoint=cp, witness=witness, line=line.rstrip("\n"), timestamp=1_700_000_000)
    append_events(9, prefix="C")
    sign_if_due()
    assert list(Checkpoint.objects.values_list("size", flat=True)) == [0, 5, 12, 21]


def sql(statement, params):
    with connection.cursor() as cursor:
        cursor.execute(statement, params)
        assert cursor.rowcount == 1


def verify(*args):
    from io import StringIO

    out = StringIO()
    call_command("verify_log", *args, stdout=out)
    return out.getvalue()


@pytest.mark.parametrize("chunk", ["5000", "1", "4"])
def test_a_sound_log_verifies(log, chunk):
    out = verify("--chunk", chunk)
    assert "log verified: 21 leaves" in out
    assert "4 checkpoints" in out and "1 cosignatures" in out and "14 events" in out


def test_leaves_are_read_in_bounded_chunks(log):
    with CaptureQueriesContext(connection) as ctx:
        verify("--chunk", "4")
    leaf_reads = [q["sql"] for q in ctx.captured_queries if 'FROM "transparency_logleaf"' in q["sql"]]
    assert len(leaf_reads) == 7  # 21 leaves in chunks of 4, then the empty read that ends the stream
    assert all("LIMIT 4" in q for q in leaf_reads)


def _event_index():
    return LogEventData.objects.order_by("index").values_list("index", flat=True)[2]


TAMPERING = {
    # A leaf's bytes rewritten in place (still valid JCS, now a different event).
    "leaf": (
        lambda: sql(
            'UPDATE transparency_logleaf SET leaf = %s WHERE "index" = %s',
            [b'{"at":"2020-01-01T00:00:00Z","data_sha256":"00","event":"x.y","object":"o","type":"event","v":1}', 8],
        ),
        "index 8:",
    ),
    "leaf kind": (
        lambda: sql("UPDATE transparency_logleaf SET kind = 'event' WHERE \"index\" = %s", [7]),
        "index 7:",
    ),
    "event data": (
        lambda: sql('UPDATE transparency_logeventdata SET data_jcs = %s WHERE "index" = %s', ['{"after":"found"}', 2]),
        "index 2:",
    ),
    "event data not JCS": (
        lambda: sql("UPDATE transparency_logeventdata SET data_jcs = data_jcs || ' ' WHERE \"index\" = %s", [17]),
        "index 17:",
    ),
    "leaf hash": (
        lambda: sql('UPDATE transparency_logleaf SET hash = %s WHERE "index" = %s', [b"\1" * 32, 19]),
        "index 19:",
    ),
    "inner node": (
        lambda: sql("UPDATE transparency_lognode SET hash = %s WHERE key = %s", [b"\1" * 32, node_key(2, 2)]),
        "index 8:",  # node (2, 2) covers leaves [8, 12)
    ),
    "missing node": (lambda: sql("DELETE FROM transparency_lognode WHERE key = %s", [node_key(3, 1)]), "index 8:"),
    "extra node": (
        lambda: sql("INSERT INTO transparency_lognode (key, hash) VALUES (%s, %s)", [node_key(4, 1), b"\1" * 32]),
        "index 21:",
    ),
    "node below the stored levels": (
        lambda: sql("INSERT INTO transparency_lognode (key, hash) VALUES (%s, %s)", [node_key(1, 0), b"\1" * 32]),
        "index 21:",
    ),
    "gap": (lambda: sql('DELETE FROM transparency_logleaf WHERE "index" = %s', [6]), "index 6:"),
    "checkpoint root": (
        lambda: sql("UPDATE transparency_checkpoint SET root = %s WHERE size = %s", [b"\1" * 32, 12]),
        "checkpoint 12:",
    ),
    "checkpoint note": (
        lambda: sql("UPDATE transparency_checkpoint SET note = replace(note, '\n5\n', '\n6\n') WHERE size = 5", []),
        "checkpoint 5:",
    ),
    "cosignature": (
        lambda: sql("UPDATE transparency_cosignature SET timestamp = 1, line = replace(line, 'A', 'B')", []),
        "checkpoint 12:",
    ),
    "head": (lambda: sql("UPDATE transparency_loghead SET size = 22 WHERE id = 1", []), "index 21:"),
}


@pytest.mark.log_damaged
@pytest.mark.parametrize("case", list(TAMPERING))
def test_tampering_is_found_and_named(log, case):
    tamper, where = TAMPERING[case]
    tamper()
    with pytest.raises(CommandError) as excinfo:
        verify("--chunk", "4")
    assert str(excinfo.value).startswith(where), str(excinfo.value)


def test_signatures_are_checked_against_a_pinned_key(log):
    other = note.verifier_key_line("chipreg.local/log", Ed25519PrivateKey.generate().public_key())
    with pytest.raises(CommandError, match=r"^checkpoint 0: signature check failed"):
        verify("--key", other)
    with pytest.raises(CommandError, match="bad key line"):
        verify("--key", "not a key line")


@pytest.mark.parametrize("n", [0, 1, 2, 3, 7, 8, 9, 100, 1023, 1025])
def test_frontier_matches_the_stored_node_layout(n):
    frontier = Frontier()
    hashes = [merkle.leaf_hash(b"%d" % i) for i in range(n)]
    for i, h in enumerate(hashes):
        completed = [(level, k) for level, k, _ in frontier.push(h)]
        assert completed == merkle.nodes_completed_by_append(i)
        assert len(frontier.stack) <= (i + 1).bit_length()
    assert frontier.root() == merkle.root_from_leaf_hashes(hashes)


LOW = models.NODE_LEVEL_MIN
DEFAULT_LAYOUT_DAMAGE = {
    "none": (None, "log verified: 230 leaves"),
    "leaf hash": (
        lambda: sql('UPDATE transparency_logleaf SET hash = %s WHERE "index" = %s', [b"\1" * 32, 130]),
        "index 130:",
    ),
    # The lowest stored level: node (LOW, 1) covers leaves [2**LOW, 2**(LOW + 1)).
    "node": (
        lambda: sql("UPDATE transparency_lognode SET hash = %s WHERE key = %s", [b"\1" * 32, node_key(LOW, 1)]),
        f"index {1 << LOW}:",
    ),
    "missing node": (
        lambda: sql("DELETE FROM transparency_lognode WHERE key = %s", [node_key(LOW + 1, 0)]),
        "index 0:",
    ),
    "node below the stored levels": (
        lambda: sql("INSERT INTO transparency_lognode (key, hash) VALUES (%s, %s)", [node_key(LOW - 1, 0), b"\1" * 32]),
        "index 230:",
    ),
}


@pytest.mark.log_damaged
@pytest.mark.parametrize("case", list(DEFAULT_LAYOUT_DAMAGE))
def test_default_layout(db, case):
    """Ragged appends with the default layout (NODE_LEVEL_MIN) verify; damage is named."""
    index = 0
    for count in (1, 63, 64, 100, 2):
        leaves = [attestation_leaf([{"keyid": "k", "sig": f"s{i}"}], f"{i:064x}") for i in range(index, index + count)]
        with transaction.atomic():
            assert append_leaves(leaves, "attestation") == index
        index += count
    sign_if_due()
    tamper, where = DEFAULT_LAYOUT_DAMAGE[case]
    if tamper is None:
        assert where in verify()
        return
    tamper()
    with pytest.raises(CommandError) as excinfo:
        verify()
    assert str(excinfo.value).startswith(where), str(excinfo.value)
