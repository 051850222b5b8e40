"""Continuity of knowledge in hardware (issue 18) with real evidence: NVIDIA's H100 evidence, submitted
for one chip of a covered cluster, keeps that chip out of the `hardware_unverified` findings."""

from datetime import timedelta

from django.utils import timezone

from compliance.tasks import find_hardware_unverified
from inventory.models import AnyFinding
from outbox.relay import drain_all
from registry.models import Chip
from registry.registration import register_chips
from tests.attestations.evidence_helpers import FIXTURE_NONCE, entry, fixture_chain, fixture_report, import_challenge
from tests.attestations.evidence_helpers import statement as evidence_statement
from tests.factories import chip_rows

PROVED = "nvidia:A000001"


def test_a_chip_that_proved_itself_is_no_finding_its_cluster_mates_are(world, parties):
    register_chips(chip_rows("C", 7), parties.users["op_a_admin"])
    chips = [f"nvidia:A{i:06d}" for i in range(10)] + [f"nvidia:C{i:06d}" for i in range(7)]
    when = (timezone.now() - timedelta(hours=1)).isoformat()
    declared = world.op_a.post("/api/v1/declarations/", {"facility": "US-VA-001", "as_of": when, "chips": chips})
    assert declared.status_code == 201, declared.content
    import_challenge("op-a")
    response, _ = world.submit(
        world.op_a, evidence_statement(FIXTURE_NONCE, [entry(PROVED, fixture_report(), fixture_chain())]), world.key_a
    )
    assert response.status_code == 201, response.content
    drain_all()
    assert Chip.objects.by_public_id(PROVED).get().hardware_verified_at is not None
    Chip.objects.filter(serial__in=[c.split(":")[1] for c in chips]).update(
        created_at=timezone.now() - timedelta(days=30)
    )
    assert find_hardware_unverified() == 16
    unverified = set(AnyFinding.objects.filter(kind="hardware_unverified").values_list("chip_ref", flat=True))
    assert unverified == set(chips) - {PROVED}
