"""The one write of a challenge by the statement that uses it (HARDWARE.md 1: one accepted statement each).

A conditional UPDATE: of concurrent statements with one challenge exactly one wins (the other waits on the
row, then finds it used). `use_sql` gives it as a CTE for the caller to compose into its own round trip
(storage.ingest.insert_location: an evidence statement's id, nonces, chips and challenge at once).
"""

from attestations.models import Challenge
from attestations.storage.names import Table

C = Table(Challenge)

# {attestation} is the statement's id as SQL: a subquery of the caller's CTE.
_USE = (
    f"UPDATE {C} SET {C.used_at} = %s, {C.used_by} = {{attestation}}"  # noqa: S608
    f" WHERE {C.id} = %s AND {C.used_at} IS NULL RETURNING {C.id}"
)


def use_sql(challenge_pk, when, attestation_sql):
    """(the UPDATE, its positional parameters), the statement's id given as SQL (`attestation_sql`, which
    takes no parameter)."""
    return _USE.replace("{attestation}", attestation_sql), [when, challenge_pk]
