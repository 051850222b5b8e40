"""Hostile review of 2026-12-06: each test performs an attack with a party's own real token and asserts the secure
behaviour; a failing test is a confirmed authority bug on the code it ran against."""

import json
from datetime import timedelta

import pytest
from django.utils import timezone

from tests.attestations.conftest import World


@pytest.fixture
def world(api, parties):
    return World(api, parties)


def test_holder_of_a_stolen_chip_does_not_learn_whose_facility_saw_it(api, world, parties):
    """README, "Chips off the books": a lost or stolen chip seen again is a finding for its holder of record, but
    "the holder does not learn whose facility it was". op-a's location statement names op-b's stolen chip: the
    lost_chip_sighted finding says only the country and time, yet the `other_operator` finding filed under op-b
    (attestations/filing.raise_for_custodians) names op-a's facility and carries `"speaker": "op-a"`, so the
    holder reads exactly where (and by whom) its stolen chip was seen."""
    assert (
        world.op_b.patch("/api/v1/chips/nvidia:B000000/", {"status": "stolen", "reason": "burglary"}).status_code == 200
    )
    response, _ = world.submit(world.op_a, world.location(["nvidia:B000000", "nvidia:A000000"]))
    assert response.status_code == 201, response.content
    findings = world.op_b.get("/api/v1/findings/?limit=500").json()["results"]
    assert any(f["kind"] == "lost_chip_sighted" for f in findings)
    text = json.dumps(findings)
    assert "US-VA-001" not in text, [f for f in findings if "US-VA-001" in json.dumps(f)]
    assert '"op-a"' not in text, [f for f in findings if '"op-a"' in json.dumps(f)]


def test_an_inspectorate_does_not_resolve_the_other_countrys_twin_finding(api, world, parties):
    """A lost chip seen again is two findings, "one for the chip's last country and one for the sighting's ... so
    each inspectorate gets its alert" (README). Each row names the other country in `other_country`, which
    FindingQuerySet.restrict_for lets that other inspectorate read, and resolve_finding lets anyone who reads a
    finding resolve it: the US inspectorate (the sighting's country) closes Germany's own finding about a chip stolen
    in Germany. README: inspectorates resolve findings "in its jurisdictions"; Germany's row is not."""
    from inventory.models import AnyFinding

    assert (
        world.op_b.patch("/api/v1/chips/nvidia:B000000/", {"status": "stolen", "reason": "burglary"}).status_code == 200
    )
    response, _ = world.submit(world.op_a, world.location(["nvidia:B000000"]))
    assert response.status_code == 201, response.content
    germany = AnyFinding.objects.get(kind="lost_chip_sighted", country="DE")
    assert germany.other_country == "US"
    insp_us = api(parties.users["insp_us"])
    answer = insp_us.post(f"/api/v1/findings/{germany.pk}/resolve/", {"reason": "nothing to see, says the US"})
    assert answer.status_code in (403, 404), answer.content
    assert AnyFinding.objects.get(pk=germany.pk).resolved_at is None


def _iso(when):
    return when.isoformat()


def test_chips_do_not_cross_a_border_unlicensed_by_way_of_a_manufacturer(api, world, parties):
    """Export control laundering. Manufacturers loaded from the catalog have no country (registry.catalog
    creates them with country ""), and a transfer needs an export authorisation only when both its origin and its
    destination country are known and differ (inventory.services.transfers.ship). op-a ships chips that lie in
    the US to nvidia (an "RMA"): destination "" -> no licence asked. nvidia confirms without a facility:
    the chips' country becomes "" (the manufacturer's), out of every inspectorate's view. nvidia ships them on to
    op-b in Germany: origin "" -> again no licence; the German receipt raises no export_unauthorised finding
    (receipt_findings returns early on an empty origin). US chips end up in Germany with no export authorisation
    ever requested and no finding anywhere. README, Exports: a cross-border transfer ships only under an approved
    authorisation, and chips that arrive in another country than they left raise export_unauthorised findings."""
    from inventory.models import Transfer
    from registry.models import Chip

    now = timezone.now()
    chips = ["nvidia:A000000", "nvidia:A000001"]
    assert set(Chip.objects.filter(serial__in=["A000000", "A000001"]).values_list("country", flat=True)) == {"US"}
    shipped = world.op_a.post(
        "/api/v1/transfers/",
        {
            "receiver": "nvidia",
            # No origin site: the chips were never placed at one (origin_mismatch since 4781dd0).
            "shipped_at": _iso(now - timedelta(hours=5)),
            "chips": chips,
        },
    )
    if shipped.status_code == 409:
        return  # refused without a licence: secure
    assert shipped.status_code == 201, shipped.content
    maker = api(parties.users["nvidia"])
    got = maker.post(
        f"/api/v1/transfers/{shipped.json()['id']}/receive/",
        {"received_at": _iso(now - timedelta(hours=4)), "chips": chips},
    )
    assert got.status_code == 200, got.content
    # Held by a party of no country at no facility, the chips stay where the registry last had them.
    assert set(Chip.objects.filter(serial__in=["A000000", "A000001"]).values_list("country", flat=True)) == {"US"}
    assert api(parties.users["insp_us"]).get("/api/v1/chips/nvidia:A000000/").status_code == 200
    onward = maker.post(
        "/api/v1/transfers/",
        {
            "receiver": "op-b",
            "destination_facility": "DE-FRA-001",
            "shipped_at": _iso(now - timedelta(hours=3)),
            "chips": chips,
        },
    )
    # Leaving the US for Germany, they need the US's export authorisation like any other.
    assert onward.status_code == 409 and onward.json()["code"] == "export_not_authorised", onward.content
    assert not Transfer.objects.filter(receiver__code="op-b").exists()
