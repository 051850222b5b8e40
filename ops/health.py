"""Readiness checks: can this deployment do its work now?

Each check returns a dict with `ok` and what it measured; none raises. /readyz
answers them as JSON (503 when one is not ok) and /metrics exports the same
figures as gauges, computed when scraped, so an alert and a probe never disagree.

- database: a round trip to PostgreSQL;
- broker: a Redis PING (skipped when there is no broker: tasks run in-process);
- log_key: the transparency log's signing key can be read and is an Ed25519 key;
- outbox: the oldest event not yet handed to the workers is younger than
  CHIPREG_READY_OUTBOX_LAG_S (an old one means the relay or the broker is stuck);
- checkpoint: the oldest log leaf that no signed checkpoint covers has waited less
  than CHIPREG_READY_CHECKPOINT_AGE_S (receipts need a checkpoint; an old one means
  the signer is stuck). 0 when the latest checkpoint covers the whole log.
"""

import logging
import os
import time

from django.conf import settings
from django.db import connection
from django.utils import timezone

from outbox.models import OutboxEvent
from transparency.models import Checkpoint, LogHead, LogLeaf

log = logging.getLogger(__name__)


def _setting(name, default):
    return getattr(settings, name, default)


def _failed(name, exc):
    # /readyz is public: the answer names the kind of failure, the log has the message (hosts, paths).
    log.warning("readiness check %s failed: %s: %s", name, type(exc).__name__, exc)
    return {"ok": False, "error": type(exc).__name__}


def check_database():
    started = time.perf_counter()
    connection.ensure_connection()  # raises when the server cannot be reached
    if not connection.is_usable():  # a round trip (SELECT 1) on the connection just made or kept
        return {"ok": False, "error": "the connection does not answer"}
    return {"ok": True, "ms": round((time.perf_counter() - started) * 1000, 2)}


def check_broker():
    url = _setting("REDIS_URL", None)
    if not url:
        return {"ok": True, "skipped": "no broker configured: tasks run in-process"}
    import redis

    timeout = float(_setting("CHIPREG_READY_BROKER_TIMEOUT_S", 1.0))
    started = time.perf_counter()
    client = redis.Redis.from_url(url, socket_connect_timeout=timeout, socket_timeout=timeout)
    try:
        client.ping()
    finally:
        client.close()
    return {"ok": True, "ms": round((time.perf_counter() - started) * 1000, 2)}


def check_log_key():
    """Loadable, without creating it: a missing key in production means a lost log, not a fresh one."""
    from transparency.checkpoints import log_private_key

    path = settings.CHIPREG_LOG_KEY_PATH
    if not path.exists():
        if _setting("CHIPREG_LOG_KEY_AUTOCREATE", False):
            return {"ok": True, "note": "not created yet: made on first use (development)"}
        log.warning("readiness: the log key %s does not exist", path)
        return {"ok": False, "error": "the log key does not exist"}
    if not os.access(path, os.R_OK):  # the loader caches keys: ask the file system, not the cache
        log.warning("readiness: the log key %s is not readable", path)
        return {"ok": False, "error": "the log key is not readable"}
    log_private_key()
    return {"ok": True}


def outbox_lag_seconds():
    """Age of the oldest outbox event not yet dispatched; 0 when there is none (the partial index's first row)."""
    oldest = (
        OutboxEvent.objects.filter(dispatched_at__isnull=True).order_by("id").values_list("created_at", flat=True)
    ).first()
    return 0.0 if oldest is None else max(0.0, (timezone.now() - oldest).total_seconds())


def check_outbox():
    limit = float(_setting("CHIPREG_READY_OUTBOX_LAG_S", 600))
    lag = outbox_lag_seconds()
    return {"ok": lag <= limit, "lag_s": round(lag, 3), "max_s": limit}


def checkpoint_state():
    """(seconds the oldest unsigned leaf has waited, leaves no checkpoint covers, seconds since the last signature)."""
    head = LogHead.objects.filter(id=1).values_list("size", flat=True).first() or 0
    latest = Checkpoint.objects.order_by("-size").values_list("size", "signed_at").first()
    signed_size, signed_at = latest if latest else (0, None)
    now = timezone.now()
    since_signed = None if signed_at is None else max(0.0, (now - signed_at).total_seconds())
    waiting = max(0, head - signed_size)
    if not waiting:
        return 0.0, 0, since_signed
    first = LogLeaf.objects.filter(index=signed_size).values_list("appended_at", flat=True).first()
    age = 0.0 if first is None else max(0.0, (now - first).total_seconds())
    return age, waiting, since_signed


def check_checkpoint():
    limit = float(_setting("CHIPREG_READY_CHECKPOINT_AGE_S", 300))
    age, waiting, since_signed = checkpoint_state()
    return {
        "ok": age <= limit,
        "age_s": round(age, 3),
        "unsigned_leaves": waiting,
        "since_last_signed_s": None if since_signed is None else round(since_signed, 3),
        "max_s": limit,
    }


CHECKS = {
    "database": check_database,
    "broker": check_broker,
    "log_key": check_log_key,
    "outbox": check_outbox,
    "checkpoint": check_checkpoint,
}


def run_checks():
    """{name: result} for every check; an exception is that check's failure, never the probe's."""
    results = {}
    for name, check in CHECKS.items():
        try:
            results[name] = check()
        except Exception as exc:  # a probe reports what is wrong; it must not 500 on it
            results[name] = _failed(name, exc)
    return results
