"""emit(topic, payload): announce a change, inside the transaction that makes it."""


def emit(topic, **payload):
    from django.db import transaction

    from outbox.models import OutboxEvent
    from outbox.relay import request_drain

    event = OutboxEvent.objects.create(topic=topic, payload=payload)
    transaction.on_commit(request_drain, robust=True)
    return event
