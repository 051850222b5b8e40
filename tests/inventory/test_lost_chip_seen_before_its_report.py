"""A holder's own sighting dated before its loss report is no sighting of the lost chip (session 20).

op-a's node agent saw chip A000000 at US-VA-001 two hours ago and queued the statement while offline; an hour ago
op-a reported the chip lost (it was missing at a count); the agent's statement arrives now. It said the chip was
where its holder kept it before the report: nothing of the chip since. It raised a critical `lost_chip_sighted`
finding (an alert for the US inspectorate) all the same, as a usage statement's work that fits before a report
does not. After the report, the holder's sighting is one; another party's is one whenever dated (a theft is
reported after the thief has the chip).
"""

from datetime import timedelta

import pytest

from inventory.models import AnyFinding
from registry.models import ChipEvent
from tests.attestations.conftest import World, now

CHIP = "nvidia:A000000"


@pytest.fixture
def world(api, parties):
    w = World(api, parties)
    r = w.op_a.patch(f"/api/v1/chips/{CHIP}/", {"status": "lost", "reason": "missing at the count"})
    assert r.status_code == 200, r.content
    report = ChipEvent.objects.filter(chip__serial=CHIP.split(":")[1], kind="status").latest("id")
    ChipEvent.objects.filter(pk=report.pk).update(at=now() - timedelta(hours=1))
    return w


def _sighted(world, client, key, statement):
    r, _ = world.submit(client, statement, key)
    assert r.status_code == 201, r.content
    return AnyFinding.objects.filter(kind="lost_chip_sighted", source_id__startswith=f"{r.json()['id']}:")


def test_the_holders_statement_dated_before_its_report_is_no_sighting(world):
    statement = world.location([CHIP], observed=now() - timedelta(hours=2))
    assert not _sighted(world, world.op_a, world.key_a, statement).exists()


def test_the_holders_statement_dated_after_its_report_is_one(world):
    statement = world.location([CHIP], observed=now() - timedelta(minutes=30))
    assert {f.chip_ref for f in _sighted(world, world.op_a, world.key_a, statement)} == {CHIP}


def test_another_partys_statement_dated_before_the_report_is_one(world):
    statement = world.location([CHIP], facility="DE-FRA-001", operator="op-b", observed=now() - timedelta(hours=2))
    sighted = _sighted(world, world.op_b, world.key_b, statement)
    assert {f.chip_ref for f in sighted} == {CHIP} and {f.country for f in sighted} == {"US", "DE"}
