"""A chip another party holds, listed at a facility: a finding for its holder, not only for the lister.

A declaration or an inspection that lists a chip the books give to another operator (or place in another
country) is an `unexpected` finding at the listed facility (reconciliation), which only that facility's
operator and country read. The chip's holder and its country's inspectorate are the ones who need to know
their chip turned up there (diverted, sold off the books, or wrongly listed): each such chip is also an
`other_operator` finding under its holder, at the listed facility, seen by both countries' inspectorates,
as a location statement's listing of another party's chip is (attestations.filing, through file_under_holders).
Lost and stolen chips are sightings instead (inventory.services.watch).
"""

from inventory.choices import FindingKind
from inventory.services.findings import raise_findings
from inventory.services.reconciliation import Discrepancy
from registry.choices import WATCHED_STATUSES


def raise_for_holders(resolved, facility, *, source, source_id, evidence):
    """`resolved`: {chip ref: (pk, custodian_id, status, country)} of the listing's registered chips."""
    others = [
        (Discrepancy(FindingKind.OTHER_OPERATOR, ref, info[0], source, source_id), info)
        for ref, info in resolved.items()
        if info[1] is not None and info[1] != facility.operator_id and info[2] not in WATCHED_STATUSES
    ]
    file_under_holders(others, facility, evidence)
    return len(others)


def file_under_holders(others, facility, evidence, watched_evidence=None):
    """Store findings about other parties' chips under each chip's holder, at `facility`, seen by the
    inspectorates of the facility's country and of the chip's (other_country). `others`: [(discrepancy,
    (pk, custodian_id, status, country))]. A lost or stolen chip's finding names no facility and carries
    `watched_evidence` instead: its holder learns where it was seen only as its sighting says it."""
    if not others:
        return
    from registry.models import Organisation

    groups = {}
    for d, (_, custodian_id, status, country) in others:
        groups.setdefault((custodian_id, country or "", status in WATCHED_STATUSES), []).append(d)
    orgs = Organisation.objects.in_bulk([c for c, _, _ in groups if c is not None])
    for (custodian_id, country, watched), found in groups.items():
        raise_findings(
            found,
            facility=None if watched else facility,
            organisation=orgs.get(custodian_id),
            country=facility.country,
            other_country=country if country != facility.country else "",
            evidence=watched_evidence if watched else evidence,
        )
