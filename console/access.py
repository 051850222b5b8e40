"""Who may see and do what in the console: the API's rules, applied the same way.

Every queryset a page reads passes through the model's restrict(user, action),
exactly as the API's viewsets do; this module only adds the page-level
concerns: login, the read-only role (403 on any POST), 404 pages that do not
say whether the hidden row exists, and the security headers.
"""

from functools import wraps

from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import BadRequest
from django.shortcuts import render

from compliance import authority as compliance_authority
from core.errors import DomainError
from core.permissions import WRITE_ROLES
from inventory.services import inspections

# No inline script or style anywhere: every chart is SVG attributes, every
# behaviour lives in console.js.
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'; object-src 'none'"
)


def can_write(user):
    return bool(user and user.is_authenticated and (user.is_superuser or getattr(user, "role", None) in WRITE_ROLES))


def org_kind(user):
    org = getattr(user, "organisation", None)
    return org.kind if org is not None else None


def handles_alerts(user):
    """Treaty bodies and inspectorates acknowledge, resolve and dismiss alerts: the API's rule."""
    return can_write(user) and compliance_authority.handles_alerts(user)


def records_inspections(user):
    return can_write(user) and inspections.records_inspections(user)


def manages_keys(user):
    """Parties that may register some kind of key (attestations.services.PURPOSES_BY_KIND)."""
    from attestations.services import PURPOSES_BY_KIND

    return can_write(user) and bool(PURPOSES_BY_KIND.get(org_kind(user)))


def secure(response):
    response.setdefault("Content-Security-Policy", CSP)
    response.setdefault("X-Content-Type-Options", "nosniff")
    response.setdefault("Referrer-Policy", "same-origin")
    response["X-Frame-Options"] = "DENY"
    return response


def console_view(view):
    """Login required; POST needs a writing role; security headers on every answer."""

    @wraps(view)
    def wrapper(request, *args, **kwargs):
        if not request.user.is_authenticated:
            return secure(redirect_to_login(request.get_full_path()))
        if request.method not in ("GET", "HEAD") and not can_write(request.user):
            return secure(forbidden(request, "Your role is read-only: you may look, not change."))
        try:
            response = view(request, *args, **kwargs)
        except NotVisible as exc:
            response = not_found(request, exc.message)
        except BadRequest as exc:  # a hand-made parameter (a cursor that is not an id): the console's 400 page
            response = render(request, "console/error.html", {"title": "Bad request", "message": str(exc)}, status=400)
        return secure(response)

    return wrapper


def not_found(request, message="Not found in your view."):
    return render(request, "console/error.html", {"title": "Not found", "message": message}, status=404)


def forbidden(request, message="You may not do this."):
    return render(request, "console/error.html", {"title": "Not allowed", "message": message}, status=403)


class NotVisible(Exception):
    """A row the user may not see: answered 404, never 403, so nobody learns it exists."""

    def __init__(self, message):
        super().__init__(message)
        self.message = message


def visible_facility(user, code, action="view"):
    """The API's lookup (restrict(), and a 404 that does not say whether the facility exists)."""
    try:
        return inspections.facility_in_view(user, code, action, related=("operator", "campus"))
    except DomainError as exc:
        raise NotVisible(exc.detail) from None


def aggregates_for(user):
    """Stored aggregates the user may see: Aggregate.objects.restrict(), as the API's AggregateViewSet."""
    from compliance.models import Aggregate

    return Aggregate.objects.restrict(user)


def usage_for(user):
    """Usage records of statements the user may see (as the API's UsageViewSet)."""
    from attestations.models import UsageRecord

    return UsageRecord.objects.restrict(user)


def any_usage_for(user):
    """Usage records of both tables (bound to a chip or kept by reference) of statements the user may see."""
    from attestations.models import AnyUsageRecord

    return AnyUsageRecord.objects.restrict(user)


def usage_days_for(user):
    """Stored daily usage totals of statements the user may see (attestations.daily): the same rule."""
    from attestations.models import UsageDay

    return UsageDay.objects.restrict(user)


def sightings_for(user):
    from attestations.models import Sighting

    return Sighting.objects.restrict(user)
