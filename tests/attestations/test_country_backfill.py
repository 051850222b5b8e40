"""Migration attestations 0015: statements stored before 0014 recorded no country; each gets the country its
facility lay in when it was received, read from the facility's `country_changed` findings (the country before
each change), so a move made before the upgrade no longer keeps them from the inspectorate they were filed in.
"""

import importlib

from django.apps import apps

from attestations.models import Attestation
from inventory.models import Facility
from tests.attestations.conftest import World
from tests.factories import OrganisationFactory, UserFactory

TORONTO = (43.6532, -79.3832)
backfill = importlib.import_module("attestations.migrations.0015_attestation_country_backfill").backfill


def test_statements_stored_before_0014_get_the_country_their_facility_lay_in_when_received(api, parties):
    w = World(api, parties)
    home = Facility.objects.get(code="US-CA-001")
    where = {"latitude": home.latitude, "longitude": home.longitude}

    def filed():
        r, _ = w.submit(w.op_a, w.location(["nvidia:A000000"], facility="US-CA-001"))
        assert r.status_code == 201, r.content
        return r.json()["id"]

    def move(country, latitude, longitude):
        r = w.op_a.patch(
            "/api/v1/facilities/US-CA-001/", {"country": country, "latitude": latitude, "longitude": longitude}
        )
        assert r.status_code == 200, r.content

    first = filed()
    move("CA", *TORONTO)
    second = filed()
    move("US", where["latitude"], where["longitude"])
    third = filed()
    elsewhere = w.submit(w.op_a, w.location(["nvidia:A000001"], facility="US-VA-001"))[0].json()["id"]
    # As stored before 0014: no country recorded.
    Attestation.objects.update(country="")
    ca = OrganisationFactory(code="insp-ca", kind="inspectorate", country="CA", jurisdictions=["CA"])
    insp_ca = api(UserFactory(organisation=ca, role="member"))
    assert insp_ca.get(f"/api/v1/attestations/{second}/").status_code == 404

    backfill(apps, None)

    recorded = dict(Attestation.objects.values_list("pk", "country"))
    assert [recorded[i] for i in (first, second, third, elsewhere)] == ["US", "CA", "US", "US"]
    # The inspectorate of the country the statement was received in reads it again; no other one does.
    assert [insp_ca.get(f"/api/v1/attestations/{i}/").status_code for i in (first, second, third)] == [404, 200, 404]
    insp_fr = api(parties.users["insp_fr"])
    assert insp_fr.get(f"/api/v1/attestations/{second}/").status_code == 404


def test_the_backfill_leaves_a_recorded_country_as_it_is(api, parties):
    w = World(api, parties)
    r, _ = w.submit(w.op_a, w.location(["nvidia:A000000"], facility="US-CA-001"))
    assert r.status_code == 201, r.content
    Attestation.objects.filter(pk=r.json()["id"]).update(country="MX")  # whatever 0014's path recorded
    backfill(apps, None)
    assert Attestation.objects.get(pk=r.json()["id"]).country == "MX"
