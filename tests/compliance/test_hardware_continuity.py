"""Continuity of knowledge in hardware (issue 18): chips of a covered cluster without verified hardware
evidence within CHIPREG_HARDWARE_EVIDENCE_WINDOW_DAYS are `hardware_unverified` findings
(compliance.hardware_continuity, run by the beat task compliance.tasks.find_hardware_unverified)."""

from datetime import timedelta

import pytest
from django.utils import timezone

from compliance.models import Alert
from compliance.tasks import find_hardware_unverified
from inventory.models import AnyFinding
from outbox.relay import drain_all
from registry import chip_writes
from registry.models import Chip
from tests.compliance.test_covered_clusters import declare, h100s, site

KIND = "hardware_unverified"


@pytest.fixture
def a(api, parties):
    return api(parties.users["op_a_admin"])


def registered_long_ago(chips):
    """Older than the window: a chip registered a moment ago is given the window to prove itself."""
    serials = [c.split(":", 1)[1] for c in chips]
    Chip.objects.filter(serial__in=serials).update(created_at=timezone.now() - timedelta(days=30))


def found():
    return AnyFinding.objects.filter(kind=KIND)


def test_seventeen_h100s_without_evidence_are_seventeen_findings_once(a, parties):
    site(a, "HALL-1")
    chips = h100s(parties.users["op_a_admin"], "HWU", 17)
    declare(a, "HALL-1", chips)
    drain_all()
    registered_long_ago(chips)
    assert find_hardware_unverified() == 17
    assert sorted(found().values_list("chip_ref", flat=True)) == sorted(chips)
    finding = found().first()
    assert finding.source == "monitor" and finding.source_id == "hwsince:never"
    assert finding.organisation_id == parties.op_a.pk and finding.country == "US"
    assert finding.facility.code == "HALL-1"
    # The same lapse is not reported twice.
    assert find_hardware_unverified() == 17
    assert found().count() == 17
    # The findings are one alert for the facility, of the severity configured for the kind.
    drain_all()
    [alert] = Alert.objects.filter(group__startswith=f"{KIND}:")
    assert alert.severity == "medium" and alert.subject_key == str(finding.facility_id)


def test_the_beat_runs_it(settings):
    entry = settings.CELERY_BEAT_SCHEDULE["find-hardware-unverified"]
    assert entry["task"] == find_hardware_unverified.name


def test_sixteen_h100s_are_not_a_covered_cluster(a, parties):
    site(a, "HALL-1")
    chips = h100s(parties.users["op_a_admin"], "HWS", 16)
    declare(a, "HALL-1", chips)
    drain_all()
    registered_long_ago(chips)
    assert find_hardware_unverified() == 0
    assert not found().exists()


def test_fresh_evidence_is_no_finding_and_a_lapse_is_a_new_one(a, parties, settings):
    site(a, "HALL-1")
    chips = h100s(parties.users["op_a_admin"], "HWF", 17)
    declare(a, "HALL-1", chips)
    drain_all()
    registered_long_ago(chips)
    fresh, stale = Chip.objects.get(serial="HWF000000"), Chip.objects.get(serial="HWF000001")
    now = timezone.now()
    assert chip_writes.set_hardware_verified([fresh.pk], now - timedelta(days=1)) == 1
    assert chip_writes.set_hardware_verified([stale.pk], now - timedelta(days=8)) == 1
    assert find_hardware_unverified() == 16
    assert not found().filter(chip_id=fresh.pk).exists()
    [lapsed] = found().filter(chip_id=stale.pk)
    assert lapsed.source_id == f"hwsince:{(now - timedelta(days=8)).isoformat()}"
    # A wider window: the stale chip is within it; its earlier finding stays, nothing new is raised.
    settings.CHIPREG_HARDWARE_EVIDENCE_WINDOW_DAYS = 10
    assert find_hardware_unverified() == 15
    assert found().count() == 16
    # The fresh chip lapses in turn (checked later): a finding of its own, keyed by its last proof.
    settings.CHIPREG_HARDWARE_EVIDENCE_WINDOW_DAYS = 7
    assert find_hardware_unverified_at(now + timedelta(days=7)) == 17
    assert found().filter(chip_id=fresh.pk).count() == 1


def find_hardware_unverified_at(when):
    from compliance.hardware_continuity import find_hardware_unverified as run

    return run(now=when)


def test_only_the_custodian_its_inspectorate_and_the_treaty_body_see_them(a, api, parties):
    site(a, "HALL-1")
    chips = h100s(parties.users["op_a_admin"], "HWV", 17)
    declare(a, "HALL-1", chips)
    drain_all()
    registered_long_ago(chips)
    assert find_hardware_unverified() == 17
    url = f"/api/v1/findings/?kind={KIND}&page_size=100"

    def listed(user):
        response = api(parties.users[user]).get(url)
        assert response.status_code == 200, response.content
        return sorted(f["chip"] for f in response.json()["results"])

    for reader in ("op_a_admin", "insp_us", "treaty"):
        assert listed(reader) == sorted(chips), reader
    for outsider in ("op_b", "insp_fr"):
        assert listed(outsider) == [], outsider
