"""The transactional outbox: changes announce themselves in their own transaction.

Lower layers (registry, inventory, attestations) write an OutboxEvent in the
same transaction as the change, so the announcement exists exactly when the
change does: nothing is lost when Redis or the workers are down. A relay
drains undispatched events to Celery when they return. Upper layers
(compliance) subscribe by topic; nothing here knows who listens.
"""

from django.db import models


class OutboxEvent(models.Model):
    topic = models.CharField(max_length=64)
    payload = models.JSONField()
    created_at = models.DateTimeField(auto_now_add=True)
    dispatched_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["id"]
        indexes = [
            models.Index(fields=["id"], condition=models.Q(dispatched_at__isnull=True), name="outbox_pending_idx"),
        ]
