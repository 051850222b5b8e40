"""The one write of registry_chip rows by attestations: chips' last verification.

A chip's `last_verified_at` summarises the sightings that vouch for it. Every
path of attestations that moves it (a node agent's statement in its single
round trip, a small statement in the request, the fold of a big statement's
sightings after its commit, the continuity sweep's refresh) goes through
`refresh_last_verified`, fed by a source of (chip, seen, older_than) rows:
the chip's time moves to `seen` when it is NULL or older than `older_than`
(never back). registry owns chip rows (one owner per row): the UPDATE is
registry.chip_writes' fold, composed here with attestations' evidence and,
for a node agent, into its single round trip (the `cte=` form).
"""

from dataclasses import dataclass

from django.db import connection

from attestations.models import Attestation, Sighting
from attestations.storage.names import Table
from core.lookups import array_param
from registry import chip_writes
from registry.models import Chip

A, S, C = Table(Attestation), Table(Sighting), Table(Chip)


@dataclass(frozen=True)
class Seen:
    """A SQL source of (chip_id, seen, older_than) rows and its named parameters."""

    sql: str
    params: dict


def seen_at(chip_pks, when, stale_before, holder=None):
    """These chips, seen at `when`; a time already at `stale_before` or later is left as it is (so a node
    agent's every statement does not rewrite its chips' rows). With `holder` (an organisation's pk), only
    those it holds as the UPDATE runs: for a caller that read the chips before the log's lock (a sighting
    verifies only its custodian's chips)."""
    params = {"seen_chips": array_param(chip_pks), "seen_when": when, "seen_stale_before": stale_before}
    if holder is None:
        return Seen(
            "SELECT unnest(%(seen_chips)s::bigint[]), %(seen_when)s::timestamptz, %(seen_stale_before)s::timestamptz",
            params,
        )
    return Seen(
        f"SELECT k.{C.id}, %(seen_when)s::timestamptz, %(seen_stale_before)s::timestamptz FROM {C} k"  # noqa: S608
        f" WHERE k.{C.id} = ANY(%(seen_chips)s::bigint[]) AND k.{C.custodian} = %(seen_holder)s",
        {**params, "seen_holder": holder},
    )


# The latest sighting of each chip by the chip's custodian (or by a landmark's statement, which has no
# operator): another operator listing a chip it does not hold must not keep the holder's chip from
# looking silent.
_CUSTODIANS_SIGHTINGS = (
    f"SELECT g.{S.chip}, max(g.{S.observed_at}) AS seen, max(g.{S.observed_at})"  # noqa: S608
    f" FROM {S} g JOIN {A} a ON a.{A.id} = g.{S.attestation} JOIN {C} k ON k.{C.id} = g.{S.chip}"
    f" WHERE {{where}} AND (a.{A.operator} IS NULL OR a.{A.operator} = k.{C.custodian})"
    f" GROUP BY g.{S.chip}"
)


def seen_in_statement(attestation_id):
    """The chips of one statement's sightings (its custodians' own), at their sighting's time."""
    return Seen(
        _CUSTODIANS_SIGHTINGS.format(where=f"g.{S.attestation} = %(seen_statement)s"),
        {"seen_statement": attestation_id},
    )


def seen_since(chip_pks, since):
    """These chips' custodians' sightings since `since` (an index probe each on (chip, observed_at))."""
    return Seen(
        _CUSTODIANS_SIGHTINGS.format(
            where=f"g.{S.chip} = ANY(%(seen_chips)s::bigint[]) AND g.{S.observed_at} >= %(seen_since)s"
        ),
        {"seen_chips": array_param(chip_pks), "seen_since": since},
    )


def refresh_last_verified(seen, *, cte=None):
    """Move the last verification of the chips `seen` names: the number of chip rows moved.

    With `cte` (a name), nothing runs: returns (the UPDATE as a CTE of that name, its parameters),
    for a caller that composes it into its own single round trip (storage.ingest.after_append).
    """
    sql = chip_writes.fold_last_verified_sql(seen.sql)
    if cte is not None:
        return f"{cte} AS ({sql})", seen.params
    with connection.cursor() as cursor:
        cursor.execute(sql, seen.params)
        return cursor.rowcount
