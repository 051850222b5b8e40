"""An operator moves its facility across a border and the inspectorate that inspected it loses its own record
(hostile review of facility inventories).

The US inspectorate inspected op-a's US-IAD and found a chip missing. op-a then moves the facility to Toronto
(country CA: its coordinates agree, the move is accepted with a `country_changed` finding). Inspections were
visible by their facility's country now, so the US inspectorate's own inspection (its inspectors, seals and notes,
the listing behind its `unaccounted` finding, which it still holds) answered it 404: the operator's PATCH took the
record out of the hands of the inspectorate that made it. The inspectorate that recorded an inspection reads it,
wherever the facility lies now.
"""

from registry.registration import register_chips
from tests.factories import chip_rows
from tests.inventory.test_geo import ASHBURN, TORONTO, register, world  # noqa: F401

CHIPS = [f"nvidia:MOVE{i:06d}" for i in range(2)]


def test_the_inspectorate_that_recorded_an_inspection_keeps_reading_it_after_the_facility_moves(api, world):  # noqa: F811
    assert register(world.a, "US-IAD", ASHBURN, "US").status_code == 201
    register_chips(chip_rows("MOVE", 2), world.users["op_a_admin"])
    declared = world.a.post(
        "/api/v1/declarations/", {"facility": "US-IAD", "as_of": "2026-01-01T00:00:00Z", "chips": CHIPS}
    )
    assert declared.status_code == 201, declared.content
    us = api(world.users["insp_us"])
    inspected = us.post(
        "/api/v1/inspections/",
        {"facility": "US-IAD", "performed_at": "2026-02-01T00:00:00Z", "observed": CHIPS[:1], "notes": "rack 4 empty"},
    )
    assert inspected.status_code == 201, inspected.content
    inspection = inspected.json()["id"]

    moved = world.a.patch(
        "/api/v1/facilities/US-IAD/", {"country": "CA", "latitude": TORONTO[0], "longitude": TORONTO[1]}
    )
    assert moved.status_code == 200, moved.content

    mine = us.get(f"/api/v1/inspections/{inspection}/")
    assert mine.status_code == 200, mine.content
    assert mine.json()["notes"] == "rack 4 empty"
    assert [i["id"] for i in us.get("/api/v1/inspections/").json()["results"]] == [inspection]
    # Its finding was its already (findings keep their country).
    assert [f["chip"] for f in us.get("/api/v1/findings/?kind=unaccounted").json()["results"]] == [CHIPS[1]]
    # Nobody else gains it: the French inspectorate and another operator still do not see it.
    for outsider in ("insp_fr", "op_b"):
        assert api(world.users[outsider]).get(f"/api/v1/inspections/{inspection}/").status_code == 404, outsider
