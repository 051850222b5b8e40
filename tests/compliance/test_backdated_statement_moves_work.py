"""Hostile review (backdating): a location statement dated back under the work already reported on its chips.

op-a's 20 H100s sit in c-east-1 at US-VA-001 from 20 days ago and work flat out 15 to 5 days ago, unattributed
(3.4e22 FLOP on the `higher` basis, past the 1e22 line of the unexplained-compute presets); op-a reports it, and
c-east-1's cluster alert is raised. A statement's `observed_at` has no lower bound (ATTESTATION.md 3.1: only
`issued_at` must be fresh), and a signed statement is never refused: op-a then signs a partial location statement
today, observed 16 days ago, naming the same chips in its cluster c-east-2 at the same facility. The books moved the
chips out of c-east-1 16 days ago, before the work, and the work left c-east-1's window with them (a
cluster's work is that of its chips' placements in force during the period, and the chips' last placement at the
facility begun before it ended): the alert's value fell after the fact. A declaration dated back the same way is
refused (`declared_before_listing` guards listings, `shipped_before_reported` shipments); a statement is not, so
the books kept the operator's backdated word over the work it had already reported.
"""

from datetime import timedelta

import pytest

from compliance.choices import Scope
from compliance.evaluation import compute_in_window, evaluate_all
from compliance.models import Alert, ThresholdRule
from inventory.models import Cluster, Declaration, Placement
from outbox.relay import drain_all
from protocol.times import parse_time
from tests.attestations.conftest import now
from tests.compliance.test_review_usage_attribution import (
    CHIPS,
    WORK_HIGHER,
    _declare,
    _report,
    iso,
    world,  # noqa: F401  (the fixture)
)
from transparency.models import LogLeaf


def test_a_statement_dated_back_under_reported_work_does_not_take_it_out_of_the_cluster(world):  # noqa: F811
    _declare(world, "US-VA-001", "c-east-1", days_ago=20)
    _report(world, "US-VA-001", start_days_ago=15, days=10)
    drain_all()
    evaluate_all()
    east = Cluster.objects.get(code="c-east-1")
    rule = ThresholdRule.objects.get(key="treaty-unexplained-compute-cluster")
    assert compute_in_window(rule, Scope.CLUSTER, str(east.pk), now()) == pytest.approx(WORK_HIGHER)
    alert = Alert.objects.get(rule=rule, scope=Scope.CLUSTER, subject_key=str(east.pk))
    # After the alert: half the chips "seen" in c-east-2 16 days ago, before the work (the other half too, the
    # same way, would only move the alert to c-east-2; halves under the line each is what the attack needs).
    half = CHIPS[:10]
    r, _ = world.submit(
        world.op_a,
        world.location([{"chip": c, "cluster": "c-east-2"} for c in half], observed=now() - timedelta(days=16)),
    )
    assert r.status_code == 201, r.content
    drain_all()
    evaluate_all()
    # The work stays in c-east-1: the books do not move the chips under work already reported on them.
    assert compute_in_window(rule, Scope.CLUSTER, str(east.pk), now()) == pytest.approx(WORK_HIGHER)
    alert.refresh_from_db()
    assert alert.cleared_at is None
    # The chips are in c-east-2 now, from after the work the operator reported on them at the facility.
    moved = Placement.objects.filter(chip__serial__in=[c.split(":")[1] for c in half], valid_to=None)
    assert {p.cluster.code for p in moved} == {"c-east-2"}
    assert min(p.valid_from for p in moved) >= now() - timedelta(days=5, minutes=5)


def test_a_declaration_dated_back_under_reported_work_is_refused(world):  # noqa: F811
    """The same move by a declaration (unsigned, refused like a shipment dated before the shipper's reports): on
    the code before this test, 201, `placed` 10, and c-east-1's window fell to half."""
    _declare(world, "US-VA-001", "c-east-1", days_ago=20)
    _report(world, "US-VA-001", start_days_ago=15, days=10)
    drain_all()
    evaluate_all()
    east = Cluster.objects.get(code="c-east-1")
    rule = ThresholdRule.objects.get(key="treaty-unexplained-compute-cluster")
    listing = [{"chip": c, "cluster": "c-east-2"} for c in CHIPS[:10]]
    listing += [{"chip": c, "cluster": "c-east-1"} for c in CHIPS[10:]]
    leaves, declarations = LogLeaf.objects.count(), Declaration.objects.count()
    r = world.op_a.post(
        "/api/v1/declarations/",
        {"facility": "US-VA-001", "as_of": iso(now() - timedelta(days=16)), "chips": listing},
        format="json",
    )
    assert (r.status_code, r.json().get("code")) == (409, "declared_before_reported"), r.content
    assert abs(parse_time(r.json()["latest"]) - (now() - timedelta(days=5))) < timedelta(minutes=5)
    assert LogLeaf.objects.count() == leaves and Declaration.objects.count() == declarations
    drain_all()
    evaluate_all()
    assert compute_in_window(rule, Scope.CLUSTER, str(east.pk), now()) == pytest.approx(WORK_HIGHER)
    # Dated after the work, it moves them.
    r = world.op_a.post(
        "/api/v1/declarations/",
        {"facility": "US-VA-001", "as_of": iso(now() - timedelta(days=4)), "chips": listing},
        format="json",
    )
    assert r.status_code == 201 and r.json()["placed"] == 10, r.content
    assert compute_in_window(rule, Scope.CLUSTER, str(east.pk), now()) == pytest.approx(WORK_HIGHER)


def _seen_in_east_one(world, days_ago):  # noqa: F811  (the fixture, passed on)
    r, _ = world.submit(
        world.op_a,
        world.location(
            [{"chip": c, "cluster": "c-east-1"} for c in CHIPS[:10]], observed=now() - timedelta(days=days_ago)
        ),
    )
    assert r.status_code == 201, r.content


def test_a_statement_dated_back_before_its_speakers_later_sighting_moves_the_chips_after_it(world):  # noqa: F811
    """The same move dated back before op-a's own later sighting of the chips in c-east-1 (no work reported): on
    the code before this test, the books had the chips in c-east-2 from 10 days ago, against op-a's signed word
    that they were in c-east-1 3 days ago (a later inspection or listing reconciled against the wrong cluster)."""
    _declare(world, "US-VA-001", "c-east-1", days_ago=20)
    _seen_in_east_one(world, days_ago=3)
    r, _ = world.submit(
        world.op_a,
        world.location([{"chip": c, "cluster": "c-east-2"} for c in CHIPS[:10]], observed=now() - timedelta(days=10)),
    )
    assert r.status_code == 201, r.content
    serials = [c.split(":")[1] for c in CHIPS[:10]]
    moved = Placement.objects.filter(chip__serial__in=serials, valid_to=None)
    assert {p.cluster.code for p in moved} == {"c-east-2"}
    assert abs(min(p.valid_from for p in moved) - (now() - timedelta(days=3))) < timedelta(minutes=5)
    closed = Placement.objects.filter(chip__serial__in=serials, cluster__code="c-east-1")
    assert abs(max(p.valid_to for p in closed) - (now() - timedelta(days=3))) < timedelta(minutes=5)
    # The statement's own sightings keep its observed_at.
    assert r.json()["chips"] == 10


def test_a_declaration_dated_back_before_its_operators_later_sighting_is_refused(world):  # noqa: F811
    _declare(world, "US-VA-001", "c-east-1", days_ago=20)
    _seen_in_east_one(world, days_ago=3)
    leaves, declarations = LogLeaf.objects.count(), Declaration.objects.count()
    listing = [{"chip": c, "cluster": "c-east-2"} for c in CHIPS[:10]]
    r = world.op_a.post(
        "/api/v1/declarations/",
        {"facility": "US-VA-001", "as_of": iso(now() - timedelta(days=10)), "chips": listing},
        format="json",
    )
    assert (r.status_code, r.json().get("code")) == (409, "declared_before_reported"), r.content
    assert abs(parse_time(r.json()["latest"]) - (now() - timedelta(days=3))) < timedelta(minutes=5)
    assert LogLeaf.objects.count() == leaves and Declaration.objects.count() == declarations
    r = world.op_a.post(
        "/api/v1/declarations/",
        {"facility": "US-VA-001", "as_of": iso(now() - timedelta(days=2)), "chips": listing},
        format="json",
    )
    assert r.status_code == 201 and r.json()["placed"] == 10, r.content


def test_a_declaration_reads_the_reports_of_the_chips_it_moves_only(world, monkeypatch):  # noqa: F811
    """(Review r4.) A declaration dated back re-lists chips where they already are (a big operator's periodic
    listing: a million chips, each seen by its node agent every few minutes since). Their own operator's
    sightings at their facility are every sighting since: read for every chip listed, under the log's lock, before
    the chips that do not move were set aside. Only the chips that would leave an open placement are read."""
    from attestations import shipments
    from registry.models import Chip

    _declare(world, "US-VA-001", "c-east-1", days_ago=20)
    _seen_in_east_one(world, days_ago=3)  # CHIPS[:10], where they stay
    asked = []
    real = shipments.reported_after

    def spy(operator_id, chip_pks, when):
        asked.extend(chip_pks)
        return real(operator_id, chip_pks, when)

    monkeypatch.setattr(shipments, "reported_after", spy)
    listing = [{"chip": c, "cluster": "c-east-1"} for c in CHIPS[:10]]
    listing += [{"chip": c, "cluster": "c-east-2"} for c in CHIPS[10:]]
    r = world.op_a.post(
        "/api/v1/declarations/",
        {"facility": "US-VA-001", "as_of": iso(now() - timedelta(days=10)), "chips": listing},
        format="json",
    )
    assert r.status_code == 201 and r.json()["placed"] == 10, r.content
    moving = set(Chip.objects.filter(serial__in=[c.split(":")[1] for c in CHIPS[10:]]).values_list("pk", flat=True))
    assert set(asked) == moving


def _rows_read(plan, table):
    """The rows a plan's scans of `table` (its monthly partitions) returned, over all their loops (EXPLAIN
    ANALYZE, JSON)."""
    scans = str(plan.get("Relation Name", "")).startswith(table)
    own = plan.get("Actual Rows", 0) * plan.get("Actual Loops", 1) if scans else 0
    return own + sum(_rows_read(child, table) for child in plan.get("Plans", []))


def _seen_every_minute(world):  # noqa: F811  (the fixture, passed on)
    """op-a's chips, placed 400 days ago, seen 3 days ago and 2,000 times more a minute apart before that: the
    sighting table and the chips' pks."""
    from django.db import connection

    from attestations.models import Attestation, Sighting

    _declare(world, "US-VA-001", "c-east-1", days_ago=400)
    _seen_in_east_one(world, days_ago=3)
    att = Attestation.objects.filter(kind="location").latest("pk")
    seen = Sighting.objects.filter(attestation=att)
    pks = list(seen.values_list("chip_id", flat=True))
    table = Sighting._meta.db_table
    with connection.cursor() as cursor:  # 2,000 more sightings of each chip there, a minute apart
        cursor.execute(
            f"INSERT INTO {table} (id, attestation_id, chip_id, chip_ref, cluster_code, facility_id, observed_at)"
            f" SELECT nextval(pg_get_serial_sequence('{table}', 'id')), %s, chip, 'x', '', %s,"
            " now() - interval '3 days' - g * interval '1 minute'"
            " FROM unnest(%s::bigint[]) chip, generate_series(1, 2000) g",
            [att.pk, seen.first().facility_id, pks],
        )
        cursor.execute(f"ANALYZE {table}")
    return table, pks, att.operator


def _sightings_read(queries, table):
    import json

    from django.db import connection

    read = 0
    with connection.cursor() as cursor:
        for query in queries.captured_queries:
            if table in query["sql"]:
                cursor.execute("EXPLAIN (ANALYZE, FORMAT JSON) " + query["sql"])
                plan = cursor.fetchone()[0]
                read += _rows_read((json.loads(plan) if isinstance(plan, str) else plan)[0]["Plan"], table)
    return read


def _worked_every_hour(world):  # noqa: F811  (the fixture, passed on)
    """op-a's chips, placed 400 days ago, reported working for the hour ending 3 days ago and 2,000 hours more
    before that (each record a copy of the first, an hour earlier): the usage table and the chips' pks."""
    from django.db import connection

    from attestations.models import Attestation, UsageRecord

    _declare(world, "US-VA-001", "c-east-1", days_ago=400)
    start = now() - timedelta(days=3, hours=1)
    rows = [{"chip": c, "active_s": 3600, "utilization": 1.0, "energy_j": 3600 * 500} for c in CHIPS[:10]]
    r, _ = world.submit(world.op_a, world.usage(rows, start, start + timedelta(hours=1)))
    assert r.status_code == 201, r.content
    att = Attestation.objects.get(pk=r.json()["id"])
    pks = list(UsageRecord.objects.filter(attestation=att).values_list("chip_id", flat=True))
    table = UsageRecord._meta.db_table
    columns = [
        f.column for f in UsageRecord._meta.concrete_fields if f.column not in ("id", "period_start", "period_end")
    ]
    listed = ", ".join(columns)
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} (id, period_start, period_end, {listed})"
            f" SELECT nextval(pg_get_serial_sequence('{table}', 'id')), u.period_start - g * interval '1 hour',"
            f" u.period_end - g * interval '1 hour', {', '.join(f'u.{c}' for c in columns)}"
            f" FROM {table} u, generate_series(1, 2000) g WHERE u.attestation_id = %s",
            [att.pk],
        )
        cursor.execute(f"ANALYZE {table}")
    return table, pks, att.operator


# What a chip leaving has behind it: its speaker's sightings there a minute apart (review r4), or its work reported
# every hour (session 20); and the time each read gives: the latest sighting, the latest end or start of work.
BACKLOGS = {
    "sightings": (lambda w: _seen_every_minute(w), timedelta(days=3), timedelta(days=3)),
    "work": (lambda w: _worked_every_hour(w), timedelta(days=3), timedelta(days=3, hours=1)),
}


@pytest.mark.parametrize("backlog", list(BACKLOGS))
def test_a_statement_dated_back_reads_the_latest_report_of_each_chip_not_all_of_them(world, backlog):  # noqa: F811
    """A statement dated a year back moves chips seen every few minutes, or reported working every hour, since
    where the books have them: reported_after aggregated every such report (a hundred thousand sightings a chip a
    year, 8,760 usage records) under the log's lock (ten thousand chips a chunk: minutes, every writer of the log
    waiting). The latest one of each chip is all the move needs: a few rows a chip are read (the first of each
    monthly partition its reports lie in), not its 2,000."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from attestations.shipments import reported_after

    build, ago, _ = BACKLOGS[backlog]
    table, pks, operator = build(world)
    with CaptureQueriesContext(connection) as queries:
        at = reported_after(operator.pk, pks, now() - timedelta(days=365))
    assert set(at) == set(pks) and all(abs(t - (now() - ago)) < timedelta(minutes=5) for t in at.values())
    read = _sightings_read(queries, table)
    assert 0 < read <= 50 * len(pks), read


@pytest.mark.parametrize("backlog", list(BACKLOGS))
def test_a_shipment_dated_back_reads_the_latest_report_of_each_chip_not_all_of_them(world, backlog):  # noqa: F811
    """The shipment's check (shipped_before_reported) read every sighting and usage record since its date the same
    way; it names the latest sighting or the latest start of work."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from attestations.shipments import refuse_shipment_before_reports
    from core.errors import Conflict

    build, _, ago = BACKLOGS[backlog]
    table, pks, operator = build(world)
    with CaptureQueriesContext(connection) as queries, pytest.raises(Conflict) as refused:
        refuse_shipment_before_reports(pks, operator, now() - timedelta(days=365))
    assert refused.value.code == "shipped_before_reported" and f"{len(pks)} chip(s)" in refused.value.detail
    latest = parse_time(refused.value.extra["latest"])
    assert abs(latest - (now() - ago)) < timedelta(minutes=5), latest
    read = _sightings_read(queries, table)
    assert 0 < read <= 50 * len(pks), read
