"""Checkpoints: C2SP notes signed with the registry key, rate limited, never inconsistent."""

import time

import pytest
from django.db import connection

from protocol import merkle, note
from transparency import checkpoints, models
from transparency.checkpoints import InconsistentHead, sign_if_due
from transparency.models import Checkpoint, node_key

from .helpers import append_events, checkpoint_parts, stored_leaf_hashes


def test_key_endpoint_serves_the_verifier_key_line(api, db):
    response = api(None).get("/api/v1/log/key")
    assert response.status_code == 200
    assert response["Content-Type"] == "text/plain; charset=utf-8"
    line = response.content.decode()
    assert line.endswith("\n") and line.count("\n") == 1
    key = note.parse_verifier_key(line.strip())
    assert key.name == "chipreg.local/log"
    assert key.public_key_raw == checkpoints.public_key_bytes()


def test_checkpoint_is_signed_by_the_log_key_over_the_current_head(api, db):
    append_events(5)
    key_line = api(None).get("/api/v1/log/key").content.decode().strip()
    response = api(None).get("/api/v1/log/checkpoint")
    assert response.status_code == 200
    assert response["Content-Type"] == "text/plain; charset=utf-8"
    text = response.content.decode()
    parsed = note.verify_checkpoint(text, key_line)
    assert (parsed.size, parsed.root) == (5, merkle.root_from_leaf_hashes(stored_leaf_hashes()))
    assert checkpoint_parts(text) == (5, parsed.root)
    # The exact LOG.md layout: three lines, a blank line, one signature line.
    assert text.split("\n")[3:] == ["", text.split("\n")[4], ""]
    assert text.split("\n")[4].startswith("\u2014 chipreg.local/log ")


def test_sign_if_due_signs_at_most_once_per_interval(db, settings):
    settings.CHIPREG_CHECKPOINT_INTERVAL_S = 1.0
    append_events(1)
    first = sign_if_due(wait=False)
    assert first.size == 1
    append_events(1, prefix="TWO")
    started = time.monotonic()
    assert sign_if_due(wait=False) == first  # within the interval: the old one, no new signature
    assert Checkpoint.objects.count() == 1
    second = sign_if_due(wait=True)  # waits out the rest of the second, then signs
    assert second.size == 2
    assert (second.signed_at - first.signed_at).total_seconds() >= 1.0
    assert time.monotonic() - started < 2.0
    assert Checkpoint.objects.count() == 2


def test_unchanged_head_is_not_signed_again(db):
    append_events(2)
    cp = sign_if_due()
    assert sign_if_due() == cp and sign_if_due(wait=True) == cp
    assert Checkpoint.objects.count() == 1


def test_empty_log_has_a_checkpoint_of_the_empty_tree(api, db):
    text = api(None).get("/api/v1/log/checkpoint").content.decode()
    parsed = note.verify_checkpoint(text, checkpoints.verifier_key_line())
    assert (parsed.size, parsed.root) == (0, merkle.EMPTY_ROOT)


DAMAGE = {
    # A stored inner node (the layout keeps levels >= 2 here) ...
    "node": (2, "UPDATE transparency_lognode SET hash = %s WHERE key = %s", node_key(2, 0)),
    # ... or, with the default layout, a stored leaf hash (its node is recomputed from it).
    "leaf hash": (None, 'UPDATE transparency_logleaf SET hash = %s WHERE "index" = %s', 0),
}


@pytest.mark.log_damaged
@pytest.mark.parametrize("damage", list(DAMAGE))
def test_signer_refuses_a_head_that_does_not_extend_the_last_checkpoint(db, monkeypatch, damage):
    level_min, statement, key = DAMAGE[damage]
    if level_min is not None:
        monkeypatch.setattr(models, "NODE_LEVEL_MIN", level_min)
    append_events(4)
    sign_if_due()
    append_events(3, prefix="MORE")
    # Damage a stored hash inside the signed prefix: the next root would fork the log.
    with connection.cursor() as cursor:
        cursor.execute(statement, [b"\x00" * 32, key])
        assert cursor.rowcount == 1
    with pytest.raises(InconsistentHead):
        sign_if_due()
    assert list(Checkpoint.objects.values_list("size", flat=True)) == [4]
