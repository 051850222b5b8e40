"""A Celery worker killed (SIGKILL) in the middle of an evaluation: the task comes back and ends as if never killed.

One evaluation message covers three facilities (three facility alerts and
an operator-country alert to raise). The worker runs it with a test-only
pause after the first batch of alerts is committed (tests/faults/worker_app.py), and
is killed there, with some of the work committed and the rest not:

- `pool-process`: the process running the task is killed; the worker's main
  process sees it lost and, tasks acknowledging late with
  reject_on_worker_lost, puts the message back at once;
- `whole-worker`: the worker and its pool are killed together (a machine
  dies); the unacknowledged message stays in Redis and a new worker gets it
  when the visibility timeout runs out (shortened for the test).

Either way the same message runs again to completion, once, and the stored
aggregates and alerts equal those of a control evaluation of the same data
without a kill; each alert is delivered to the webhook exactly once.
"""

import json
import os
import signal
import time
from collections import Counter

import pytest
from django.db import transaction
from django.utils import timezone

from tests.faults.scenario import World
from tests.faults.support import wait_until

pytestmark = [pytest.mark.redis, pytest.mark.django_db(transaction=True)]

VISIBILITY_TIMEOUT_S = 4


def snapshot():
    from compliance.models import Aggregate, Alert

    aggregates = sorted(
        (a.scope, a.subject_key, a.label, a.country, a.operator_id, a.chip_count, round(a.tpp, 6),
         round(a.h100e, 6), round(a.memory_gb, 6), json.dumps(a.ops, sort_keys=True))
        for a in Aggregate.objects.all()
    )  # fmt: skip
    alerts = []
    for a in Alert.objects.prefetch_related("evidence", "transitions"):
        [evidence] = a.evidence.all()
        alerts.append(
            (a.kind, a.group, a.scope, a.subject_key, a.subject_label, a.severity, a.state, a.value, a.threshold,
             a.title, a.reopened, a.cleared_at is None, a.log_index is not None, len(a.transitions.all()),
             evidence.chip_count, evidence.chips_sha256, evidence.chips)
        )  # fmt: skip
    return {"aggregates": aggregates, "alerts": sorted(alerts)}


@pytest.mark.parametrize("kill", ["pool-process", "whole-worker"])
def test_worker_killed_mid_evaluation_redelivers_and_ends_like_a_clean_run(
    kill, parties, api, catalog, broker, workers, receivers, fault_dir
):
    from compliance.models import Alert, Delivery, DeliveryState
    from compliance.tasks import evaluate_event
    from outbox.models import OutboxEvent

    world = World(api, parties, f"KILL{kill[:2].upper()}")
    world.rule("faults-facility-count", "facility", 2)
    world.rule("faults-operator-country-count", "operator_country", 3)
    receiver = receivers()
    world.subscribe(receiver)
    chips = world.chips
    for facility, refs in (("F-IAD", chips[0:2]), ("F-SJC", chips[2:5]), ("F-JFK", chips[5:7])):
        response = world.op.post("/api/v1/attestations/", world.location(facility, refs))
        assert response.status_code == 201, response.content
    # Only the one message below may evaluate: drop what the setup queued, and its outbox events.
    broker.client().flushall()
    OutboxEvent.objects.update(dispatched_at=timezone.now())
    payload = {"facilities": sorted(f.pk for f in world.facilities.values())}

    marker = fault_dir / "paused-after-first-alert"
    knobs = {"CHIPREG_FAULT_VISIBILITY_TIMEOUT_S": VISIBILITY_TIMEOUT_S}
    doomed = workers("doomed", wait=False, CHIPREG_FAULT_PAUSE_ONCE=marker, **knobs)  # starts while the control runs

    # Control: the same evaluation in this process, rolled back.
    with transaction.atomic():
        evaluate_event(0, "placements.changed", payload)
        control = snapshot()
        transaction.set_rollback(True)
    assert len(control["alerts"]) == 4 and not Alert.objects.exists()

    doomed.wait_ready()
    task_id = evaluate_event.delay(0, "placements.changed", payload).id

    wait_until(lambda: marker.exists() and marker.read_text(), 30, "the evaluation to pause after its first alert")
    # In the middle: one scope's batch of alerts committed, the other scope's still to come.
    middle = Alert.objects.count()
    assert 0 < middle < len(control["alerts"])
    if kill == "pool-process":
        [pool_process] = doomed.pool_children()
        assert int(marker.read_text()) == pool_process
        os.kill(pool_process, signal.SIGKILL)
        finishers = [doomed]
    else:
        doomed.kill_tree()
        assert Alert.objects.count() == middle
        finishers = [workers("successor", **knobs)]

    def settled():
        alerts = Alert.objects.count()
        delivered = Delivery.objects.filter(state=DeliveryState.DELIVERED).count()
        return alerts == len(control["alerts"]) and delivered == alerts == len(receiver.processed)

    wait_until(settled, 45, "the redelivered evaluation to finish and its alerts to be delivered", interval=0.2)
    time.sleep(1.0)  # a duplicate run or send would show now

    assert snapshot() == control
    logs = doomed.text() + "".join(w.text() for w in finishers if w is not doomed)
    assert logs.count(f"compliance.tasks.evaluate_event[{task_id}] received") == 2, logs[-4000:]
    assert logs.count(f"compliance.tasks.evaluate_event[{task_id}] succeeded") == 1, logs[-4000:]
    if kill == "pool-process":
        assert "WorkerLostError" in doomed.text()

    deliveries = list(Delivery.objects.all())
    assert sorted(d.alert_id for d in deliveries) == sorted(Alert.objects.values_list("pk", flat=True))
    assert receiver.errors == []
    assert Counter(receiver.ids_requested()) == Counter({d.webhook_id: 1 for d in deliveries})
