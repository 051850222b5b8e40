"""Who may declare thresholds and handle alerts: one rule, read by the API and the console.

Which rows a party sees is restrict()'s business (compliance.models); these are
the kind-of-party rules on top of it. The console adds its own page concern
(a read-only role may look, not change) around them.
"""

from core.errors import Forbidden
from registry.choices import OrgKind


def _kind(user):
    org = getattr(user, "organisation", None)
    return org.kind if org is not None else None


def declares_rules(user):
    return bool(user.is_superuser or _kind(user) == OrgKind.TREATY_BODY)


def handles_alerts(user):
    return bool(user.is_superuser or _kind(user) in (OrgKind.TREATY_BODY, OrgKind.INSPECTORATE))


def require_rule_declarer(user):
    if not declares_rules(user):
        raise Forbidden("Only treaty bodies declare thresholds.")


def require_alert_handler(user):
    if not handles_alerts(user):
        raise Forbidden("Treaty bodies and inspectorates handle alerts.")
