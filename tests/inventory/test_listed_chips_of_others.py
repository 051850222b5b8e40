"""A chip another party holds, listed in a declaration or seen in an inspection, is its holder's finding too.

Before, an operator's declaration or an inspection that listed op-b's German chip at op-a's US site was only
an `unexpected` finding at that site: op-b and the German inspectorate, whose chip turned up across the
border, were told nothing (a location statement's listing already told them: attestations.filing)."""

from datetime import timedelta

import pytest
from django.utils import timezone

from inventory.chiprefs import parse_listing
from inventory.models import AnyFinding, Facility
from inventory.services.listings import record_declaration, record_inspection
from tests.attestations.conftest import World
from tests.factories import OrganisationFactory, UserFactory

B_CHIP = "nvidia:B000001"


@pytest.fixture
def world(api, parties):
    w = World(api, parties)
    w.insp_de = UserFactory(
        organisation=OrganisationFactory(code="insp-de", kind="inspectorate", country="DE", jurisdictions=["DE"])
    )
    return w


def _finding_refs(client, kind):
    results = client.get("/api/v1/findings/", {"kind": kind}).json()["results"]
    return sorted(f["chip"] for f in results)


def _holders_see_it(api, world, source):
    held = AnyFinding.objects.get(kind="other_operator", chip_ref=B_CHIP)
    assert (held.organisation.code, held.country, held.other_country, held.source) == ("op-b", "US", "DE", source)
    assert held.facility.code == "US-VA-001"
    assert _finding_refs(world.op_b, "other_operator") == [B_CHIP]
    assert _finding_refs(api(world.insp_de), "other_operator") == [B_CHIP]
    assert _finding_refs(api(world.p.users["insp_us"]), "other_operator") == [B_CHIP]
    # The lister keeps its own `unexpected` finding and reads nothing of the holder's; France reads neither.
    assert _finding_refs(world.op_a, "other_operator") == []
    assert B_CHIP in _finding_refs(world.op_a, "unexpected")
    assert _finding_refs(api(world.p.users["insp_fr"]), "other_operator") == []


def test_an_inspection_that_sees_another_partys_chip_tells_its_holder(api, world):
    site = Facility.objects.get(code="US-VA-001")
    listing = parse_listing(["nvidia:A000001", B_CHIP], 1_000_000)
    record_inspection(world.p.users["insp_us"], site, timezone.now() - timedelta(minutes=5), listing)
    _holders_see_it(api, world, "inspection")


def test_a_declaration_that_lists_another_partys_chip_tells_its_holder(api, world):
    site = Facility.objects.get(code="US-VA-001")
    listing = parse_listing(["nvidia:A000001", B_CHIP], 1_000_000)
    record_declaration(world.p.users["op_a_admin"], site, timezone.now() - timedelta(minutes=5), listing)
    _holders_see_it(api, world, "declaration")


def test_its_own_chips_and_a_complete_statements_are_not_filed_twice(api, world):
    """A complete statement is a declaration whose findings about others' chips its own filing makes: one
    `other_operator` finding for the holder, not two; the declarer's own chips are nobody else's finding."""
    response, _ = world.submit(world.op_a, world.location(["nvidia:A000001", B_CHIP], scope="complete"))
    assert response.status_code == 201, response.content
    assert AnyFinding.objects.filter(kind="other_operator", chip_ref=B_CHIP).count() == 1
    assert not AnyFinding.objects.filter(kind="other_operator", chip_ref="nvidia:A000001").exists()
