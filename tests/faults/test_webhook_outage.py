"""A webhook receiver failing for a while: a real worker retries on its backoff, then delivers once per webhook-id.

The receiver answers 500 to its first requests (down), then loses one
acknowledgement (it processed the message but answered 500), then recovers.
The retries are the worker's own countdown tasks (no sweep, no beat), with the
backoff shortened to fractions of a second. Each alert ends delivered, every
request of one delivery carries the same webhook-id, and the receiver,
deduplicating on it, acts on each alert exactly once.
"""

import time
from collections import Counter

import pytest

from tests.faults.scenario import World
from tests.faults.support import wait_until

pytestmark = [pytest.mark.redis, pytest.mark.django_db(transaction=True)]

DOWN_FOR = 5  # requests answered 500 before the receiver processes anything
ACK_LOST = 1  # requests processed, then answered 500


def test_failing_receiver_gets_each_webhook_id_retried_then_processed_once(
    parties, api, catalog, broker, workers, receivers
):
    from compliance.models import Alert, Delivery, DeliveryState
    from outbox.tasks import relay

    worker = workers("deliverer", wait=False)  # starts while the world is built
    world = World(api, parties, "HOOK")
    world.rule("faults-facility-count", "facility", 2)
    receiver = receivers(fail_first=DOWN_FOR, ack_lost=ACK_LOST)
    world.subscribe(receiver)
    worker.wait_ready()
    chips = world.chips
    for facility, refs in (("F-IAD", chips[0:2]), ("F-SJC", chips[2:4])):
        response = world.op.post("/api/v1/attestations/", world.location(facility, refs))
        assert response.status_code == 201, response.content
    relay.delay()  # as beat would; the posts above also asked for a drain

    def settled():
        deliveries = list(Delivery.objects.all())
        return (
            Alert.objects.count() == 2
            and len(deliveries) == 2
            and all(d.state == DeliveryState.DELIVERED for d in deliveries)
        )

    wait_until(settled, 45, "both alerts delivered despite the failing receiver", interval=0.2)
    time.sleep(1.0)  # a stray retry would arrive now

    deliveries = {d.webhook_id: d for d in Delivery.objects.prefetch_related("log")}
    requested = Counter(receiver.ids_requested())
    assert set(requested) == set(deliveries)  # no other webhook-id ever sent
    assert sum(requested.values()) == 2 + DOWN_FOR + ACK_LOST  # each failure retried, nothing sent after success
    for webhook_id, delivery in deliveries.items():
        codes = [a.status_code for a in delivery.log.all()]
        assert codes[-1] == 204 and set(codes[:-1]) <= {500}, codes
        assert delivery.attempts == len(codes) == requested[webhook_id]
    assert any(d.attempts > 1 for d in deliveries.values())
    assert receiver.errors == []
    # Processed once per webhook-id, one message per alert.
    assert sorted(webhook_id for webhook_id, _ in receiver.processed) == sorted(deliveries)
    assert sorted(m["alert"]["id"] for _, m in receiver.processed) == sorted(Alert.objects.values_list("pk", flat=True))
