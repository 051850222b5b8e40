"""Hand-written SQL for the queries every statement runs (see core.rawsql for why).

A node agent's statement of a few chips is a dozen small queries; built by
the ORM each costs about a millisecond of the web worker's time, most of the
request. These spell the same queries once. Each has the ORM's version as
its specification beside its caller, which the portable path (SQLite) still
runs; tests/attestations compare the two.
"""

from functools import cache

from django.db import connection

from attestations.models import SigningKey
from core.lookups import array_param
from core.rawsql import Columns, execute, fetch_all, fetch_one, set_related
from inventory.models import Facility
from registry.choices import OrgKind
from registry.models import Organisation


def enabled():
    return connection.vendor == "postgresql"


@cache
def _keys_query():
    key = Columns(SigningKey, "k")
    return f"SELECT {key.sql} FROM attestations_signingkey k WHERE k.keyid = ANY(%s::text[])", key  # noqa: S608


def keys_by_id(keyids):
    """{keyid: SigningKey} of the registered keys among `keyids`."""
    sql, key = _keys_query()
    return {k.keyid: k for k in (key.load(row) for row in fetch_all(sql, [list(keyids)]))}


@cache
def _places_query():
    facility, operator, speaker = Columns(Facility, "f"), Columns(Organisation, "fo"), Columns(Organisation, "s")
    sql = (
        f"SELECT {facility.sql}, {operator.sql}, {speaker.sql} FROM (SELECT 1) one"  # noqa: S608
        " LEFT JOIN inventory_facility f ON f.code = %s"
        " LEFT JOIN registry_organisation fo ON fo.id = f.operator_id"
        " LEFT JOIN registry_organisation s ON s.code = %s AND s.kind = %s"
    )
    return sql, facility, operator, speaker


def facility_and_operator(facility_code, operator_code):
    """(the facility, its operator loaded with it, or None; the speaking operator organisation or None)."""
    sql, facility_cols, operator_cols, speaker_cols = _places_query()
    row = fetch_one(sql, [facility_code, operator_code, str(OrgKind.OPERATOR)])
    facility = facility_cols.load(row)
    if facility is not None:
        set_related(facility, "operator", operator_cols.load(row, facility_cols.width))
    return facility, speaker_cols.load(row, facility_cols.width + operator_cols.width)


_ATTESTATION_COLUMNS = (
    "kind",
    "statement_sha256",
    "envelope",
    "keyids",
    "operator_id",
    "landmark_id",
    "facility_id",
    "issued_at",
    "nonce",
    "header",
    "scope",
    "observed_at",
    "period_start",
    "period_end",
    "chip_count",
    "received_at",
    "uploaded_by_id",
    "uploaded_by_org_id",
    "flagged",
)


def insert_attestation(att, body):
    """Store the statement's row and its (keyid, nonce) pairs in one round trip; set att.pk.

    The envelope goes as a binary parameter: Django's cursors bind client-side, which spells a
    bytea value as hex inside the SQL text (for a 65 MB envelope, hundreds of MB of strings at once).
    A replayed nonce or statement raises IntegrityError, as the ORM's inserts would.
    """
    from psycopg.types.json import Jsonb

    values = {c: getattr(att, c) for c in _ATTESTATION_COLUMNS}
    values["envelope"] = bytes(body)
    values["keyids"], values["header"] = Jsonb(att.keyids), Jsonb(att.header)
    placeholders = ", ".join("%b" if c == "envelope" else "%s" for c in _ATTESTATION_COLUMNS)
    sql = (
        f"WITH a AS (INSERT INTO attestations_attestation ({', '.join(_ATTESTATION_COLUMNS)})"  # noqa: S608
        f" VALUES ({placeholders}) RETURNING id)"
        " INSERT INTO attestations_statementnonce (keyid, nonce, attestation_id)"
        " SELECT k, %s, a.id FROM a, unnest(%s::text[]) k RETURNING attestation_id"
    )
    import psycopg

    with connection.cursor() as cursor, connection.wrap_database_errors:  # psycopg's errors as Django's
        raw = psycopg.Cursor(cursor.connection)
        raw.execute(sql, [*values.values(), att.nonce, list(att.keyids)])
        att.pk = raw.fetchone()[0]
    att._state.adding = False
    att._state.db = connection.alias


def set_log_index(attestation_id, log_index):
    execute("UPDATE attestations_attestation SET log_index = %s WHERE id = %s", [log_index, attestation_id])


# The other places a chip was seen or placed near a time: findings.movement's two ORM queries as one,
# sightings before placements as there (the first conflict found for a chip names its finding).
_ELSEWHERE = """
SELECT 0 AS source, s.chip_id, f.latitude, f.longitude, s.observed_at
  FROM attestations_sighting s JOIN inventory_facility f ON f.id = s.facility_id
 WHERE s.chip_id = ANY(%(chips)s::bigint[]) AND s.observed_at BETWEEN %(lo)s AND %(hi)s
   AND s.facility_id <> %(facility)s AND s.attestation_id <> %(attestation)s
UNION ALL
SELECT 1, p.chip_id, f.latitude, f.longitude, p.valid_from
  FROM inventory_placement p JOIN inventory_facility f ON f.id = p.facility_id
 WHERE p.chip_id = ANY(%(chips)s::bigint[]) AND p.valid_from BETWEEN %(lo)s AND %(hi)s
   AND (p.valid_to IS NULL OR p.valid_to > %(when)s) AND p.facility_id <> %(facility)s
 ORDER BY source
"""


def seen_elsewhere(chip_pks, facility_id, attestation_id, when, lo, hi):
    """(chip pk, latitude, longitude, time) of the chips' sightings and placements outside the facility."""
    params = {"chips": array_param(chip_pks), "lo": lo, "hi": hi, "when": when, "facility": facility_id}
    return [row[1:] for row in fetch_all(_ELSEWHERE, {**params, "attestation": attestation_id})]


def cluster_ids(facility_id):
    """{cluster code: pk} of the facility's clusters."""
    return dict(fetch_all("SELECT code, id FROM inventory_cluster WHERE facility_id = %s", [facility_id]))


def insert_sightings(attestation_id, facility_id, observed_at, chip_pks, chip_refs, cluster_codes):
    """A few sighting rows in one prepared INSERT (the arrays are zipped by unnest)."""
    execute(
        "INSERT INTO attestations_sighting"
        " (attestation_id, chip_id, chip_ref, cluster_code, facility_id, observed_at)"
        " SELECT %s, unnest(%s::bigint[]), unnest(%s::text[]), unnest(%s::text[]), %s, %s",
        [attestation_id, chip_pks, chip_refs, cluster_codes, facility_id, observed_at],
    )
