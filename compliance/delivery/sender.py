"""Sending one delivery, retrying with exponential backoff, and dead-lettering.

attempt() locks the Delivery row (skip_locked), so one worker sends it at a
time however many copies of the task the broker hands out (countdown retries,
the sweep, a redelivery after a crash); the others return at once. Every try
is one DeliveryAttempt row. The webhook-id is the Delivery's and never changes,
so a receiver that saw a message whose acknowledgement was lost dedupes it.

Retries: after failure n the next try is base·2^(n-1) seconds away (±20 %
jitter, at most CHIPREG_WEBHOOK_RETRY_MAX_WAIT_S, at least a Retry-After the
receiver sent), until CHIPREG_WEBHOOK_RETRY_HOURS after the first try; the
last try is made at that deadline, then the delivery is DEAD (dead letter)
until an administrator replays it. The retry is both enqueued with a countdown
and written to next_attempt_at, so the periodic sweep (due()) sends it if the
broker loses the message.

Eager mode (CELERY_TASK_ALWAYS_EAGER: development without a broker, and the
tests): Celery ignores countdowns there, so enqueueing a retry would recurse
into an immediate resend. The retry is then only written to next_attempt_at;
run the deliver_due task (or call due()/attempt()) to send it.
"""

import json
import logging
import random
from datetime import timedelta

from django.conf import settings
from django.core.mail import EmailMessage
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from compliance.delivery import hears_of, signing, transport
from compliance.delivery.destinations import DestinationRefused
from compliance.models import Delivery, DeliveryAttempt, DeliveryState
from core import metrics

log = logging.getLogger(__name__)

USER_AGENT = "chipreg-webhooks/1"
# A countdown task may fire a little before next_attempt_at (clock skew between hosts).
EARLY_SLACK = timedelta(seconds=1)


def _setting(name, default):
    return getattr(settings, name, default)


def backoff(failures, retry_after=None):
    """Seconds to wait after the `failures`-th failed try."""
    base = float(_setting("CHIPREG_WEBHOOK_RETRY_BASE_S", 30))
    cap = float(_setting("CHIPREG_WEBHOOK_RETRY_MAX_WAIT_S", 2 * 3600))
    wait = min(cap, base * 2 ** min(max(failures - 1, 0), 32))
    wait *= random.uniform(0.8, 1.2)  # noqa: S311 - jitter, not a secret
    if retry_after:
        wait = max(wait, retry_after)
    return min(wait, cap)


def _eager():
    from compliance.delivery.tasks import deliver

    return bool(deliver.app.conf.task_always_eager)


def attempt(delivery_id):
    """Try to send one delivery now; return its state afterwards (None: locked elsewhere or gone)."""
    with transaction.atomic():
        delivery = (
            Delivery.objects.select_for_update(skip_locked=True, of=("self",))
            .select_related("subscription__organisation", "alert")
            .filter(pk=delivery_id)
            .first()
        )
        if delivery is None:
            return None
        if delivery.state in (DeliveryState.DELIVERED, DeliveryState.DEAD):
            return delivery.state
        if delivery.next_attempt_at and delivery.next_attempt_at > timezone.now() + EARLY_SLACK:
            return delivery.state  # a duplicate task arrived early: the scheduled retry sends it
        try:
            result, final = _send(delivery)
        except Exception as exc:  # a bug or misconfiguration (no signing key): logged, retried, visible
            log.exception("delivery %s: sending failed", delivery.pk)
            result, final = transport.Result(error=f"{type(exc).__name__}: {exc}"[:1000]), False
        _record(delivery, result, final)
        return delivery.state


def _send(delivery):
    """(transport.Result, final): final means retrying cannot help."""
    sub = delivery.subscription
    if not sub.active:
        return transport.Result(error="subscription inactive"), True
    if not hears_of(sub.organisation, delivery.alert):
        # Queued or retried while the subscriber still had the alert's country in its jurisdictions.
        return transport.Result(error="the alert's country is no longer in the subscriber's jurisdictions"), True
    if delivery.channel == "email":
        if not sub.email:
            return transport.Result(error="subscription has no e-mail address"), True
        return _send_email(delivery), False
    if not sub.webhook_url:
        return transport.Result(error="subscription has no webhook URL"), True
    body = json.dumps(delivery.payload, separators=(",", ":"), ensure_ascii=False, sort_keys=True)
    timestamp = int(timezone.now().timestamp())
    headers = {
        "webhook-id": delivery.webhook_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": signing.signature_header(sub.secret, delivery.webhook_id, timestamp, body),
        "content-type": "application/json",
        "user-agent": USER_AGENT,
    }
    timeout = float(_setting("CHIPREG_WEBHOOK_TIMEOUT_S", 10))
    try:
        result = transport.post(sub.webhook_url, body.encode(), headers, timeout)
    except DestinationRefused as exc:
        return transport.Result(error=f"destination refused: {exc}"), True
    # 410 Gone: the receiver wants no more (Standard Webhooks); retrying would be noise.
    return result, result.status_code == 410


def _send_email(delivery):
    alert = delivery.payload.get("alert", {})
    subject = f"[chipreg] {alert.get('severity', '')} {delivery.event}: {alert.get('title', '')}"
    subject = " ".join(subject.split())[:200]
    body = (
        f"{delivery.event} for alert {alert.get('id')} ({alert.get('country') or 'no country'}).\n\n"
        f"{alert.get('title', '')}\n\nMessage id: {delivery.webhook_id}\n\n"
        + json.dumps(delivery.payload, indent=2, sort_keys=True, ensure_ascii=False)
        + "\n"
    )
    sender = _setting("CHIPREG_ALERT_FROM_EMAIL", None) or settings.DEFAULT_FROM_EMAIL
    message = EmailMessage(
        subject, body, sender, [delivery.subscription.email], headers={"X-Chipreg-Message-Id": delivery.webhook_id}
    )
    started = timezone.now()
    try:
        message.send(fail_silently=False)
    except Exception as exc:  # any mail backend failure is a failed try
        return transport.Result(error=f"{type(exc).__name__}: {exc}"[:1000], duration_ms=_ms_since(started))
    return transport.Result(ok=True, duration_ms=_ms_since(started))


def _ms_since(started):
    return int((timezone.now() - started).total_seconds() * 1000)


def _record(delivery, result, final):
    now = timezone.now()
    DeliveryAttempt.objects.create(
        delivery=delivery,
        status_code=result.status_code,
        response_bytes=result.response_bytes,
        error=result.error,
        duration_ms=result.duration_ms,
    )
    delivery.attempts += 1
    delivery.first_attempt_at = delivery.first_attempt_at or now
    wait = None
    if result.ok:
        delivery.state, delivery.delivered_at, delivery.next_attempt_at = DeliveryState.DELIVERED, now, None
    else:
        deadline = delivery.first_attempt_at + timedelta(hours=float(_setting("CHIPREG_WEBHOOK_RETRY_HOURS", 24)))
        if final or now >= deadline:
            delivery.state, delivery.next_attempt_at = DeliveryState.DEAD, None
            log.warning("delivery %s dead after %s tries: %s", delivery.pk, delivery.attempts, _why(result))
        else:
            delivery.state = DeliveryState.RETRYING
            wait = backoff(delivery.attempts, result.retry_after)
            delivery.next_attempt_at = min(now + timedelta(seconds=wait), deadline)
            wait = max(0.0, (delivery.next_attempt_at - now).total_seconds())
    delivery.save(update_fields=["state", "attempts", "first_attempt_at", "next_attempt_at", "delivered_at"])
    metrics.delivery_attempted(delivery.channel, delivery.state, result.duration_ms)
    if wait is not None and not _eager():
        from compliance.delivery import enqueue

        pk = delivery.pk
        transaction.on_commit(lambda: enqueue(pk, countdown=wait))


def _why(result):
    return result.error or f"HTTP {result.status_code}"


def due(limit=1000):
    """Ids of deliveries to send now: retries whose time has come, and new ones never sent.

    A new delivery is left alone for CHIPREG_WEBHOOK_SWEEP_GRACE_S, the task
    enqueued at notify() time being expected to send it first.
    """
    now = timezone.now()
    grace = now - timedelta(seconds=float(_setting("CHIPREG_WEBHOOK_SWEEP_GRACE_S", 60)))
    ready = Q(next_attempt_at__lte=now) | Q(next_attempt_at__isnull=True, created_at__lte=grace)
    rows = Delivery.objects.filter(ready, state__in=[DeliveryState.PENDING, DeliveryState.RETRYING])
    return list(rows.order_by("next_attempt_at", "id").values_list("pk", flat=True)[:limit])


def replay(delivery_id):
    """Give a dead letter a fresh retry window (same webhook-id, attempt count kept); False unless it was dead."""
    from compliance.delivery import enqueue

    with transaction.atomic():
        delivery = Delivery.objects.select_for_update().filter(pk=delivery_id).first()
        if delivery is None or delivery.state != DeliveryState.DEAD:
            return False
        delivery.state = DeliveryState.PENDING
        delivery.first_attempt_at = None
        delivery.next_attempt_at = timezone.now()
        delivery.save(update_fields=["state", "first_attempt_at", "next_attempt_at"])
        transaction.on_commit(lambda: enqueue(delivery_id))
    return True
