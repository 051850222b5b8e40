"""The hand-written hot-path queries (attestations.hotpath and friends) answer as their ORM versions do.

The ORM versions are what the portable path (SQLite) runs, so on PostgreSQL
both are run here on the same rows and compared.
"""

from datetime import timedelta

import pytest

from attestations import findings, hotpath
from attestations.models import Attestation, SigningKey
from inventory.chiprefs import _chips_of, resolve_chips
from inventory.models import Facility
from registry.models import Organisation
from tests.attestations.conftest import now

pytestmark = pytest.mark.postgres


@pytest.fixture(autouse=True)
def _postgres_only(db):
    if not hotpath.enabled():
        pytest.skip("the hand-written queries run on PostgreSQL only")


def fields(obj):
    return {f.attname: getattr(obj, f.attname) for f in obj._meta.concrete_fields}


def test_keys_by_id(world):
    keyids = [*SigningKey.objects.values_list("keyid", flat=True), "f" * 64]
    hand = hotpath.registered(keyids, None, None).keys
    orm = SigningKey.objects.in_bulk(keyids, field_name="keyid")
    assert len(hand) == 2 and hand.keys() == orm.keys()
    assert all(fields(hand[k]) == fields(orm[k]) for k in hand)


@pytest.mark.parametrize(
    "facility,operator",
    [("US-VA-001", "op-a"), ("US-VA-001", "op-b"), ("US-VA-001", "nvidia"), ("NOWHERE", "op-a"), ("DE-FRA-001", "x")],
)
def test_facility_and_operator(world, facility, operator):
    known = hotpath.registered([], facility, operator)
    hand_facility, hand_speaker = known.facility, known.speaker
    orm_facility = Facility.objects.select_related("operator").filter(code=facility).first()
    orm_speaker = Organisation.objects.filter(code=operator, kind="operator").first()
    assert (hand_facility is None) == (orm_facility is None)
    if orm_facility is not None:
        assert fields(hand_facility) == fields(orm_facility)
        assert fields(hand_facility.operator) == fields(orm_facility.operator)
        assert known.clusters == dict(orm_facility.clusters.values_list("code", "pk"))
    assert (hand_speaker is None) == (orm_speaker is None)
    if orm_speaker is not None:
        assert fields(hand_speaker) == fields(orm_speaker)  # "nvidia" is a manufacturer, not a speaker


def test_chip_resolution(world):
    serials = ["A000000", "A000003", "B000001", "NOTREGISTERED"]
    makers = dict(Organisation.objects.filter(kind="manufacturer").values_list("code", "id"))
    assert sorted(_chips_of("nvidia", serials, None)) == sorted(_chips_of("nvidia", serials, makers))
    assert len(_chips_of("nvidia", serials, None)) == 3
    assert _chips_of("no-such-maker", serials, None) == [] == list(_chips_of("no-such-maker", serials, makers))
    found = resolve_chips(["nvidia:A000000", "nvidia:NOTREGISTERED", "acme:A000000"])
    assert list(found) == ["nvidia:A000000"]


def test_seen_elsewhere(world, monkeypatch):
    """Sightings and placements of other facilities near a time, as the ORM finds them."""
    t = now() - timedelta(hours=1)
    chips = ["nvidia:A000000", "nvidia:A000001", "nvidia:A000002"]
    for facility, observed in (("US-CA-001", t - timedelta(minutes=30)), ("US-VA-001", t - timedelta(hours=3))):
        statement = world.location(chips, facility=facility, observed=observed, issued=observed)
        response, _ = world.submit(world.op_a, statement)
        assert response.status_code == 201, response.content
    va = Facility.objects.get(code="US-VA-001")
    latest = Attestation.objects.order_by("-id").first()
    pks = list(resolve_chips(chips).values())
    chunk = [info[0] for info in pks]
    window = timedelta(hours=20)
    hand = findings._elsewhere(chunk, va, latest.pk, t, window)
    monkeypatch.setattr(hotpath, "enabled", lambda: False)
    orm = findings._elsewhere(chunk, va, latest.pk, t, window)
    assert len(hand) >= 3  # the California sightings (and placements) of the three chips
    assert sorted(tuple(r) for r in hand) == sorted(tuple(r) for r in orm)


@pytest.mark.parametrize("facility,operator", [("US-VA-001", "op-a"), ("DE-FRA-001", "op-b"), ("NOWHERE", "op-a")])
def test_registered_reads_keys_facility_and_speaker_at_once(world, facility, operator):
    keyids = [*SigningKey.objects.values_list("keyid", flat=True), "f" * 64]
    known = hotpath.registered(keyids, facility, operator)
    keys = SigningKey.objects.in_bulk(keyids, field_name="keyid")
    assert known.keys.keys() == keys.keys() and all(fields(known.keys[k]) == fields(keys[k]) for k in keys)
    alone = hotpath.registered([], facility, operator)
    assert (known.facility is None) == (alone.facility is None)
    if alone.facility is not None:
        assert fields(known.facility) == fields(alone.facility)
        assert fields(known.facility.operator) == fields(alone.facility.operator)
        assert known.clusters == alone.clusters
    assert fields(known.speaker) == fields(alone.speaker)
    assert known.clusters or facility != "US-VA-001"  # US-VA-001 has two clusters


def test_registered_without_keys(world):
    known = hotpath.registered(["0" * 64], "US-VA-001", "op-a")
    assert known.keys == {} and known.facility.code == "US-VA-001" and len(known.clusters) == 2
