"""A facility's country against its coordinates (issue 15, item 3): real places, offline reference data.

Clearly in another country is a 400 `country_mismatch` with nothing stored; near
a border the registry cannot tell, so it accepts and raises a finding that both
inspectorates see; a change of country or coordinates is a log event both the
old and the new inspectorate read, and the chips follow the facility's country.
"""

import pytest

from inventory import geo
from inventory.models import AnyFinding, Facility
from registry.models import Chip
from registry.registration import register_chips
from tests.factories import OrganisationFactory, UserFactory, chip_rows
from transparency.models import LogEventData, LogLeaf

ASHBURN = (39.0438, -77.4874)  # Ashburn, Virginia
FRANKFURT = (50.1109, 8.6821)  # Frankfurt am Main
TORONTO = (43.6532, -79.3832)
KEHL = (48.5728, 7.8152)  # on the Rhine, across the bridge from Strasbourg
DERBY_LINE = (45.005, -72.099)  # Vermont; the Quebec line runs through the village
GULF_OF_GUINEA = (1.0, 2.0)  # open sea, hundreds of km from any coast


@pytest.mark.parametrize(
    "point,country,outcome",
    [
        (ASHBURN, "US", geo.AGREES),
        (FRANKFURT, "DE", geo.AGREES),
        (TORONTO, "CA", geo.AGREES),
        (ASHBURN, "CA", geo.MISMATCH),
        (FRANKFURT, "FR", geo.MISMATCH),
        (TORONTO, "US", geo.MISMATCH),
        (GULF_OF_GUINEA, "US", geo.MISMATCH),
        (KEHL, "DE", geo.UNCLEAR),
        (KEHL, "FR", geo.UNCLEAR),
        (DERBY_LINE, "US", geo.UNCLEAR),
        (DERBY_LINE, "CA", geo.UNCLEAR),
        (KEHL, "US", geo.MISMATCH),  # near a border, but not near this country's
    ],
)
def test_reference_places(point, country, outcome):
    check = geo.check_country(*point, country)
    assert check.outcome == outcome, check
    if outcome == geo.UNCLEAR:
        assert {"DE", "FR"} <= set(check.countries) or {"US", "CA"} <= set(check.countries)


def test_lowercase_country_is_the_same_country():
    assert geo.check_country(*FRANKFURT, "de").outcome == geo.AGREES


@pytest.fixture
def world(api, parties):
    parties.insp_de = OrganisationFactory(code="insp-de", kind="inspectorate", country="DE", jurisdictions=["DE"])
    parties.insp_ca = OrganisationFactory(code="insp-ca", kind="inspectorate", country="CA", jurisdictions=["CA"])
    parties.users["insp_de"] = UserFactory(organisation=parties.insp_de, role="member")
    parties.users["insp_ca"] = UserFactory(organisation=parties.insp_ca, role="member")
    parties.a = api(parties.users["op_a_admin"])
    return parties


def register(client, code, point, country):
    lat, lon = point
    return client.post(
        "/api/v1/facilities/", {"code": code, "name": code, "country": country, "latitude": lat, "longitude": lon}
    )


def readable(api, user, index):
    return api(user).get(f"/api/v1/log/entries/{index}").status_code == 200


def test_registering_a_country_its_coordinates_contradict_is_refused(api, world):
    leaves = LogLeaf.objects.count()
    for code, point, country in (("X-FRA", FRANKFURT, "FR"), ("X-IAD", ASHBURN, "CA"), ("X-SEA", GULF_OF_GUINEA, "US")):
        response = register(world.a, code, point, country)
        assert response.status_code == 400, response.content
        assert response.json()["code"] == "country_mismatch"
    assert not Facility.objects.exists() and LogLeaf.objects.count() == leaves
    assert register(world.a, "US-IAD", ASHBURN, "US").status_code == 201
    assert register(api(world.users["op_b"]), "DE-FRA", FRANKFURT, "DE").status_code == 201
    assert not AnyFinding.objects.exists()


def test_near_a_border_is_accepted_with_a_finding_both_inspectorates_see(api, world):
    response = register(api(world.users["op_b"]), "DE-KEHL", KEHL, "DE")
    assert response.status_code == 201, response.content
    finding = AnyFinding.objects.get(facility__code="DE-KEHL")
    assert finding.kind == "country_unclear" and (finding.country, finding.other_country) == ("DE", "FR")
    for user in ("insp_de", "insp_fr", "op_b", "treaty"):
        listed = api(world.users[user]).get("/api/v1/findings/?kind=country_unclear").json()["results"]
        assert [f["id"] for f in listed] == [finding.pk], user
    for user in ("insp_us", "op_a_admin"):
        assert api(world.users[user]).get("/api/v1/findings/").json()["results"] == [], user

    response = register(world.a, "US-DERBY", DERBY_LINE, "US")
    assert response.status_code == 201, response.content
    finding = AnyFinding.objects.get(facility__code="US-DERBY")
    assert (finding.country, finding.other_country) == ("US", "CA")
    assert [f["id"] for f in api(world.users["insp_ca"]).get("/api/v1/findings/").json()["results"]] == [finding.pk]


def test_patching_the_country_alone_cannot_move_chips_to_another_inspectorate(api, world):
    """The attack: an operator PATCHes its facility's country and its chips leave the US inspectorate's view."""
    assert register(world.a, "US-IAD", ASHBURN, "US").status_code == 201
    leaves = LogLeaf.objects.count()
    response = world.a.patch("/api/v1/facilities/US-IAD/", {"country": "CA"})
    assert response.status_code == 400 and response.json()["code"] == "country_mismatch"
    response = world.a.patch("/api/v1/facilities/US-IAD/", {"latitude": TORONTO[0], "longitude": TORONTO[1]})
    assert response.status_code == 400 and response.json()["code"] == "country_mismatch"
    assert Facility.objects.get(code="US-IAD").country == "US" and LogLeaf.objects.count() == leaves
    assert [f["code"] for f in api(world.users["insp_us"]).get("/api/v1/facilities/").json()["results"]] == ["US-IAD"]


def test_a_change_of_country_is_seen_by_the_old_and_the_new_inspectorate(api, world):
    assert register(world.a, "US-IAD", ASHBURN, "US").status_code == 201
    user = world.users["op_a_admin"]
    register_chips(chip_rows("MOVE", 2), user)
    chips = [f"nvidia:MOVE{i:06d}" for i in range(2)]
    declared = world.a.post(
        "/api/v1/declarations/", {"facility": "US-IAD", "as_of": "2026-01-01T00:00:00Z", "chips": chips}
    )
    assert declared.status_code == 201, declared.content
    response = world.a.patch(
        "/api/v1/facilities/US-IAD/", {"country": "CA", "latitude": TORONTO[0], "longitude": TORONTO[1]}
    )
    assert response.status_code == 200, response.content
    event = LogEventData.objects.filter(event="facility.updated", object_id="US-IAD").get()
    assert event.countries == ["CA", "US"]
    for reader in ("insp_us", "insp_ca", "op_a_admin", "treaty"):
        assert readable(api, world.users[reader], event.index), reader
    for outsider in ("insp_fr", "op_b"):
        assert not readable(api, world.users[outsider], event.index), outsider
    # The chips are where the facility is now; the US inspectorate keeps a finding about the move.
    assert set(Chip.objects.filter(serial__startswith="MOVE").values_list("country", flat=True)) == {"CA"}
    moved = api(world.users["insp_us"]).get("/api/v1/findings/?kind=country_changed").json()["results"]
    assert [(f["facility"], f["country"], f["other_country"]) for f in moved] == [("US-IAD", "CA", "US")]
    assert api(world.users["insp_ca"]).get("/api/v1/findings/?kind=country_changed").json()["results"]


def test_an_unchanged_patch_logs_nothing(world):
    assert register(world.a, "US-IAD", ASHBURN, "US").status_code == 201
    leaves = LogLeaf.objects.count()
    assert world.a.patch("/api/v1/facilities/US-IAD/", {"country": "us", "name": "US-IAD"}).status_code == 200
    assert LogLeaf.objects.count() == leaves
