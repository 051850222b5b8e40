"""ChipEvidence rows written in one COPY: an evidence statement of a thousand new chips writes a
thousand rows, and the ORM's bulk insert spends more on preparing values than the database on them."""

from django.db import connection

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


def copy_chip_evidence(rows):
    """Store unsaved ChipEvidence rows (psycopg escapes every value: details quote what a chain said)."""
    if not rows:
        return 0
    attnames = [ChipEvidence._meta.get_field(f).attname for f in _FIELDS]
    with connection.cursor() as cursor, connection.wrap_database_errors:
        with cursor.cursor.copy(f"COPY {E} ({E.columns(*_FIELDS)}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row([getattr(row, name) for name in attnames])
    return len(rows)
