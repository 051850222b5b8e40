"""Rate limits per API token and per client address (RFC 9457 `rate_limited` when exceeded).

Counters live in the Django cache: Redis when REDIS_URL is set, so every
web process shares them.
"""

from rest_framework.throttling import SimpleRateThrottle


class PerTokenThrottle(SimpleRateThrottle):
    scope = "token"

    def get_cache_key(self, request, view):
        token = getattr(request, "auth", None)
        if token is None or not hasattr(token, "pk"):
            return None  # session or anonymous: the address limit applies
        return self.cache_format % {"scope": self.scope, "ident": token.pk}


class PerAddressThrottle(SimpleRateThrottle):
    scope = "address"

    def get_cache_key(self, request, view):
        return self.cache_format % {"scope": self.scope, "ident": self.get_ident(request)}
