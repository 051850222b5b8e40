"""A later holder's location statement about a time before it received the chips is a finding (session 20).

op-a's 20 H100s were shipped to op-c 4 days ago and received by op-c 3 days ago (test_review_later_holder's
world). op-c's statement that they were at its US-NY-001 10 days ago is never refused, and its placements were
already safe (the receipt's placement is newer, so the chips stay placed from the receipt), but it raised
nothing: the sightings stood in the record, dated in op-a's time, with no word to anyone that op-c did not hold
the chips then. As for work reported before the receipt (test_worked_before_custody): an `unexpected` finding per
chip, read by op-c, its facility's inspectorate and the treaty body, and naming nothing of op-a.
"""

from datetime import timedelta

from inventory.models import AnyFinding, Placement
from tests.attestations.conftest import now
from tests.compliance.test_review_later_holder import (
    CHIPS,
    world,  # noqa: F401  (the fixture)
)
from tests.compliance.test_worked_before_custody import _before_custody, assert_custody_findings


def _op_c_says(world, chips, observed, scope="partial"):  # noqa: F811
    r, _ = world.submit(
        world.op_c,
        world.location(chips, facility="US-NY-001", operator="op-c", scope=scope, observed=observed),
        world.key_c,
    )
    assert r.status_code == 201, r.content
    return r.json()["id"]


def test_chips_listed_at_a_time_before_the_speaker_received_them_are_a_finding(world, api, parties):  # noqa: F811
    opened = dict(
        Placement.objects.filter(chip__serial__startswith="RVL", valid_to=None).values_list("pk", "valid_from")
    )
    assert_custody_findings(_op_c_says(world, CHIPS, now() - timedelta(days=10)), api, parties)
    # The books still place them from the receipt.
    assert dict(Placement.objects.filter(pk__in=opened, valid_to=None).values_list("pk", "valid_from")) == opened


def test_a_complete_statement_so_dated_flags_each_chip_once(world):  # noqa: F811
    """A complete statement is a declaration at `observed_at`: its reconciliation already finds each chip listed
    where the books did not have it then (one `unexpected` finding per chip and statement), saying nothing of
    whose books did."""
    found = AnyFinding.objects.filter(
        kind="unexpected", source_id=str(_op_c_says(world, CHIPS, now() - timedelta(days=10), "complete"))
    )
    assert sorted(f.chip_ref for f in found) == sorted(CHIPS)
    assert all("op-a" not in f.detail and "US-VA-001" not in f.detail for f in found)


def test_a_node_agents_few_chips_so_dated_are_too(world):  # noqa: F811
    assert [f.chip_ref for f in _before_custody(_op_c_says(world, CHIPS[:1], now() - timedelta(days=5)))] == CHIPS[:1]


def test_chips_listed_after_the_receipt_are_not(world):  # noqa: F811
    # Received 3 days ago (ship_and_receive): seen 2 days ago, or a minute ago, is op-c's own time; two minutes
    # before the receipt is within the clocks' allowed skew of it (5 minutes).
    received = now() - timedelta(days=3)
    for observed in (now() - timedelta(days=2), now() - timedelta(minutes=1), received - timedelta(minutes=2)):
        assert not _before_custody(_op_c_says(world, CHIPS[:4], observed)).exists(), observed


def test_the_former_holders_own_statement_of_its_time_is_not(world):  # noqa: F811
    """op-a, which held them then, stating where they were 10 days ago: the chips are op-c's now (so its statement
    raises other_operator for them), but it did not list them before its own custody."""
    r, _ = world.submit(world.op_a, world.location(CHIPS[:3], observed=now() - timedelta(days=10)))
    assert r.status_code == 201, r.content
    assert not _before_custody(r.json()["id"]).exists()


def test_a_speaker_with_no_receipt_since_reads_no_chip_history(world):  # noqa: F811
    """Custody changes only by a receipt: op-c received nothing since 2 days ago, so its statement of its chips
    dated then reads their history not at all (a 100,000-chip statement would send every chip's id to read
    nothing)."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from registry.models import ChipEvent

    with CaptureQueriesContext(connection) as queries:
        _op_c_says(world, CHIPS, now() - timedelta(days=2))
    assert not [q["sql"] for q in queries.captured_queries if ChipEvent._meta.db_table in q["sql"]]
