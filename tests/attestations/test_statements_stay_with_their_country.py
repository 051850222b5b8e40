"""Hostile review (facility edits): an operator's change of its facility's country took its statements away from
the inspectorate that relied on them.

Statements were read by their facility's country *now*. op-a's US-CA-001 lies in the US; its statements there are
the US inspectorate's to read (the evidence its findings and alerts name). op-a then edits the facility to Toronto
(country CA: its coordinates agree, so the edit is accepted with a `country_changed` finding): every statement it
ever filed there answered the US inspectorate 404. An inspectorate keeps reading the statements recorded while the
facility lay in its jurisdictions (the country is recorded with each statement), as it keeps the inspections it
recorded; the facility's country now still sees them all, as it sees the facility's inspections.
"""

from tests.attestations.conftest import World
from tests.factories import OrganisationFactory, UserFactory

TORONTO = (43.6532, -79.3832)


def test_the_inspectorate_keeps_reading_the_statements_of_its_time_after_the_facility_changes_country(api, parties):
    w = World(api, parties)
    r, _ = w.submit(w.op_a, w.location(["nvidia:A000000"], facility="US-CA-001"))
    assert r.status_code == 201, r.content
    before = r.json()["id"]
    ca = OrganisationFactory(code="insp-ca", kind="inspectorate", country="CA", jurisdictions=["CA"])
    insp_ca = api(UserFactory(organisation=ca, role="member"))
    insp_us = api(parties.users["insp_us"])
    insp_fr = api(parties.users["insp_fr"])
    assert insp_us.get(f"/api/v1/attestations/{before}/").status_code == 200
    moved = w.op_a.patch(
        "/api/v1/facilities/US-CA-001/", {"country": "CA", "latitude": TORONTO[0], "longitude": TORONTO[1]}
    )
    assert moved.status_code == 200, moved.content
    r, _ = w.submit(w.op_a, w.location(["nvidia:A000000"], facility="US-CA-001"))
    assert r.status_code == 201, r.content
    after = r.json()["id"]
    # The US keeps what was recorded in its territory (on the code before: 404), not what came after the move.
    assert insp_us.get(f"/api/v1/attestations/{before}/").status_code == 200
    assert insp_us.get(f"/api/v1/attestations/{after}/").status_code == 404
    listed = [a["id"] for a in insp_us.get("/api/v1/attestations/").json()["results"]]
    assert before in listed and after not in listed
    # The facility's country now reads its statements; a third country none.
    assert [insp_ca.get(f"/api/v1/attestations/{i}/").status_code for i in (before, after)] == [200, 200]
    assert [insp_fr.get(f"/api/v1/attestations/{i}/").status_code for i in (before, after)] == [404, 404]
