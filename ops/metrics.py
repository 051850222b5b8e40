"""/metrics: what core/metrics.py recorded, plus figures read from the database when scraped.

Outbox lag, checkpoint age and readiness are gauges computed at scrape time
(ops/health.py), never stored: a stored gauge would be as stale as the last
process that set it, and in multiprocess mode would need a merge rule.

Who may scrape: a request made directly to the application from the loopback
address (no X-Forwarded-For: nginx adds one to everything it proxies, so the
public cannot pass as loopback through it), or one that presents
`Authorization: Bearer <CHIPREG_METRICS_TOKEN>` when that setting is set.
Anyone else gets a 404, so the endpoint's existence is not advertised.
"""

import hmac
import ipaddress

from django.conf import settings
from django.http import Http404, HttpResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_safe
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4

from core import metrics as recorded
from ops import health


class DatabaseCollector:
    """The readiness checks and the lags they measure, run once per scrape."""

    def collect(self):
        results = health.run_checks()
        ready = GaugeMetricFamily(
            "chipreg_ready", "1 when the readiness check passes (as /readyz answers it), else 0.", labels=["check"]
        )
        for name, result in results.items():
            ready.add_metric([name], 1.0 if result.get("ok") else 0.0)
        yield ready
        outbox = results.get("outbox", {})
        if "lag_s" in outbox:
            yield GaugeMetricFamily(
                "chipreg_outbox_lag_seconds",
                "Age of the oldest outbox event not yet handed to the workers (0: none waiting).",
                value=outbox["lag_s"],
            )
        checkpoint = results.get("checkpoint", {})
        if "age_s" in checkpoint:
            yield GaugeMetricFamily(
                "chipreg_checkpoint_age_seconds",
                "How long the oldest log leaf that no signed checkpoint covers has waited (0: all covered).",
                value=checkpoint["age_s"],
            )
            yield GaugeMetricFamily(
                "chipreg_checkpoint_unsigned_leaves",
                "Log leaves appended after the latest signed checkpoint.",
                value=checkpoint["unsigned_leaves"],
            )


def exposition():
    """The text a scrape gets: this process's (or with PROMETHEUS_MULTIPROC_DIR, every process's) recorded
    metrics, then the database figures."""
    scraped = CollectorRegistry(auto_describe=False)
    scraped.register(DatabaseCollector())
    return recorded.recorded_exposition() + generate_latest(scraped)


def allowed(request):
    token = getattr(settings, "CHIPREG_METRICS_TOKEN", "") or ""
    if token:
        sent = request.META.get("HTTP_AUTHORIZATION", "")
        if hmac.compare_digest(sent.encode(), f"Bearer {token}".encode()):
            return True
    if request.META.get("HTTP_X_FORWARDED_FOR"):
        return False  # came through a proxy: the loopback address is the proxy's, not the client's
    try:
        return ipaddress.ip_address(request.META.get("REMOTE_ADDR", "")).is_loopback
    except ValueError:
        return False


@never_cache
@require_safe
def metrics_view(request):
    if not allowed(request):
        raise Http404("no such page")
    return HttpResponse(exposition(), content_type=CONTENT_TYPE_PLAIN_0_0_4)
