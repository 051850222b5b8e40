"""Hostile review of the read side of signed statements: a later holder's flags about a former holder's time.

The world: op-a (US) runs US-CA-001 (in California; it names it to nobody) and US-VA-001. Five H100s of op-a
were declared at US-CA-001 20 days ago; op-a reported a day of work on them at US-CA-001, 15 to 14 days ago.
op-a ships them, naming no origin facility, to op-c (US, a rival) 4 days ago; op-c receives them at its
US-NY-001 (New York) 3 days ago.

A statement's `observed_at` and a usage statement's period may lie anywhere in the past, and the holder's
statement is judged against what the registry holds of the chip at that time: what op-c reads in its answer
(the 201 `flags`, and the findings filed under it) must be computed from its own data (README: "What an answer
reveals is computed from the asker's own data"). op-a's placements and usage records are op-a's books.
"""

from datetime import timedelta

import pytest
from cryptography.hazmat.primitives.asymmetric import ed25519

from registry.registration import register_chips
from tests.attestations.conftest import World, now
from tests.compliance.test_work_stays_where_done import ship_and_receive
from tests.factories import OrganisationFactory, UserFactory, chip_rows

DAY = 86400
H100_W = 700
CHIPS = [f"nvidia:FMR{i:06d}" for i in range(5)]


def iso(dt):
    return dt.isoformat().replace("+00:00", "Z")


@pytest.fixture
def world(api, parties):
    w = World(api, parties)
    op_c = OrganisationFactory(code="op-c", kind="operator", country="US")
    parties.users["op_c"] = UserFactory(organisation=op_c, role="admin")
    w.op_c = api(parties.users["op_c"])
    w.key_c = ed25519.Ed25519PrivateKey.generate()
    w.register(w.op_c, w.key_c)
    r = w.op_c.post(
        "/api/v1/facilities/",
        {"code": "US-NY-001", "name": "US-NY-001", "country": "US", "latitude": 40.71, "longitude": -74.0},
    )
    assert r.status_code == 201, r.content
    register_chips(chip_rows("FMR", len(CHIPS)), parties.users["op_a_admin"])
    w.declared_at = now() - timedelta(days=20)
    r = w.op_a.post(
        "/api/v1/declarations/",
        {"facility": "US-CA-001", "as_of": iso(w.declared_at), "chips": CHIPS},
        format="json",
    )
    assert r.status_code == 201, r.content
    # op-a's own day of work on its chips, reported while it holds them: bound to the chips.
    start = now() - timedelta(days=15)
    rows = [{"chip": c, "active_s": DAY, "utilization": 1.0, "energy_j": H100_W * DAY} for c in CHIPS]
    r, _ = w.submit(w.op_a, w.usage(rows, start, start + timedelta(days=1), facility="US-CA-001"))
    assert r.status_code == 201, r.content
    ship_and_receive(w, CHIPS)
    return w


def _usage_hour(world, chip, start):
    rows = [{"chip": chip, "active_s": 3600, "utilization": 1.0, "energy_j": H100_W * 3600}]
    statement = world.usage(rows, start, start + timedelta(hours=1), facility="US-NY-001", operator="op-c")
    r, _ = world.submit(world.op_c, statement, world.key_c)
    assert r.status_code == 201, r.content
    return r.json()["flags"]


def _kinds(world, chip):
    return sorted(f["kind"] for f in world.op_c.get("/api/v1/findings/", {"chip": chip}).json()["results"])


def test_a_later_holder_does_not_read_the_former_holders_usage_out_of_its_flags(world):
    """op-c files an hour of work on one chip in the day op-a worked it, and an hour on another in a day op-a
    did not: a different answer would tell op-c when op-a worked its chips (stepping the hour: every report
    op-a filed on them) and, stepping active_s against `implausible_usage`, how long."""
    during = _usage_hour(world, CHIPS[0], now() - timedelta(days=14, hours=12))
    outside = _usage_hour(world, CHIPS[1], now() - timedelta(days=12))
    assert during == outside, (during, outside)
    assert _kinds(world, CHIPS[0]) == _kinds(world, CHIPS[1])


def _location_at(world, chip, observed):
    statement = world.location([chip], facility="US-NY-001", operator="op-c", observed=observed)
    r, _ = world.submit(world.op_c, statement, world.key_c)
    assert r.status_code == 201, r.content
    return r.json()["flags"]


def test_a_later_holder_does_not_read_the_former_holders_site_out_of_its_movement_flags(world):
    """op-c files sightings of its chips at US-NY-001 dated a few hours after op-a put them on its books at
    US-CA-001 (4,100 km away). Were op-a's placement judged, `impossible_travel` would hold up to about four
    hours after it, at 1,000 km/h, and no later: the hour at which it stops is the distance from US-NY-001 to
    op-a's site, and from two or three sites of its own op-c would place it on the map (and read when op-a
    declared the chips)."""
    near = _location_at(world, CHIPS[2], world.declared_at + timedelta(hours=2))
    far = _location_at(world, CHIPS[3], world.declared_at + timedelta(hours=10))
    at_once = _location_at(world, CHIPS[4], world.declared_at + timedelta(seconds=30))
    assert near == far == at_once, (near, far, at_once)
    assert _kinds(world, CHIPS[2]) == _kinds(world, CHIPS[3]) == _kinds(world, CHIPS[4])
