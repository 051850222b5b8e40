"""Who sees what in the inventory, in one place.

Operators see their own (facilities they run, chips they hold, transfers they
ship or receive); manufacturers the transfers and exports they are party to;
inspectorates see what lies in their jurisdictions (both
ends of a cross-border transfer); treaty bodies see everything; nobody else
sees anything. Each restrict_for() composes these with its field paths.
"""

from django.db.models import Q

from core.errors import Forbidden
from registry.choices import OrgKind


def scope_q(org, *, operator_paths=(), country_paths=(), action="view", manufacturer_paths=()):
    """A Q that is true for rows `org` may see (action="view") or change.

    `manufacturer_paths`: where a manufacturer is a party to the row as an operator is (a transfer's shipper
    or receiver, an export's exporter or receiver: it holds chips before it sells them and takes them back),
    so it sees those rows; nothing else of an operator's rights comes with it."""
    if org.kind == OrgKind.OPERATOR:
        return _any_of({path: org} for path in operator_paths)
    if action != "view":
        return Q(pk__in=[])
    if org.kind == OrgKind.MANUFACTURER and manufacturer_paths:
        return _any_of({path: org} for path in manufacturer_paths)
    if org.kind == OrgKind.TREATY_BODY:
        return Q()
    if org.kind == OrgKind.INSPECTORATE:
        return _any_of({f"{path}__in": org.jurisdictions or []} for path in country_paths)
    return Q(pk__in=[])


def _any_of(conditions):
    """A Q true where any of the lookups holds (none: no row)."""
    q = Q(pk__in=[])
    for lookup in conditions:
        q |= Q(**lookup)
    return q


def require_own_country(user, country):
    """An inspectorate acts (resolves, handles, decides) on a finding or an alert of its own jurisdictions only:
    one it reads as another country's (a lost chip seen across a border, a run declared in several countries)
    stays that country's to settle (403 `outside_jurisdiction`). Other parties: their own rules decide."""
    org = getattr(user, "organisation", None)
    if user.is_superuser or org is None or org.kind != OrgKind.INSPECTORATE:
        return
    if country not in (org.jurisdictions or []):
        raise Forbidden(
            f"This is {country or 'no country'}'s: settled by its inspectorate or the treaty body.",
            code="outside_jurisdiction",
        )
