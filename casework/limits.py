"""How much one address may send as tips: requests per window (a DRF throttle) and bytes per window.

Both count under a keyed hash of the address (HMAC with TOKEN_HASH_KEY), never the address itself: the
shared cache is the only place a tip's sender leaves a trace, and there it is an opaque, expiring counter.
An IPv6 sender counts by its /64 (one host or one home network is given a whole /64, 2**64 addresses to send
from), and an IPv4 address written as IPv6 (`::ffff:192.0.2.1`) as that IPv4 address.
The rates are read from settings on each request (CHIPREG_TIP_RATE_PER_ADDRESS, e.g. "20/hour";
CHIPREG_TIP_BYTES_PER_ADDRESS per CHIPREG_TIP_BYTES_WINDOW_S).
"""

import hashlib
import hmac
import time

from django.conf import settings
from django.core.cache import DEFAULT_CACHE_ALIAS, caches
from django.core.cache.backends.locmem import LocMemCache

from core.errors import DomainError
from core.throttling import CACHE_ERRORS, SlidingWindowThrottle, client_address, sender

_fallback = LocMemCache("chipreg-tips-fallback", {})


def address_key(request):
    address = sender(client_address(request) or "")
    secret = str(getattr(settings, "TOKEN_HASH_KEY", settings.SECRET_KEY)).encode()
    return hmac.new(secret, b"tips:" + address.encode(), hashlib.sha256).hexdigest()[:32]


class TipAddressThrottle(SlidingWindowThrottle):
    scope = "tips"

    def get_rate(self):
        return getattr(settings, "CHIPREG_TIP_RATE_PER_ADDRESS", "20/hour")

    def get_cache_key(self, request, view):
        return self.cache_format % {"scope": self.scope, "ident": address_key(request)}


class TipBytesExceeded(DomainError):
    status = 429
    code = "rate_limited"


def charge_bytes(request, size):
    """Count `size` bytes against the address's budget; TipBytesExceeded (429) past it (not counted then)."""
    budget = int(getattr(settings, "CHIPREG_TIP_BYTES_PER_ADDRESS", 1024 * 1024))
    window_s = int(getattr(settings, "CHIPREG_TIP_BYTES_WINDOW_S", 3600))
    window = int(time.time() // window_s)
    key = f"tipbytes:{address_key(request)}:{window}"

    def charge(cache):
        cache.add(key, 0, 2 * window_s)
        total = cache.incr(key, size)
        if total > budget:
            cache.decr(key, size)
            return False
        return True

    try:
        ok = charge(caches[DEFAULT_CACHE_ALIAS])
    except CACHE_ERRORS:
        ok = charge(_fallback)
    if not ok:
        raise TipBytesExceeded(
            f"This address has sent its {budget} bytes of tips for now; try again later.", retry_after=window_s
        )
