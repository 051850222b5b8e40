"""A stolen chip's holder does not learn who saw it (hostile review, session 14): not from its alert's evidence
bundle, nor by following its finding's log index to the statement's public leaf and its key ids."""

import base64
import json

import pytest
from django.test import Client

from tests.attestations.conftest import World


@pytest.fixture
def world(api, parties):
    return World(api, parties)


def _console(user):
    c = Client()
    c.force_login(user)
    return c


def _stolen_chip_seen_by_op_a(world):
    """op-b reports its chip stolen; op-a's location statement at US-VA-001 names it (a lost_chip_sighted finding
    for op-b, the holder of record). Returns op-b's alert about it and op-a's keyid."""
    from compliance.finding_alerts import raise_for
    from compliance.models import Alert
    from inventory.models import AnyFinding

    r = world.op_b.patch("/api/v1/chips/nvidia:B000000/", {"status": "stolen", "reason": "burglary"})
    assert r.status_code == 200, r.content
    response, envelope = world.submit(world.op_a, world.location(["nvidia:B000000", "nvidia:A000000"]))
    assert response.status_code == 201, response.content
    for source, source_id in AnyFinding.objects.values_list("source", "source_id").distinct():
        raise_for(source, source_id)  # as the outbox's task does (idempotent)
    alert = Alert.objects.filter(operator__code="op-b", group__startswith="lost_chip_sighted:").first()
    assert alert is not None, list(Alert.objects.values_list("group", "operator__code"))
    keyid_a = envelope["signatures"][0]["keyid"]
    return alert, keyid_a


@pytest.mark.django_db
def test_stolen_chips_holder_does_not_learn_the_speaker_from_its_alert_bundle(world, parties):
    """README, "Chips off the books": a stolen chip seen again is a finding for its holder, which "names its source
    by id, the country and the time; those entitled to the source follow it, the holder does not learn whose
    facility it was". The holder's own alert (lost_chip_sighted, operator op-b) cites the sighting statement's log
    index in its evidence sources, so op-b's console bundle (`/alerts/{id}/bundle/`) carries that statement's leaf:
    its DSSE signatures with op-a's keyid, which the public key directory (`/api/v1/keys/`) maps to "op-a". The
    holder learns who saw its stolen chip (and, a statement being only about the speaker's own facilities, whose
    facility it was)."""
    alert, keyid_a = _stolen_chip_seen_by_op_a(world)
    holder = _console(parties.users["op_b"])
    response = holder.get(f"/alerts/{alert.pk}/bundle/")
    assert response.status_code == 200, response.content  # op-b may see its own alert
    bundle = json.loads(response.content)
    leaves = [base64.b64decode(e["leaf"]).decode() for e in bundle["entries"]]
    # The public directory says whose key it is: that is the attack's second step.
    owners = {k["keyid"]: k["organisation"] for k in world.op_b.get("/api/v1/keys/?limit=100").json()["results"]}
    assert owners.get(keyid_a) == "op-a"
    assert not any(keyid_a in leaf for leaf in leaves), "the holder's bundle names the speaker's signing key"
    assert "op-a" not in json.dumps(bundle)


@pytest.mark.django_db
def test_stolen_chips_holder_cannot_read_the_sighting_statements_leaf_from_its_finding(world, parties):
    """The same leak through the API the console's finding page links to: the holder's lost_chip_sighted finding
    carries the statement's `log_index` in its evidence, and `/api/v1/log/entries/{i}` serves any party a
    statement's leaf (its signatures, hence op-a's keyid). README: the holder "does not learn whose facility it
    was"."""
    _stolen_chip_seen_by_op_a(world)
    findings = world.op_b.get("/api/v1/findings/?limit=500").json()["results"]
    mine = [f for f in findings if f["kind"] == "lost_chip_sighted"]
    assert mine
    indices = {f["evidence"].get("log_index") for f in mine} - {None}
    assert indices == set()  # cited by id only
    assert not any("statement_sha256" in f["evidence"] for f in findings if f["kind"] in ("lost_chip_sighted",))
    keyid_a = next(
        k["keyid"] for k in world.op_b.get("/api/v1/keys/?limit=100").json()["results"] if k["organisation"] == "op-a"
    )
    for index in indices:
        entry = world.op_b.get(f"/api/v1/log/entries/{index}")
        leaf = base64.b64decode(entry.json()["leaf"]).decode() if entry.status_code == 200 else ""
        assert keyid_a not in leaf, f"log entry {index}, cited by op-b's finding, is op-a's signed statement"


@pytest.mark.django_db
def test_the_inspectorate_still_follows_the_sighting_to_the_statement(world, parties, api):
    """The US inspectorate, entitled to the statement at a facility in its country, follows the finding's source id to
    it, and from there to its log entry."""
    _stolen_chip_seen_by_op_a(world)
    inspector = api(parties.users["insp_us"])
    found = [
        f for f in inspector.get("/api/v1/findings/?limit=500").json()["results"] if f["kind"] == "lost_chip_sighted"
    ]
    assert found
    statement = found[0]["evidence"]["source_id"]
    r = inspector.get(f"/api/v1/attestations/{statement}/")
    assert r.status_code == 200, r.content
    assert r.json()["log_index"] is not None
    # The holder cannot open it.
    assert world.op_b.get(f"/api/v1/attestations/{statement}/").status_code == 404
