"""Rate limits per API token and per client address (RFC 9457 `rate_limited` when exceeded).

Counters live in the Django cache: Redis when REDIS_URL is set, so every
web process shares them. When that cache cannot be reached the limits fall
back to counters in this process, and the request goes on: an outage of
Redis must not refuse what the outbox would keep (ARCHITECTURE.md).
"""

import logging
import time

from django.core.cache.backends.locmem import LocMemCache
from rest_framework.throttling import SimpleRateThrottle

log = logging.getLogger(__name__)

try:
    from redis.exceptions import RedisError

    CACHE_ERRORS = (RedisError, OSError)
except ImportError:  # no Redis client installed: only socket errors can come from a cache
    CACHE_ERRORS = (OSError,)

# Counters of this process only, used while the shared cache is unreachable.
_local_cache = LocMemCache("chipreg-throttle-fallback", {})
_warned_at = 0.0


def _warn(exc):
    global _warned_at
    now = time.monotonic()
    if now - _warned_at > 60:  # once a minute, not once a request
        _warned_at = now
        log.warning("rate-limit cache unreachable (%s); limiting per process until it returns", exc)


class FailSoftRateThrottle(SimpleRateThrottle):
    def allow_request(self, request, view):
        try:
            return super().allow_request(request, view)
        except CACHE_ERRORS as exc:
            _warn(exc)
            self.cache = _local_cache
            return super().allow_request(request, view)


class PerTokenThrottle(FailSoftRateThrottle):
    scope = "token"

    def get_cache_key(self, request, view):
        token = getattr(request, "auth", None)
        if token is None or not hasattr(token, "pk"):
            return None  # session or anonymous: the address limit applies
        return self.cache_format % {"scope": self.scope, "ident": token.pk}


class PerAddressThrottle(FailSoftRateThrottle):
    scope = "address"

    def get_cache_key(self, request, view):
        return self.cache_format % {"scope": self.scope, "ident": self.get_ident(request)}
