"""Rate limits per API token and per client address (RFC 9457 `rate_limited` when exceeded).

Each limit is a sliding-window counter: the requests counted in the current
fixed window, plus the previous window's count weighted by how much of it
the sliding window still covers. In Redis that is one pipelined round trip
per limit (INCR and EXPIRE of this window's key, GET of the previous one),
whatever the rate: DRF's own throttle keeps a list of every request's time
in the window and rewrites it on each request, which at a node agent's rates
is thousands of timestamps pickled per request.

Counters live in the Django cache: Redis when REDIS_URL is set, so every
web process shares them. When that cache cannot be reached the limits fall
back to counters in this process, and the request goes on: an outage of
Redis must not refuse what the outbox would keep (ARCHITECTURE.md).
"""

import logging
import math
import time

from django.core.cache import DEFAULT_CACHE_ALIAS, caches
from django.core.cache.backends.locmem import LocMemCache
from django.core.cache.backends.redis import RedisCache
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


def _redis_client(cache):
    """One client per cache backend object: django's RedisCache builds a new redis.Redis (and its
    table of response callbacks) on every call, which costs more than the round trip itself."""
    backend = cache._cache
    client = getattr(backend, "chipreg_throttle_client", None)
    if client is None:
        client = backend.get_client(write=True)
        backend.chipreg_throttle_client = client
    return client


def _count(cache, key, previous_key, duration):
    """Add one request to `key`'s window: (this window's count, the previous window's count)."""
    if isinstance(cache, RedisCache):
        client = _redis_client(cache)
        key, previous_key = cache.make_and_validate_key(key), cache.make_and_validate_key(previous_key)
        pipe = client.pipeline(transaction=False)
        pipe.incr(key)
        pipe.expire(key, 2 * duration)  # the next window still reads it as its previous one
        pipe.get(previous_key)
        current, _, previous = pipe.execute()
        return int(current), int(previous or 0)
    cache.add(key, 0, 2 * duration)
    return cache.incr(key), int(cache.get(previous_key) or 0)


def _uncount(cache, key):
    """Take back a refused request: a client waiting out its limit is not kept out longer by retrying."""
    if isinstance(cache, RedisCache):
        _redis_client(cache).decr(cache.make_and_validate_key(key))
    else:
        cache.decr(key)


class SlidingWindowThrottle(SimpleRateThrottle):
    """DRF's throttle interface (rates, scopes, client address) over a sliding-window counter."""

    @property
    def cache(self):
        return caches[DEFAULT_CACHE_ALIAS]

    def allow_request(self, request, view):
        if self.rate is None:
            return True
        ident = self.get_cache_key(request, view)
        if ident is None:
            return True
        self.now = self.timer()
        window = int(self.now // self.duration)
        key, previous_key = f"{ident}:{window}", f"{ident}:{window - 1}"
        try:
            allowed = self._check(self.cache, key, previous_key, window)
        except CACHE_ERRORS as exc:
            _warn(exc)
            allowed = self._check(_local_cache, key, previous_key, window)
        return allowed

    def _check(self, cache, key, previous_key, window):
        current, previous = _count(cache, key, previous_key, self.duration)
        # The part of the previous window that the sliding window still covers.
        covered = 1 - (self.now - window * self.duration) / self.duration
        self.estimate = current + previous * covered
        if self.estimate <= self.num_requests:
            return True
        _uncount(cache, key)
        # In the next window this one is the previous: its weight must fall until one more fits.
        counted = max(current - 1, 1)
        self.retry_at = (window + 1) * self.duration + self.duration * max(0.0, 1 - (self.num_requests - 1) / counted)
        return False

    def wait(self):
        """Seconds until one more request fits (Retry-After)."""
        return max(1, math.ceil(self.retry_at - self.now))


class PerTokenThrottle(SlidingWindowThrottle):
    scope = "token"

    def get_cache_key(self, request, view):
        token = getattr(request, "auth", None)
        if token is None or not hasattr(token, "pk"):
            return None  # session or anonymous: the address limit applies
        return self.cache_format % {"scope": self.scope, "ident": token.pk}


class PerAddressThrottle(SlidingWindowThrottle):
    scope = "address"

    def get_cache_key(self, request, view):
        return self.cache_format % {"scope": self.scope, "ident": self.get_ident(request)}
