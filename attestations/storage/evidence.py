"""ChipEvidence rows, written by one INSERT from arrays composed into the evidence statement's round trip
after its append (insert_sql): an evidence statement of a thousand new chips writes a thousand rows, and
the ORM's bulk insert spends more on preparing values than the database on them."""

from attestations.models import ChipEvidence
from attestations.storage.names import Table

E = Table(ChipEvidence)
_FIELDS = (
    "attestation",
    "chip",
    "chip_ref",
    "observed_at",
    "outcome",
    "step",
    "detail",
    "identity",
    "key_sha256",
    "fwid",
    "driver_version",
    "enrolled",
)


_TYPES = {
    "attestation": "bigint",
    "chip": "bigint",
    "observed_at": "timestamptz",
    "enrolled": "boolean",
}


def insert_sql(rows):
    """(the INSERT of these unsaved rows as one statement from arrays, its named parameters e_*): for a
    caller that composes it into its own round trip (`WITH evidence AS (<this>) ...`)."""
    attnames = [ChipEvidence._meta.get_field(f).attname for f in _FIELDS]
    params = {f"e_{f}": [getattr(row, name) for row in rows] for f, name in zip(_FIELDS, attnames, strict=True)}
    arrays = ", ".join(f"%(e_{f})s::{_TYPES.get(f, 'text')}[]" for f in _FIELDS)
    sql = f"INSERT INTO {E} ({E.columns(*_FIELDS)}) SELECT * FROM unnest({arrays})"  # noqa: S608
    return sql, params
