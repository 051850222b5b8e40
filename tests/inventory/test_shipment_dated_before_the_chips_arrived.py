"""A shipment dated back before the chips arrived where the books have them (hostile review of custody moves).

A shipment closes the chips' open placements at the `shipped_at` the shipper gives, but only placements that had
begun by then. Dated back before the chips' current placement began (op-a declared them at A-ASH two days ago, or
received them there), it closed nothing: the chips went in transit still placed at A-ASH, and the receipt, dated
at or after that `shipped_at` but before the placement began, was "superseded" by it. op-b then held the chips,
in its country's count, while every facility and cluster total kept them at op-a's A-ASH, and op-a's own
declarations there would not list chips it no longer held. A shipment cannot be dated before the chips came
where they are (409 `shipped_before_arrival`, with the `latest` time to ship after; nothing shipped).
"""

from datetime import timedelta

from django.utils import timezone

from inventory.models import Placement, Transfer
from registry.models import Chip
from tests.inventory.test_exports import B_US_SITE, DE_SITE, US_SITE, ago, world  # noqa: F401


def _open_places():
    return set(
        Placement.objects.filter(chip__serial__startswith="EXP", valid_to=None).values_list("facility__code", flat=True)
    )


def test_a_shipment_dated_before_the_chips_were_placed_is_refused(api, world):  # noqa: F811
    # The chips were declared at A-ASH two days ago (the world fixture); op-a dates the shipment five days back.
    body = {"receiver": "op-b", "destination_facility": B_US_SITE, "shipped_at": ago(days=5), "chips": world.chips}
    refused = world.a.post("/api/v1/transfers/", body)
    assert (refused.status_code, refused.json().get("code")) == (409, "shipped_before_arrival"), refused.content
    latest = timezone.datetime.fromisoformat(refused.json()["latest"].replace("Z", "+00:00"))
    assert abs(latest - (timezone.now() - timedelta(days=2))) < timedelta(minutes=5)
    assert not Transfer.objects.exists()
    assert set(Chip.objects.filter(serial__startswith="EXP").values_list("custodian__code", "status")) == {
        ("op-a", "installed")
    }
    assert _open_places() == {US_SITE}
    # Dated after the chips came to A-ASH, it ships, and the receipt places them at op-b's site.
    shipped = world.a.post("/api/v1/transfers/", {**body, "shipped_at": ago(days=1)})
    assert shipped.status_code == 201, shipped.content
    response = world.b.post(
        f"/api/v1/transfers/{shipped.json()['id']}/receive/",
        {"received_at": ago(hours=20), "facility": B_US_SITE, "chips": world.chips},
    )
    assert response.status_code == 200, response.content
    assert _open_places() == {B_US_SITE}


def test_chips_placed_nowhere_leave_no_site(api, world, parties):  # noqa: F811
    """Chips op-a registered and never placed: naming an origin site where the books place them nowhere is
    origin_mismatch, for a shipment as for an export authorisation (both were accepted, recording a departure
    from a site the books never had them at: clients written from the README met it). Nothing is written."""
    from inventory.models import ExportAuthorisation
    from registry.registration import register_chips
    from tests.factories import chip_rows

    register_chips(chip_rows("NEW", 2), parties.users["op_a_admin"])
    chips = ["nvidia:NEW000000", "nvidia:NEW000001"]
    body = {"receiver": "op-b", "destination_facility": B_US_SITE, "chips": chips, "shipped_at": ago(hours=1)}
    placed_nowhere = world.a.post("/api/v1/transfers/", {**body, "origin_facility": US_SITE})
    assert (placed_nowhere.status_code, placed_nowhere.json().get("code")) == (400, "origin_mismatch")
    # One of them placed there is not enough: every chip leaves the site named.
    declared = world.a.post(
        "/api/v1/declarations/", {"facility": US_SITE, "as_of": ago(days=1), "chips": [*world.chips, chips[0]]}
    )
    assert declared.status_code == 201, declared.content
    placed_nowhere = world.a.post("/api/v1/transfers/", {**body, "origin_facility": US_SITE})
    assert (placed_nowhere.status_code, placed_nowhere.json().get("code")) == (400, "origin_mismatch")
    licence = world.a.post(
        "/api/v1/export-authorisations/",
        {
            "receiver": "op-b",
            "destination_facility": DE_SITE,
            "origin_facility": US_SITE,
            "chips": chips,
            "reference": "LIC-NEW",
        },
    )
    assert (licence.status_code, licence.json().get("code")) == (400, "origin_mismatch"), licence.content
    assert not Transfer.objects.exists() and not ExportAuthorisation.objects.exists()
    # Naming no site, they ship; naming the site of the one placed there, it ships.
    assert world.a.post("/api/v1/transfers/", {**body, "chips": chips[1:]}).status_code == 201
    assert (
        world.a.post("/api/v1/transfers/", {**body, "chips": chips[:1], "origin_facility": US_SITE}).status_code == 201
    )
