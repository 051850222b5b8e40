"""An origin facility is where the chips are, not a site of the shipper's choosing (hostile review of custody moves).

An export authorisation that names its origin facility ships from there only (test_exports), and `origin_mismatch`
answers "a transfer's origin facility where the chips are not". But only the facility's *country* was compared with
the chips': op-a, its chips declared at US-VA-OTHER (a site the US inspectorate never saw), asked for an export from
A-ASH, had it approved as an export from A-ASH, and shipped the chips from US-VA-OTHER naming A-ASH; a domestic
transfer's origin facility was as free. A named origin facility must be where the books place the chips.
"""

from datetime import timedelta

from django.utils import timezone

from inventory.models import ExportAuthorisation, Transfer
from registry.chip_writes import lock
from tests.inventory.test_exports import B_US_SITE, DE_SITE, US_SITE, ago, world  # noqa: F401

OTHER = "US-VA-OTHER"


def test_an_origin_facility_the_chips_are_not_at_is_refused(api, world):  # noqa: F811
    other = world.a.post(
        "/api/v1/facilities/", {"code": OTHER, "name": "Other", "country": "US", "latitude": 38.9, "longitude": -77.2}
    )
    assert other.status_code == 201, other.content
    moved = world.a.post("/api/v1/declarations/", {"facility": OTHER, "as_of": ago(days=1), "chips": world.chips})
    assert moved.status_code == 201, moved.content
    # The export is asked for, and would be approved, as one from A-ASH.
    body = {"receiver": "op-b", "destination_facility": DE_SITE, "reference": "US-BIS-9", "chips": world.chips}
    asked = world.a.post("/api/v1/export-authorisations/", {**body, "origin_facility": US_SITE})
    assert (asked.status_code, asked.json().get("code")) == (400, "origin_mismatch"), asked.content
    assert not ExportAuthorisation.objects.exists()
    # A domestic shipment names where the chips leave, too.
    shipment = {"receiver": "op-b", "destination_facility": B_US_SITE, "shipped_at": ago(hours=5), "chips": world.chips}
    named = world.a.post("/api/v1/transfers/", {**shipment, "origin_facility": US_SITE})
    assert (named.status_code, named.json().get("code")) == (400, "origin_mismatch"), named.content
    assert not Transfer.objects.exists()
    # Where they are, both go through.
    assert world.a.post("/api/v1/export-authorisations/", {**body, "origin_facility": OTHER}).status_code == 201
    shipped = world.a.post("/api/v1/transfers/", {**shipment, "origin_facility": OTHER})
    assert shipped.status_code == 201, shipped.content


def _moved_while_checked(monkeypatch, facility_code, hours_ago=None):
    """A statement that moves the chips to `facility_code` (at `hours_ago`, or at the shipment's time) commits between
    the shipment's first reads of the books and its lock (chip_writes.lock, which takes the log's): placed and logged
    inside the shipment's transaction just before the lock, as the race would leave the books and the log."""
    from inventory.models import Facility
    from inventory.services import placements
    from registry import chip_writes
    from registry.models import Chip
    from transparency.events import append_event

    moved = []

    def moved_then_locked(pks):
        pks = list(pks)
        if not moved:
            facility = Facility.objects.get(code=facility_code)
            at = timezone.now() - timedelta(hours=5 if hours_ago is None else hours_ago)
            placements.place({pk: None for pk in pks}, facility, at, "attestation", "racing")
            append_event("declaration.recorded", "declaration:racing", {"facility": facility_code}, countries=[])
            moved.append(at)
            assert set(Chip.objects.filter(pk__in=pks).values_list("country", flat=True)) == {facility.country}
        return lock(pks)

    monkeypatch.setattr(chip_writes, "lock", moved_then_locked)


def test_chips_moved_while_the_shipment_was_checked_are_not_shipped_from_where_they_were(world, monkeypatch):  # noqa: F811
    """The shipment's checks read the books under the log's lock (its origin again, when other entries were logged
    since it was first read): a named origin site the chips left meanwhile, a country they left without one named
    (origin_mismatch), or a site they reached after the shipment's time (shipped_before_arrival) refuses it, and
    nothing is shipped."""
    from inventory.models import Placement
    from registry.models import Chip

    other = world.a.post(
        "/api/v1/facilities/", {"code": OTHER, "name": "Other", "country": "US", "latitude": 38.9, "longitude": -77.2}
    )
    assert other.status_code == 201, other.content
    de = world.a.post(
        "/api/v1/facilities/",
        {"code": "A-FRA", "name": "Frankfurt", "country": "DE", "latitude": 50.1, "longitude": 8.7},
    )
    assert de.status_code == 201, de.content
    shipment = {"receiver": "op-b", "destination_facility": B_US_SITE, "shipped_at": ago(hours=5), "chips": world.chips}
    _moved_while_checked(monkeypatch, OTHER)
    named = world.a.post("/api/v1/transfers/", {**shipment, "origin_facility": US_SITE})
    assert (named.status_code, named.json().get("code")) == (400, "origin_mismatch"), named.content
    assert "not at A-ASH" in named.json()["detail"]
    _moved_while_checked(monkeypatch, "A-FRA")
    unnamed = world.a.post("/api/v1/transfers/", shipment)
    assert (unnamed.status_code, unnamed.json().get("code")) == (400, "origin_mismatch"), unnamed.content
    assert "moved to another country" in unnamed.json()["detail"]
    _moved_while_checked(monkeypatch, OTHER, hours_ago=1)  # the same country, after the shipment's time
    later = world.a.post("/api/v1/transfers/", shipment)
    assert (later.status_code, later.json().get("code")) == (409, "shipped_before_arrival"), later.content
    assert not Transfer.objects.exists()
    assert set(Chip.objects.filter(serial__startswith="EXP").values_list("status", "country")) == {("installed", "US")}
    assert set(Placement.objects.filter(valid_to=None).values_list("facility__code", flat=True)) == {US_SITE}
