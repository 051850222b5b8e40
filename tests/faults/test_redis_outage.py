"""Redis stopped during ingest: statements are still accepted, nothing is lost, every alert is delivered once.

The test process plays a web process of a real deployment (eager off; broker,
result-less Celery and the rate-limit cache on a private Redis). Redis is
stopped, signed statements that cross thresholds are posted, and each is
answered 201 at once while the outbox keeps the work. Then Redis (empty: it
persists nothing) and a worker start, the periodic relay task is sent as
Celery beat would send it, and every alert appears and reaches the webhook
receiver exactly once.
"""

import time
from collections import Counter

import pytest

from tests.faults.scenario import World
from tests.faults.support import wait_until

pytestmark = [pytest.mark.redis, pytest.mark.django_db(transaction=True)]

POST_BUDGET_S = 5.0  # a refused broker costs a request about a second (two failed publishes), never a hang


def test_ingest_with_redis_down_then_every_alert_raised_and_delivered_once(
    parties, api, catalog, broker, workers, receivers
):
    from compliance.models import Alert, Delivery, DeliveryState
    from outbox.models import OutboxEvent
    from outbox.tasks import relay

    world = World(api, parties, "RDOWN")
    per_facility = world.rule("faults-facility-count", "facility", 2)
    per_country = world.rule("faults-operator-country-count", "operator_country", 5)
    receiver = receivers()
    world.subscribe(receiver)

    broker.stop()
    assert not broker.running

    chips = world.chips
    posts = [
        ("F-IAD", chips[0:2]),  # 2 chips: crosses the facility rule
        ("F-SJC", chips[2:5]),  # 3: crosses it
        ("F-JFK", [chips[5], "nvidia:NEVERREGISTERED1"]),  # 1 placed (below) and an unknown chip (a finding)
    ]
    accepted = []
    for facility, refs in posts:
        started = time.monotonic()
        response = world.op.post("/api/v1/attestations/", world.location(facility, refs))
        elapsed = time.monotonic() - started
        assert response.status_code == 201, response.content
        assert elapsed < POST_BUDGET_S, f"POST took {elapsed:.1f}s with Redis down"
        accepted.append(response.json())
    assert accepted[2]["flags"] == {"unknown_chip": 1}

    # Stored, logged, and announced in the outbox; nothing evaluated, nothing sent yet.
    pending = OutboxEvent.objects.filter(dispatched_at__isnull=True)
    assert set(pending.values_list("topic", flat=True)) >= {"placements.changed", "findings.raised"}
    assert not Alert.objects.exists() and not Delivery.objects.exists()

    broker.start()  # empty: whatever was queued before the outage is gone
    workers("after-outage")
    relay.delay()  # what Celery beat's `outbox-relay` entry sends every 10 s

    fac = world.facilities
    op_country = f"{parties.op_a.pk}:US"
    expected_thresholds = {
        (f"rule:{per_facility.pk}", "facility", str(fac["F-IAD"].pk)),
        (f"rule:{per_facility.pk}", "facility", str(fac["F-SJC"].pk)),
        (f"rule:{per_country.pk}", "operator_country", op_country),
    }

    def settled():
        alerts = list(Alert.objects.all())
        thresholds = {(a.group, a.scope, a.subject_key) for a in alerts if a.kind == "threshold"}
        findings = [a for a in alerts if a.kind == "finding"]
        delivered = Delivery.objects.filter(state=DeliveryState.DELIVERED).count()
        return thresholds == expected_thresholds and findings and delivered == len(alerts) == len(receiver.processed)

    wait_until(settled, 60, "every alert raised and delivered", interval=0.25)
    time.sleep(1.0)  # anything sent twice would arrive now

    assert not OutboxEvent.objects.filter(dispatched_at__isnull=True).exists()
    alerts = {a.pk: a for a in Alert.objects.all()}
    [finding] = [a for a in alerts.values() if a.kind == "finding"]
    assert finding.group == f"unknown_chip:attestation:{accepted[2]['id']}"
    assert finding.subject_key == str(fac["F-JFK"].pk)
    assert not Alert.objects.filter(scope="facility", subject_key=str(fac["F-JFK"].pk), kind="threshold").exists()

    deliveries = list(Delivery.objects.all())
    assert sorted(d.alert_id for d in deliveries) == sorted(alerts)  # one per alert (one subscriber)
    assert all(d.state == DeliveryState.DELIVERED and d.attempts == 1 for d in deliveries)
    assert receiver.errors == []
    # Once each: one request per webhook-id, one message per alert.
    assert Counter(receiver.ids_requested()) == Counter({d.webhook_id: 1 for d in deliveries})
    assert sorted(m["alert"]["id"] for _, m in receiver.processed) == sorted(alerts)
