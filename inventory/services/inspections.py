"""Who records inspections, and where a party may name a facility (the API's lookups, as services)."""

from core.errors import Forbidden, NotFound
from inventory.models import Facility
from registry.choices import OrgKind


def records_inspections(user):
    org = getattr(user, "organisation", None)
    return org is not None and org.kind == OrgKind.INSPECTORATE


def authorise_inspection(user):
    """Only inspectorates record inspections (checked before the body is read: a 403, not a 400)."""
    if not records_inspections(user):
        raise Forbidden("Only inspectorates record inspections.")
    return user.organisation


def facility_in_view(user, code, action="view", related=("operator",)):
    """The facility `code` if `user` may `action` it; otherwise NotFound, so nobody learns that it exists."""
    facility = Facility.objects.restrict(user, action).filter(code=code).select_related(*related).first()
    if facility is None:
        raise NotFound(f"No facility {str(code)[:64]!r} in your view.")
    return facility
