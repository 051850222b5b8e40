"""A statement (and a declaration, an inspection) resolves its chips before it takes the log's lock; what it says
about them is judged as they are under the lock. A receipt or a loss report logged in between (here: run inside the statement's transaction just
before its append, as if committed in that window) changes whose the chips are and whether they are lost: the
statement's findings, placements and last verification must follow the log, not the earlier read."""

from datetime import timedelta

import pytest

from attestations import store
from attestations.kinds import location
from inventory.models import AnyFinding, Facility, Placement, Transfer
from inventory.services.transfers import receive
from registry.models import Chip
from registry.services import change_chip
from tests.attestations.conftest import now
from tests.factories import approved_export

SHIPPED, LOST, MINE = "nvidia:A000001", "nvidia:A000002", "nvidia:A000000"


def _ship_to_op_b(world):
    user = world.p.users["op_a_admin"]
    body = {
        "receiver": "op-b",
        "destination_facility": "DE-FRA-001",
        "shipped_at": (now() - timedelta(hours=2)).isoformat(),
        "chips": [SHIPPED],
        "export_authorisation": approved_export(user, "op-b", [SHIPPED], destination_facility="DE-FRA-001"),
    }
    response = world.op_a.post("/api/v1/transfers/", body)
    assert response.status_code == 201, response.content
    return Transfer.objects.get(pk=response.json()["id"])


def _in_the_window(world, monkeypatch, transfer, received_at):
    """Just before the statement's append: op-b confirms the shipment, op-a reports a chip lost."""
    append = store.append_leaf
    done = []

    def interleaved(leaf, kind):
        if not done:
            done.append(True)
            receive(
                world.p.users["op_b"],
                transfer,
                [(1, SHIPPED, None)],
                received_at,
                facility=Facility.objects.get(code="DE-FRA-001"),
            )
            chip = Chip.objects.get(serial=LOST.split(":")[1])
            change_chip(chip, world.p.users["op_a_admin"], status="lost", reason="gone from the rack")
        return append(leaf, kind)

    monkeypatch.setattr(store, "append_leaf", interleaved)
    return done


@pytest.mark.parametrize(
    ("scope", "inline_max"),
    [("partial", None), ("partial", 2), ("complete", None)],
    ids=["node-agent", "big", "small-complete"],
)
def test_findings_follow_the_chips_as_they_are_under_the_lock(world, monkeypatch, scope, inline_max):
    if inline_max is not None:
        monkeypatch.setattr(location, "FOLD_INLINE_MAX", inline_max)  # three chips take the big statement's path
    transfer = _ship_to_op_b(world)
    received_at = now() - timedelta(minutes=90)
    done = _in_the_window(world, monkeypatch, transfer, received_at)

    response, _ = world.submit(world.op_a, world.location([MINE, SHIPPED, LOST], scope=scope))

    assert response.status_code == 201, response.content
    assert done  # the receipt and the loss report were logged between the resolution and the append
    shipped = Chip.objects.get(serial="A000001")
    assert shipped.custodian == world.p.op_b
    # The chip op-b holds now is another operator's, to op-a's statement: said as such, and not op-a's to vouch for.
    assert response.json()["flags"].get("other_operator") == 1
    other = AnyFinding.objects.get(kind="other_operator", chip_ref=SHIPPED)
    assert other.source_id == str(response.json()["id"])
    assert shipped.last_verified_at == received_at  # its receipt's, not op-a's sighting's
    # The chip reported lost under the lock, after its holder's statement saw it (observed_at): the holder's word
    # of the chip before its report is no sighting of it (tests/inventory/test_lost_chip_seen_before_its_report.py),
    # and, lost under the lock, it is not placed (below).
    assert Chip.objects.get(serial="A000002").status == "lost"
    assert not AnyFinding.objects.filter(kind="lost_chip_sighted", chip_ref=LOST).exists()
    # Neither is placed in op-a's facility by it; op-a's own chip is.
    open_at = dict(Placement.objects.filter(valid_to__isnull=True).values_list("chip__serial", "facility__code"))
    assert open_at.get("A000000") == "US-VA-001"
    assert open_at.get("A000001") == "DE-FRA-001" and "A000002" not in open_at


def test_a_node_agents_statement_asks_in_its_second_round_trip(world):
    """The question costs a node agent's statement no round trip of its own: it rides in the one after the
    append (ingest.after_append, on psycopg's own cursor, which Django does not see; the test above shows it is
    asked), and the chips are read again only when it names some: Django's cursor runs none of it."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    assert world.submit(world.op_a, world.location([MINE]))[0].status_code == 201
    with CaptureQueriesContext(connection) as queries:
        response, _ = world.submit(world.op_a, world.location([MINE, SHIPPED]))
    assert response.status_code == 201 and response.json()["flags"] == {}
    asking = [q["sql"] for q in queries.captured_queries if "registry_chipevent" in q["sql"]]
    assert asking == [] and queries.captured_queries  # (Django's cursor did run the statement's other queries)
    assert not [q for q in queries.captured_queries if "custodian_id, status, country FROM registry_chip" in q["sql"]]


@pytest.mark.parametrize("listing", ["declaration", "inspection"])
def test_a_listing_judges_its_chips_as_they_are_under_the_lock(world, api, monkeypatch, listing):
    """A declaration or an inspection resolves its listed chips before it appends its event, too: a chip
    reported lost in between and listed is a lost chip seen again (critical), not an ordinary one."""
    from inventory.services import listings

    when = now() - timedelta(minutes=30)
    append = listings.append_event
    done = []

    def interleaved(*args, **kwargs):
        if not done:
            done.append(True)
            chip = Chip.objects.get(serial=LOST.split(":")[1])
            change_chip(chip, world.p.users["op_a_admin"], status="lost", reason="gone from the rack")
        return append(*args, **kwargs)

    monkeypatch.setattr(listings, "append_event", interleaved)
    if listing == "declaration":
        client, path, field = world.op_a, "/api/v1/declarations/", "as_of"
        body = {"chips": [MINE, LOST]}
    else:
        client, path, field = api(world.p.users["insp_us"]), "/api/v1/inspections/", "performed_at"
        body = {"observed": [MINE, LOST]}
    response = client.post(path, {"facility": "US-VA-001", field: when.isoformat(), **body})

    assert response.status_code == 201, response.content
    assert done
    sighted = AnyFinding.objects.filter(kind="lost_chip_sighted", chip_ref=LOST, source=listing)
    assert sighted.exists() and {f.organisation_id for f in sighted} == {world.p.op_a.pk}
