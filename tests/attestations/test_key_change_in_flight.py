"""A statement signed with a key that is revoked or retired while the registry is still checking it.

Whoever holds op-a's stolen key (and a token that may deliver for op-a: a node agent's, say) sends a statement;
op-a's admin revokes the key as compromised, or retires it, in the moment between the statement's key checks
(ATTESTATION.md 2, step 5) and its store (a big statement, or its hardware evidence, takes seconds there). The
spec: statements issued at or after a revocation's instant are rejected, and already-accepted ones are flagged
for review; a key is never retired before a statement it signed (README, "Who may do what"). The statement was
stored all the same: unflagged, after a revocation that covers it, or signed after its key's retirement.

Here the change commits just after the checks (in check 6, freshness), as a concurrent request's would.
"""

from datetime import timedelta

import pytest

from attestations import checks
from attestations.models import Attestation, SigningKey
from attestations.services import retire_key, revoke_key
from inventory.models import AnyFinding
from tests.attestations import independent as ind
from tests.attestations.conftest import now


def _meanwhile(monkeypatch, change):
    """Run `change` once, after the statement's key checks and before its store."""
    original = checks.check_freshness
    done = []

    def interleaved(*args, **kwargs):
        if not done:
            done.append(True)
            change()
        return original(*args, **kwargs)

    monkeypatch.setattr(checks, "check_freshness", interleaved)
    return done


def _statement(world, kind):
    if kind == "location":  # a node agent's: the short road
        return world.location(["nvidia:A000000"])
    end = now() - timedelta(minutes=5)
    rows = [{"chip": "nvidia:A000000", "active_s": 600, "utilization": 0.5, "energy_j": 1000}]
    return world.usage(rows, end - timedelta(minutes=10), end)


@pytest.mark.parametrize("kind", ["location", "usage"])
def test_a_statement_in_flight_is_not_stored_unflagged_after_its_key_is_revoked(world, monkeypatch, kind):
    admin = world.p.users["op_a_admin"]
    key = SigningKey.objects.get(keyid=ind.keyid(world.key_a))
    since = now() - timedelta(hours=1)
    done = _meanwhile(monkeypatch, lambda: revoke_key(admin, key, since, "stolen from rack 12"))
    response, _ = world.submit(world.op_a, _statement(world, kind))
    assert done, "the revocation ran"
    assert SigningKey.objects.get(pk=key.pk).revoked_since == since
    unflagged = Attestation.objects.filter(keyids__contains=[key.keyid], flagged=False)
    assert not unflagged.exists(), (response.status_code, response.content)
    if response.status_code == 201:  # accepted before the revocation: then flagged, with its finding
        assert AnyFinding.objects.filter(kind="revoked_key", source_id=str(response.json()["id"])).exists()
    else:
        assert response.status_code == 403 and response.json()["code"] == "revoked_key", response.content


@pytest.mark.parametrize("kind", ["location", "usage"])
def test_a_key_is_not_retired_before_a_statement_in_flight(world, monkeypatch, kind):
    admin = world.p.users["op_a_admin"]
    key = SigningKey.objects.get(keyid=ind.keyid(world.key_a))
    at = now() - timedelta(minutes=1)
    done = _meanwhile(monkeypatch, lambda: retire_key(admin, key, at))
    response, _ = world.submit(world.op_a, _statement(world, kind))
    assert done, "the retirement ran"
    retired_at = SigningKey.objects.get(pk=key.pk).retired_at
    assert retired_at == at
    after = Attestation.objects.filter(keyids__contains=[key.keyid], issued_at__gte=retired_at)
    assert not after.exists(), (response.status_code, response.content)
    assert response.status_code == 403 and response.json()["code"] == "revoked_key", response.content
