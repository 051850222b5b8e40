"""Rate limits per API token and per client address (RFC 9457 `rate_limited` when exceeded).

Each limit is a sliding-window counter: the requests counted in the current
fixed window, plus the previous window's count weighted by how much of it
the sliding window still covers. In Redis a request's limits cost one
pipelined round trip (per limit: INCR and EXPIRE of this window's key, GET of
the previous one),
whatever the rate: DRF's own throttle keeps a list of every request's time
in the window and rewrites it on each request, which at a node agent's rates
is thousands of timestamps pickled per request.

Counters live in the Django cache: Redis when REDIS_URL is set, so every
web process shares them. When that cache cannot be reached the limits fall
back to counters in this process, and the request goes on: an outage of
Redis must not refuse what the outbox would keep (ARCHITECTURE.md).
"""

import ipaddress
import logging
import math
import time

from django.core.cache import DEFAULT_CACHE_ALIAS, caches
from django.core.cache.backends.locmem import LocMemCache
from django.core.cache.backends.redis import RedisCache
from rest_framework.throttling import BaseThrottle, SimpleRateThrottle

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


def _count(cache, windows):
    """Add one request to each (key, previous key, duration): [(this window's count, the previous one's)].

    All of a request's limits in one pipelined round trip."""
    if isinstance(cache, RedisCache):
        pipe = _redis_client(cache).pipeline(transaction=False)
        for key, previous_key, duration in windows:
            key = cache.make_and_validate_key(key)
            pipe.incr(key)
            pipe.expire(key, 2 * duration)  # the next window still reads it as its previous one
            pipe.get(cache.make_and_validate_key(previous_key))
        replies = pipe.execute()
        return [(int(replies[i]), int(replies[i + 2] or 0)) for i in range(0, len(replies), 3)]
    counts = []
    for key, previous_key, duration in windows:
        cache.add(key, 0, 2 * duration)
        counts.append((cache.incr(key), int(cache.get(previous_key) or 0)))
    return counts


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
        window = self._window(request, view)
        if window is None:
            return True
        # Shared by the view's limits through the request (a request is checked once, by its view).
        counted = getattr(request, "_chipreg_throttle_counts", {}) if view is not None else {}
        if window[0] not in counted:
            # Count this request against every sliding-window limit of the view at once (DRF asks each
            # limit in turn, and every one of them counts the request).
            windows = [window, *self._peer_windows(request, view)]
            try:
                cache, counts = self.cache, _count(self.cache, windows)
            except CACHE_ERRORS as exc:
                _warn(exc)
                cache, counts = _local_cache, _count(_local_cache, windows)
            counted = {**counted, **{w[0]: (*c, cache) for w, c in zip(windows, counts, strict=True)}}
            if view is not None:
                request._chipreg_throttle_counts = counted
        current, previous, cache = counted[window[0]]
        return self._judge(cache, window[0], current, previous)

    def _window(self, request, view):
        """(this window's key, the previous window's key, duration) for this request, or None (no limit)."""
        if self.rate is None:
            return None
        ident = self.get_cache_key(request, view)
        if ident is None:
            return None
        self.now = self.timer()
        self.window = int(self.now // self.duration)
        return f"{ident}:{self.window}", f"{ident}:{self.window - 1}", self.duration

    def _peer_windows(self, request, view):
        if view is None or not hasattr(view, "get_throttles"):
            return []
        peers = (t for t in view.get_throttles() if isinstance(t, SlidingWindowThrottle) and type(t) is not type(self))
        return [w for w in (peer._window(request, view) for peer in peers) if w is not None]

    def _judge(self, cache, key, current, previous):
        # The part of the previous window that the sliding window still covers.
        covered = 1 - (self.now - self.window * self.duration) / self.duration
        self.estimate = current + previous * covered
        if self.estimate <= self.num_requests:
            return True
        try:
            _uncount(cache, key)
        except CACHE_ERRORS as exc:
            _warn(exc)
        # In the next window this one is the previous: its weight must fall until one more fits.
        counted = max(current - 1, 1)
        self.retry_at = (self.window + 1) * self.duration + self.duration * max(
            0.0, 1 - (self.num_requests - 1) / counted
        )
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
        return self.cache_format % {"scope": self.scope, "ident": sender(self.get_ident(request))}


def client_address(request):
    """The client's address as the API throttles see it (REMOTE_ADDR, or X-Forwarded-For behind NUM_PROXIES)."""
    return BaseThrottle().get_ident(request)


IPV6_PREFIX = 64


def sender(address):
    """What one sender is, for the limits per address: the address itself for IPv4, its /64 network for IPv6 (one
    host or one home network is given a whole /64: 2**64 addresses to send from, each a fresh limit if counted
    alone), and an IPv4 address written as IPv6 (`::ffff:192.0.2.1`) as that IPv4 address."""
    try:
        ip = ipaddress.ip_address(str(address).strip())
    except ValueError:
        return str(address)
    if ip.version == 6 and ip.ipv4_mapped is not None:
        return str(ip.ipv4_mapped)
    if ip.version == 6:
        return str(ipaddress.IPv6Network((ip.packed, IPV6_PREFIX), strict=False))
    return str(ip)


class FailureCounter:
    """A sliding-window count of failures (sign-ins) per identity, checked before an attempt, added to after.

    Unlike a request throttle it does not count attempts: only what `add`
    records, so a refused attempt costs the client nothing more, and the count
    decays as the window slides. Same counters, same Redis fallback, as above.
    """

    def __init__(self, scope, limit, duration):
        self.scope, self.limit, self.duration = scope, int(limit), int(duration)

    def _keys(self, ident, now=None):
        now = time.time() if now is None else now
        window = int(now // self.duration)
        key = f"throttle_{self.scope}_{ident}"
        covered = 1 - (now - window * self.duration) / self.duration
        return f"{key}:{window}", f"{key}:{window - 1}", covered

    def _with_cache(self, action):
        try:
            return action(caches[DEFAULT_CACHE_ALIAS])
        except CACHE_ERRORS as exc:
            _warn(exc)
            return action(_local_cache)

    def count(self, ident):
        """The sliding-window estimate of failures recorded for `ident`."""
        key, previous_key, covered = self._keys(ident)

        def read(cache):
            values = cache.get_many([key, previous_key])
            return int(values.get(key) or 0) + int(values.get(previous_key) or 0) * covered

        return self._with_cache(read)

    def exceeded(self, ident):
        return self.count(ident) >= self.limit

    def add(self, ident):
        key, _, _ = self._keys(ident)

        def add(cache):
            cache.add(key, 0, 2 * self.duration)  # the next window still reads it as its previous one
            cache.incr(key)

        self._with_cache(add)

    def clear(self, ident):
        key, previous_key, _ = self._keys(ident)
        self._with_cache(lambda cache: cache.delete_many([key, previous_key]))
