"""A maker of no country registered chips that lay in no country (hostile review of registration, 2026-12-06).

Manufacturers loaded from the catalog have no home country. The chips such a maker registered lay in none: no
inspectorate saw them or their `chip.registered` event, and their first shipment abroad left no country, so no
export authorisation was asked for and no exporting state was told. Now a party of no country registers nothing
(409 `no_home_country`) until the treaty body or a registry administrator records its country; then the maker's
stock lies there, its inspectorate sees it, and shipping it abroad needs that country's authorisation."""

from registry.models import Chip, Organisation
from tests.factories import chip_rows
from tests.inventory.test_exports import DE_SITE, ago, world  # noqa: F401
from transparency.models import LogEventData


def test_a_maker_of_no_country_registers_nothing(api, parties):
    Organisation.objects.filter(code="nvidia").update(country="")
    events = LogEventData.objects.count()
    response = api(parties.users["nvidia"]).post("/api/v1/chips/", chip_rows("NOWHERE", 2))
    assert response.status_code == 409 and response.json()["code"] == "no_home_country", response.content
    assert not Chip.objects.filter(serial__startswith="NOWHERE").exists()
    assert LogEventData.objects.count() == events
    # Recorded by the treaty body, the maker registers, and its stock lies in its home country.
    treaty = api(parties.users["treaty"])
    assert treaty.patch("/api/v1/organisations/nvidia/", {"country": "US"}).status_code == 200
    response = api(parties.users["nvidia"]).post("/api/v1/chips/", chip_rows("NOWHERE", 2))
    assert response.status_code == 201, response.content
    assert set(Chip.objects.filter(serial__startswith="NOWHERE").values_list("country", flat=True)) == {"US"}
    seen = api(parties.users["insp_us"]).get("/api/v1/chips/?page_size=100").json()["results"]
    assert {"NOWHERE000000", "NOWHERE000001"} <= {c["serial"] for c in seen}


def test_the_makers_shipment_abroad_asks_for_its_countrys_authorisation(api, world):  # noqa: F811
    maker = api(world.users["nvidia"])
    assert maker.post("/api/v1/chips/", chip_rows("FAB", 2)).status_code == 201
    chips = ["nvidia:FAB000000", "nvidia:FAB000001"]
    body = {"receiver": "op-b", "destination_facility": DE_SITE, "shipped_at": ago(hours=1), "chips": chips}
    response = maker.post("/api/v1/transfers/", body)
    assert response.status_code == 409 and response.json()["code"] == "export_not_authorised", response.content
    assert set(Chip.objects.filter(serial__startswith="FAB").values_list("custodian__code", flat=True)) == {"nvidia"}
