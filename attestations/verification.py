"""Continuity of knowledge from location statements: folding sightings into chips' last verification.

A statement's sightings are its evidence; `Chip.last_verified_at` is a
summary of them. Updating one chip row per sighted chip inside the request
held the log's lock for seconds at 100,000 chips (every row rewritten with
all its indexes), so the summary is folded in after the commit, one
set-based UPDATE per statement, by the `sightings.recorded` outbox event's
task. The continuity sweep asks `refresh_chips` first, so a fold that has not
run yet never makes a seen chip look silent.

Only a sighting by the chip's custodian (or a landmark's, which has no
operator) vouches for it: another operator listing a chip it does not hold
is a finding, and must not keep the holder's chip from looking silent.
"""

from django.db import connection

_FOLD = """
UPDATE registry_chip AS c SET last_verified_at = s.seen
FROM (
    SELECT g.chip_id, max(g.observed_at) AS seen FROM attestations_sighting g
    JOIN attestations_attestation a ON a.id = g.attestation_id
    JOIN registry_chip k ON k.id = g.chip_id
    WHERE {where} AND (a.operator_id IS NULL OR a.operator_id = k.custodian_id)
    GROUP BY g.chip_id
) AS s
WHERE c.id = s.chip_id AND (c.last_verified_at IS NULL OR c.last_verified_at < s.seen)
"""


def fold_statement(attestation_id):
    """Fold one statement's sightings into its chips' last verification; return the chips moved forward."""
    with connection.cursor() as cursor:
        cursor.execute(_FOLD.format(where="g.attestation_id = %s"), [attestation_id])
        return cursor.rowcount


def refresh_chips(chip_pks, since):
    """Fold the sightings since `since` of these chips (the continuity sweep's candidates)."""
    from registry.models import Chip

    pks = list(chip_pks)
    if not pks:
        return 0
    if connection.vendor != "postgresql":
        from django.db.models import F, Q

        from attestations.models import Sighting

        moved = 0
        for pk in pks:
            latest = (
                Sighting.objects.filter(chip_id=pk, observed_at__gte=since)
                .filter(Q(attestation__operator__isnull=True) | Q(attestation__operator_id=F("chip__custodian_id")))
                .order_by("-observed_at")
                .values_list("observed_at", flat=True)
                .first()
            )
            if latest is not None:
                moved += (
                    Chip.objects.filter(pk=pk)
                    .filter(Q(last_verified_at__isnull=True) | Q(last_verified_at__lt=latest))
                    .update(last_verified_at=latest)
                )
        return moved
    # The same fold, limited to the candidates: an index probe each on (chip_id, observed_at).
    with connection.cursor() as cursor:
        cursor.execute(_FOLD.format(where="g.chip_id = ANY(%s::bigint[]) AND g.observed_at >= %s"), [pks, since])
        return cursor.rowcount
