"""A burst of placement changes is one evaluation of what it touched, run by a real worker.

A fleet of node agents placing their chips commits one `placements.changed`
event per statement. The relay hands the compliance handler every event of a
drain as one task (the console's reconciliation snapshots likewise), so a
burst costs one recompute of each subject instead of one per event; and an operator-country subject (a scan of the operator's chips
in that country) is recomputed only when a placement moved chips across a
border.
"""

import base64
import json
from datetime import timedelta

import pytest
from django.db import transaction
from django.utils import timezone

from tests.factories import chip_rows
from tests.faults.support import wait_until

pytestmark = [pytest.mark.redis, pytest.mark.django_db(transaction=True)]

FACILITIES = 12
PER_FACILITY = 2


def _queued(redis, task):
    """The argument lists of `task`'s messages waiting on the evaluate queue (kombu's JSON over a Redis list)."""
    out = []
    for message in redis.lrange("evaluate", 0, -1):
        envelope = json.loads(message)
        if envelope["headers"]["task"] == task:
            args, _kwargs, _embed = json.loads(base64.b64decode(envelope["body"]))
            out.append(args)
    return out


def test_a_burst_of_placements_is_one_evaluation_of_what_it_touched(parties, broker, workers):
    from compliance.models import Aggregate
    from inventory.choices import PlacementSource
    from inventory.models import Facility
    from inventory.services.placements import place
    from outbox.models import OutboxEvent
    from outbox.relay import drain_all
    from registry.models import Chip
    from registry.registration import register_chips

    op = parties.users["op_a_admin"]
    register_chips(chip_rows("BURST", FACILITIES * PER_FACILITY), op)  # in op-a's country, US
    pks = list(Chip.objects.filter(serial__startswith="BURST").order_by("serial").values_list("pk", flat=True))
    countries = ["US"] * (FACILITIES - 1) + ["DE"]  # the last facility is across a border
    facilities = [
        Facility.objects.create(
            code=f"BURST-{i:02d}", name="b", operator=op.organisation, country=cc, latitude=40 + i, longitude=-80
        )
        for i, cc in enumerate(countries)
    ]
    # Only the burst below counts: what the set-up announced is taken as handled.
    redis = broker.client()
    redis.flushall()
    OutboxEvent.objects.update(dispatched_at=timezone.now())

    when = timezone.now() - timedelta(minutes=1)
    for i, facility in enumerate(facilities):
        with transaction.atomic():  # one statement each, as node agents send them
            chunk = pks[i * PER_FACILITY : (i + 1) * PER_FACILITY]
            place(((pk, None) for pk in chunk), facility, when, PlacementSource.ATTESTATION, f"burst-{i}")
    redis.flushall()  # the relay requests the commits queued; this test drains by hand
    # One event per placement commit, and the left_country finding of the chips a statement placed across
    # the border (no transfer named both countries): the inspectorate they left keeps a finding.
    assert drain_all() == FACILITIES + 1

    [batch] = [args for args in _queued(redis, "compliance.tasks.evaluate_events")]  # one task, not thirteen
    assert not _queued(redis, "compliance.tasks.evaluate_event")
    [everything] = batch
    assert [topic for _, topic, _ in everything] == ["placements.changed"] * (FACILITIES - 1) + [
        "findings.raised",  # committed with the last placement, announced before it
        "placements.changed",
    ]
    events = [event for event in everything if event[1] == "placements.changed"]
    op_pk = op.organisation.pk
    moves = [payload["operator_countries"] for _, _, payload in events]
    assert moves == [[]] * (FACILITIES - 1) + [[f"{op_pk}:DE", f"{op_pk}:US"]]
    [[console_events]] = _queued(redis, "console.tasks.reconciliation_events")  # the other subscriber, batched too
    assert [event_id for event_id, _, _ in console_events] == [event_id for event_id, _, _ in events]

    workers("evaluator")

    def evaluated():
        # The whole batch's work, the operator-country totals included (one task does both, in its order).
        rows = dict(Aggregate.objects.filter(scope="facility").values_list("subject_key", "chip_count"))
        countries = Aggregate.objects.filter(scope="operator_country", subject_key__in=[f"{op_pk}:DE", f"{op_pk}:US"])
        return rows == {str(f.pk): PER_FACILITY for f in facilities} and countries.count() == 2

    wait_until(evaluated, 30, "the facilities' and the operator-country totals")
    by_country = dict(Aggregate.objects.filter(scope="operator_country").values_list("subject_key", "chip_count"))
    assert by_country[f"{op_pk}:DE"] == PER_FACILITY
    assert by_country[f"{op_pk}:US"] == (FACILITIES - 1) * PER_FACILITY
