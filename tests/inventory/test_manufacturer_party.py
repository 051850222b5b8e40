"""A manufacturer is a party to transfers and exports as an operator is (it holds the chips it registers until
it ships them, and takes chips back): it sees the rows that name it, receives what is shipped to it, and sees
no one else's."""

from datetime import timedelta

import pytest
from django.utils import timezone

from registry.models import Chip
from registry.registration import register_chips
from tests.factories import OrganisationFactory, UserFactory, chip_rows

A_SITE, B_DE_SITE = "M-ASH", "M-FRA"


def ago(**kw):
    return (timezone.now() - timedelta(**kw)).isoformat()


@pytest.fixture
def world(api, parties):
    parties.nvidia.country = "US"  # where its unsold chips lie
    parties.nvidia.save(update_fields=["country"])
    parties.users["nvidia_admin"] = UserFactory(organisation=parties.nvidia, role="admin")
    other_maker = OrganisationFactory(code="other-maker", kind="manufacturer", country="US")
    parties.users["other_maker"] = UserFactory(organisation=other_maker, role="admin")
    parties.maker = api(parties.users["nvidia_admin"])
    parties.a, parties.b = api(parties.users["op_a_admin"]), api(parties.users["op_b"])
    for client, code, country, lat, lon in (
        (parties.a, A_SITE, "US", 39.04, -77.49),
        (parties.b, B_DE_SITE, "DE", 50.1, 8.7),
    ):
        response = client.post(
            "/api/v1/facilities/", {"code": code, "name": code, "country": country, "latitude": lat, "longitude": lon}
        )
        assert response.status_code == 201, response.content
    register_chips(chip_rows("MFR", 3), parties.users["nvidia_admin"])
    parties.chips = [f"nvidia:MFR{i:06d}" for i in range(3)]
    assert {c.custodian.code for c in Chip.objects.filter(serial__startswith="MFR")} == {"nvidia"}
    return parties


def test_a_manufacturer_sees_its_shipment_and_receives_a_return(api, world):
    shipped = world.maker.post(
        "/api/v1/transfers/",
        {"receiver": "op-a", "destination_facility": A_SITE, "shipped_at": ago(hours=3), "chips": world.chips},
    )
    assert shipped.status_code == 201, shipped.content
    out = shipped.json()["id"]
    assert world.maker.get(f"/api/v1/transfers/{out}/").status_code == 200
    assert out in {t["id"] for t in world.maker.get("/api/v1/transfers/").json()["results"]}
    # Another manufacturer learns nothing of it.
    assert api(world.users["other_maker"]).get(f"/api/v1/transfers/{out}/").status_code == 404
    received = world.a.post(
        f"/api/v1/transfers/{out}/receive/", {"received_at": ago(hours=2), "facility": A_SITE, "chips": world.chips}
    )
    assert received.status_code == 200, received.content

    # op-a sends one back; the manufacturer, which runs no facility, confirms it.
    back = world.a.post(
        "/api/v1/transfers/", {"receiver": "nvidia", "shipped_at": ago(hours=1), "chips": world.chips[:1]}
    )
    assert back.status_code == 201, back.content
    rid = back.json()["id"]
    assert (
        api(world.users["other_maker"])
        .post(f"/api/v1/transfers/{rid}/receive/", {"received_at": ago(minutes=30), "chips": world.chips[:1]})
        .status_code
        == 404
    )
    confirmed = world.maker.post(
        f"/api/v1/transfers/{rid}/receive/", {"received_at": ago(minutes=30), "chips": world.chips[:1]}
    )
    assert confirmed.status_code == 200, confirmed.content
    assert Chip.objects.get(serial="MFR000000").custodian.code == "nvidia"
    assert {c.custodian.code for c in Chip.objects.filter(serial__in=["MFR000001", "MFR000002"])} == {"op-a"}


def test_a_manufacturer_sees_its_own_export_authorisation_only(api, world):
    requested = world.maker.post(
        "/api/v1/export-authorisations/",
        {"receiver": "op-b", "destination_facility": B_DE_SITE, "reference": "US-BIS-M-1", "chips": world.chips[:2]},
    )
    assert requested.status_code == 201, requested.content
    auth = requested.json()["id"]
    assert world.maker.get(f"/api/v1/export-authorisations/{auth}/").status_code == 200
    assert auth in {x["id"] for x in world.maker.get("/api/v1/export-authorisations/").json()["results"]}
    other = api(world.users["other_maker"])
    assert other.get(f"/api/v1/export-authorisations/{auth}/").status_code == 404
    assert auth not in other.get("/api/v1/export-authorisations/").content.decode()
    # Seeing it gives it no say: only the exporting country's inspectorate decides.
    decided = world.maker.post(f"/api/v1/export-authorisations/{auth}/approve/", {})
    assert decided.status_code in (403, 404)


def test_a_manufacturer_reads_the_totals_of_the_chips_it_holds_and_no_one_elses(api, world):
    """A client written from the README, 2026-12-07: the manufacturer's console dashboard said "No chips in your
    view" while the API listed the chips it holds and the alerts on them. Its operator-country totals (the chips
    it registered, while in its custody) are now its to read, in the API and the console; another manufacturer's
    and the operators' are not."""
    from django.test import Client

    from compliance import aggregates
    from compliance.choices import Scope

    aggregates.refresh(Scope.OPERATOR_COUNTRY)
    rows = world.maker.get("/api/v1/aggregates/?scope=operator_country").json()["results"]
    assert [(r["subject_key"], r["chip_count"]) for r in rows] == [(f"{world.nvidia.pk}:US", 3)], rows
    other = api(world.users["other_maker"]).get("/api/v1/aggregates/?scope=operator_country").json()["results"]
    assert other == []
    assert world.maker.get("/api/v1/aggregates/?scope=facility").json()["results"] == []
    console = Client()
    console.force_login(world.users["nvidia_admin"])
    page = console.get("/")
    assert page.status_code == 200 and b"No chips in your view" not in page.content
    csv = b"".join(console.get("/?format=csv&table=countries").streaming_content).decode()
    assert len(csv.strip().splitlines()) == 2, csv
