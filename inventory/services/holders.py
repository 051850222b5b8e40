"""A chip another party holds, listed at a facility: a finding for its holder, not only for the lister.

A declaration or an inspection that lists a chip the books give to another operator (or place in another
country) is an `unexpected` finding at the listed facility (reconciliation), which only that facility's
operator and country read. The chip's holder and its country's inspectorate are the ones who need to know
their chip turned up there (diverted, sold off the books, or wrongly listed): each such chip is also an
`other_operator` finding under its holder, at the listed facility, seen by both countries' inspectorates,
as a location statement's listing of another party's chip is (attestations.filing.raise_for_custodians).
Lost and stolen chips are sightings instead (inventory.services.watch).
"""

from inventory.choices import FindingKind
from inventory.services.findings import raise_findings
from inventory.services.reconciliation import Discrepancy
from registry.choices import WATCHED_STATUSES


def raise_for_holders(resolved, facility, *, source, source_id, evidence):
    """`resolved`: {chip ref: (pk, custodian_id, status, country)} of the listing's registered chips."""
    groups = {}
    for ref, (pk, custodian_id, status, country) in resolved.items():
        if custodian_id is None or custodian_id == facility.operator_id or status in WATCHED_STATUSES:
            continue
        found = Discrepancy(FindingKind.OTHER_OPERATOR, ref, pk, source, source_id)
        groups.setdefault((custodian_id, country or ""), []).append(found)
    if not groups:
        return 0
    from registry.models import Organisation

    orgs = Organisation.objects.in_bulk([custodian for custodian, _ in groups])
    for (custodian, country), found in groups.items():
        raise_findings(
            found,
            facility=facility,
            organisation=orgs[custodian],
            country=facility.country,
            other_country=country if country != facility.country else "",
            evidence=evidence,
        )
    return sum(len(found) for found in groups.values())
