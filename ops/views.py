"""/healthz and /readyz: plain Django views, outside the API (no authentication, no throttling)."""

from django.http import JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_safe

from ops import health


@never_cache
@require_safe
def healthz(request):
    """The process is up and answers. Touches nothing else (no database): a liveness probe must not
    restart a web server because PostgreSQL is down."""
    return JsonResponse({"status": "ok"})


@never_cache
@require_safe
def readyz(request):
    """Every dependency answers and the background work keeps up: 200, else 503, with each check's result."""
    checks = health.run_checks()
    ready = all(result["ok"] for result in checks.values())
    return JsonResponse({"status": "ok" if ready else "unavailable", "checks": checks}, status=200 if ready else 503)
