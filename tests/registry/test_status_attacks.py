"""Hostile review of chip status: lost and stolen chips, their use, and the findings that keep them in view."""

from datetime import timedelta

import pytest

from inventory.models import AnyFinding
from outbox.relay import drain_all
from registry.models import ChipEvent
from tests.attestations.conftest import World, now


@pytest.fixture
def world(api, parties):
    return World(api, parties)


def _report(client, chip, status, ago):
    """`chip` reported `status` by its holder, `ago` ago (its history row dated back: statements name the past)."""
    assert client.patch(f"/api/v1/chips/{chip}/", {"status": status, "reason": "missing"}).status_code == 200
    ChipEvent.objects.filter(chip__serial=chip.partition(":")[2], kind="status").update(at=now() - ago)


def _work(chip):
    return {"chip": chip, "active_s": 3600, "utilization": 0.9, "energy_j": 2e6}


def test_holder_working_a_chip_it_reported_lost_is_a_sighting(world, parties):
    """Attack: op-a reports its chip lost (out of every chip count: a cluster drops under a line) and goes on
    working it, reporting the work. Its own word that the chip worked after the report says the chip is not
    lost: a critical `lost_chip_sighted`, as a location statement listing it would be."""
    op_a = world.op_a
    _report(op_a, "nvidia:A000003", "lost", timedelta(hours=3))
    start, end = now() - timedelta(hours=2), now() - timedelta(hours=1)
    response, _ = world.submit(op_a, world.usage([_work("nvidia:A000003")], start, end))
    assert response.status_code == 201, response.content
    sighted = AnyFinding.objects.filter(kind="lost_chip_sighted", chip_ref="nvidia:A000003")
    assert [(f.organisation_id, f.country) for f in sighted] == [(parties.op_a.pk, "US")]
    drain_all()


def test_another_operator_working_a_stolen_chip_is_a_sighting_it_learns_nothing_of(world, parties):
    """op-b's chip, reported stolen in Germany, is worked in op-a's facility in the US and op-a reports the
    work: a sighting for op-b and both countries; op-a's answer says only `other_operator`."""
    _report(world.op_b, "nvidia:B000001", "stolen", timedelta(hours=3))
    start, end = now() - timedelta(hours=2), now() - timedelta(hours=1)
    response, _ = world.submit(world.op_a, world.usage([_work("nvidia:B000001")], start, end))
    assert response.status_code == 201, response.content
    assert response.json()["flags"] == {"other_operator": 1}
    sighted = AnyFinding.objects.filter(kind="lost_chip_sighted", chip_ref="nvidia:B000001")
    assert {f.country for f in sighted} == {"US", "DE"}
    assert {f.organisation_id for f in sighted} == {parties.op_b.pk}


def test_work_reported_for_a_time_before_the_loss_is_no_sighting(world):
    """A usage statement filed after the report for work done before it says nothing of the chip now."""
    start, end = now() - timedelta(hours=3), now() - timedelta(hours=2)
    _report(world.op_a, "nvidia:A000004", "lost", timedelta(hours=1))
    response, _ = world.submit(world.op_a, world.usage([_work("nvidia:A000004")], start, end))
    assert response.status_code == 201, response.content
    assert not AnyFinding.objects.filter(kind="lost_chip_sighted").exists()


def test_a_finding_closed_by_a_manufacturers_report_is_provable_to_those_who_read_it(api, parties):
    """The report's own event is the manufacturer's (it commits to every serial it added): the holder and the
    inspectorate that read an `unreported_chip` finding read why it closed, in an event of their own; a rival
    and another country's inspectorate read nothing of it."""
    from inventory.services.watch import find_unreported
    from registry.registration import register_chips
    from tests.factories import chip_rows
    from transparency.models import LogEventData

    register_chips(chip_rows("MQ", 2), parties.users["op_a_admin"])
    maker = api(parties.users["nvidia"])
    assert maker.post("/api/v1/manufacturer-reports/", {"serials": ["OTHER-9"]}).status_code == 201
    assert find_unreported(grace_days=0) == 2
    report = maker.post("/api/v1/manufacturer-reports/", {"serials": ["MQ000000", "MQ000001"]}).json()["log_index"]
    closed = AnyFinding.objects.filter(kind="unreported_chip")
    assert closed.count() == 2 and not closed.filter(resolved_at__isnull=True).exists()
    event = LogEventData.objects.get(event="findings.resolved_by_report")
    assert all(f"this resolution: log index {event.index}" in f.resolution for f in closed)
    data = api(parties.users["insp_us"]).get(f"/api/v1/log/entries/{event.index}").json()["data"]
    assert (data["report"], data["holder"]) == (report, "op-a")
    assert sorted(data["chips"]) == ["nvidia:MQ000000", "nvidia:MQ000001"]
    for user, status in (("op_a_admin", 200), ("insp_us", 200), ("op_b", 403), ("insp_fr", 403), ("treaty", 200)):
        assert api(parties.users[user]).get(f"/api/v1/log/entries/{event.index}").status_code == status, user


def test_work_done_before_a_theft_in_the_period_of_its_report_is_no_sighting(world):
    """Attack on the rule above, against an honest holder: its chip worked the first hour of a period and was
    stolen; the holder reports it stolen, then files the period's usage (ending after the report) with that
    hour. Nothing in the statement says the chip worked after the report: no critical finding on the victim."""
    start, end = now() - timedelta(hours=3), now() - timedelta(minutes=1)
    _report(world.op_a, "nvidia:A000004", "stolen", timedelta(hours=1))
    work = {**_work("nvidia:A000004"), "active_s": 3600}  # the period's first hour: two hours before the report
    response, _ = world.submit(world.op_a, world.usage([work], start, end))
    assert response.status_code == 201, response.content
    assert not AnyFinding.objects.filter(kind="lost_chip_sighted").exists()


def test_more_work_than_fits_before_the_report_is_a_sighting(world):
    """The same period, but more active seconds than lie between its start and the report: the chip worked
    after it was reported stolen."""
    start, end = now() - timedelta(hours=3), now() - timedelta(minutes=1)
    _report(world.op_a, "nvidia:A000004", "stolen", timedelta(hours=1))
    work = {**_work("nvidia:A000004"), "active_s": 3 * 3600 - 120}
    response, _ = world.submit(world.op_a, world.usage([work], start, end))
    assert response.status_code == 201, response.content
    assert AnyFinding.objects.filter(kind="lost_chip_sighted", chip_ref="nvidia:A000004").exists()


def _disposed(api, parties, client, chip, kind, ago):
    """`chip` destroyed or decommissioned by a request its country's inspectorate accepted, `ago` ago."""
    import base64

    from django.utils import timezone

    body = {
        "kind": kind,
        "chips": [chip],
        "method": "shredded",
        "place": "Recycler Inc.",
        "date": timezone.localdate().isoformat(),
        "attachments": [
            {"name": "c.pdf", "content_type": "application/pdf", "content": base64.b64encode(b"%PDF-1.4 x").decode()}
        ],
    }
    asked = client.post("/api/v1/disposals/", body)
    assert asked.status_code == 201, asked.content
    accepted = api(parties.users["insp_us"]).post(f"/api/v1/disposals/{asked.json()['id']}/accept/", {})
    assert accepted.status_code == 200, accepted.content
    ChipEvent.objects.filter(chip__serial=chip.partition(":")[2], kind="status").update(at=now() - ago)


@pytest.mark.parametrize("kind", ["destroyed", "decommissioned"])
def test_holder_working_a_chip_witnessed_off_the_books_is_a_finding(api, world, parties, kind):
    """(Review r1.) Attack: op-a has its chip witnessed destroyed (or decommissioned: out of every chip count, a
    covered cluster drops under a line) and goes on working it, its agent reporting the work. Its own word that
    the chip worked after the disposal says the disposal's evidence, or its silence since, does not hold: an
    `unexpected` finding for op-a and its inspectorate (the treaty body's alert), as a location statement listing
    a destroyed chip in use is. The work still counts."""
    _disposed(api, parties, world.op_a, "nvidia:A000005", kind, timedelta(hours=3))
    start, end = now() - timedelta(hours=2), now() - timedelta(hours=1)
    response, _ = world.submit(world.op_a, world.usage([_work("nvidia:A000005")], start, end))
    assert response.status_code == 201, response.content
    assert response.json()["flags"] == {"unexpected": 1}
    found = AnyFinding.objects.filter(kind="unexpected", chip_ref="nvidia:A000005")
    assert [(f.organisation_id, f.country) for f in found] == [(parties.op_a.pk, "US")]
    assert kind in found.get().detail
    drain_all()


def test_work_reported_for_a_time_before_the_disposal_is_no_finding(api, world, parties):
    """(Review r1.) Work done before the disposal was accepted, filed after it, says nothing of the chip since."""
    start, end = now() - timedelta(hours=3), now() - timedelta(hours=2)
    _disposed(api, parties, world.op_a, "nvidia:A000006", "destroyed", timedelta(hours=1))
    response, _ = world.submit(world.op_a, world.usage([_work("nvidia:A000006")], start, end))
    assert response.status_code == 201, response.content
    assert response.json()["flags"] == {}
    assert not AnyFinding.objects.filter(kind="unexpected", chip_ref="nvidia:A000006").exists()


def test_work_witnessed_by_energy_after_the_disposal_is_a_finding(api, world, parties):
    """(Review r4.) Attack on the rule above: op-a reports its chip decommissioned a minute into the period active
    for half a minute, but with the energy of the whole period at full power. Its work is counted on the time its
    energy witnesses (protocol.usage.witnessed_active_s): hours after the disposal. The finding judged the
    reported active seconds alone, so the chip worked off the books unseen by this finding."""
    _disposed(api, parties, world.op_a, "nvidia:A000007", "decommissioned", timedelta(hours=3))
    start, end = now() - timedelta(hours=3, minutes=1), now() - timedelta(hours=1)
    work = {"chip": "nvidia:A000007", "active_s": 30, "utilization": 1.0, "energy_j": 5e6}
    response, _ = world.submit(world.op_a, world.usage([work], start, end))
    assert response.status_code == 201, response.content
    found = AnyFinding.objects.filter(kind="unexpected", chip_ref="nvidia:A000007")
    assert [(f.organisation_id, f.country) for f in found] == [(parties.op_a.pk, "US")]
    assert "decommissioned" in found.get().detail


def test_a_disposed_chip_listed_idle_is_no_finding(api, world, parties):
    """(Review r4.) A decommissioned chip may stay in its rack: a node agent listing it with no active second and
    no energy says it did not work, whenever its period began."""
    _disposed(api, parties, world.op_a, "nvidia:A000007", "decommissioned", timedelta(hours=3))
    start, end = now() - timedelta(hours=2), now() - timedelta(hours=1)
    idle = {"chip": "nvidia:A000007", "active_s": 0, "utilization": 0.0, "energy_j": 0.0}
    response, _ = world.submit(world.op_a, world.usage([idle], start, end))
    assert response.status_code == 201, response.content
    assert not AnyFinding.objects.filter(kind="unexpected", chip_ref="nvidia:A000007").exists()


def test_work_while_decommissioned_is_a_finding_after_the_chip_is_destroyed_too(api, world, parties):
    """(Review r4.) Attack: op-a has its chip witnessed decommissioned, works it, then has it witnessed destroyed
    and only then files the usage. The chip has been off the books since the decommissioning; the finding read
    the latest status change (the destruction) as the disposal, so the work in between fitted 'before' it."""
    _disposed(api, parties, world.op_a, "nvidia:A000008", "decommissioned", timedelta(hours=5))
    _disposed(api, parties, world.op_a, "nvidia:A000008", "destroyed", timedelta(hours=1))
    ChipEvent.objects.filter(chip__serial="A000008", kind="status", after__status="decommissioned").update(
        at=now() - timedelta(hours=5)
    )
    start, end = now() - timedelta(hours=4), now() - timedelta(hours=2)
    response, _ = world.submit(world.op_a, world.usage([_work("nvidia:A000008")], start, end))
    assert response.status_code == 201, response.content
    found = AnyFinding.objects.filter(kind="unexpected", chip_ref="nvidia:A000008")
    assert [(f.organisation_id, f.country) for f in found] == [(parties.op_a.pk, "US")]


def test_work_while_decommissioned_is_a_finding_after_the_chip_is_put_back_in_service(api, world, parties):
    """(Review r4, left open; closed after it.) Attack: op-a has its chip witnessed decommissioned (out of every chip
    count), works it, puts it back in service on its own word, and only then files the usage of the decommissioned
    hours. The finding judged the chip by its status now (installed), so the work off the books passed unseen;
    it reads the chip's status history over the period."""
    _disposed(api, parties, world.op_a, "nvidia:A000009", "decommissioned", timedelta(hours=5))
    back = world.op_a.patch("/api/v1/chips/nvidia:A000009/", {"status": "installed", "reason": "back in service"})
    assert back.status_code == 200, back.content
    ChipEvent.objects.filter(chip__serial="A000009", kind="status", after__status="installed").update(
        at=now() - timedelta(hours=2)
    )
    start, end = now() - timedelta(hours=4), now() - timedelta(hours=1)
    # Two hours of work in a period of which one hour (the last) stood on the books.
    work = {"chip": "nvidia:A000009", "active_s": 7200, "utilization": 0.9, "energy_j": 4e6}
    response, _ = world.submit(world.op_a, world.usage([work], start, end))
    assert response.status_code == 201, response.content
    found = AnyFinding.objects.filter(kind="unexpected", chip_ref="nvidia:A000009")
    assert [(f.organisation_id, f.country) for f in found] == [(parties.op_a.pk, "US")]
    assert "decommissioned" in found.get().detail
    # An hour's work fits in the hour it stood on the books: no finding.
    fits = {"chip": "nvidia:A000009", "active_s": 3000, "utilization": 0.9, "energy_j": 1.5e6}
    response, _ = world.submit(world.op_a, world.usage([fits], start, end))
    assert response.status_code == 201, response.content
    assert found.count() == 1
