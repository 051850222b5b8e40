"""Hand-written SQL for the queries every statement runs (see core.rawsql for why).

A node agent's statement of a few chips is a dozen small queries; built by
the ORM each costs about a millisecond of the web worker's time, most of the
request. These spell the same queries once. Each has the ORM's version as
its specification beside its caller, which the portable path (SQLite) still
runs; tests/attestations compare the two.
"""

import json
from dataclasses import dataclass
from datetime import timedelta
from functools import cache

from django.conf import settings
from django.db import connection

from attestations.models import Attestation, SigningKey
from core.lookups import array_param
from core.rawsql import Columns, execute, fetch_all, set_related
from inventory.models import Facility
from registry.choices import OrgKind
from registry.models import Organisation


def enabled():
    return connection.vendor == "postgresql"


@cache
def _verification_query():
    facility, operator, speaker = Columns(Facility, "f"), Columns(Organisation, "fo"), Columns(Organisation, "s")
    key = Columns(SigningKey, "k")
    sql = (
        f"SELECT {facility.sql}, {operator.sql}, {speaker.sql}, c.clusters, {key.sql} FROM (SELECT 1) one"  # noqa: S608
        " LEFT JOIN inventory_facility f ON f.code = %s"
        " LEFT JOIN registry_organisation fo ON fo.id = f.operator_id"
        " LEFT JOIN registry_organisation s ON s.code = %s AND s.kind = %s"
        " LEFT JOIN LATERAL (SELECT json_object_agg(code, id) FROM inventory_cluster WHERE facility_id = f.id)"
        "  c(clusters) ON true"
        " LEFT JOIN attestations_signingkey k ON k.keyid = ANY(%s::text[])"
    )
    return sql, facility, operator, speaker, key


@dataclass
class Registered:
    """What the registry holds for a statement, read in one round trip before its checks run."""

    keys: dict  # keyid -> SigningKey, the registered ones among the envelope's
    facility: Facility | None  # with its operator loaded
    speaker: Organisation | None  # the operator organisation of that code
    clusters: dict  # the facility's {cluster code: pk}


def registered(keyids, facility_code, operator_code):
    """The registered keys among `keyids`, the facility of that code (with its operator and clusters)
    and the operator organisation of that code."""
    sql, facility_cols, operator_cols, speaker_cols, key_cols = _verification_query()
    rows = fetch_all(sql, [facility_code, operator_code, str(OrgKind.OPERATOR), list(keyids)])
    first = rows[0]
    facility = facility_cols.load(first)
    if facility is not None:
        set_related(facility, "operator", operator_cols.load(first, facility_cols.width))
    at = facility_cols.width + operator_cols.width
    speaker = speaker_cols.load(first, at)
    clusters = first[at + speaker_cols.width] or {}
    if isinstance(clusters, str):
        clusters = json.loads(clusters)
    key_at = at + speaker_cols.width + 1
    keys = {k.keyid: k for k in (key_cols.load(row, key_at) for row in rows) if k is not None}
    return Registered(keys, facility, speaker, {code: int(pk) for code, pk in clusters.items()})


# Every column of the statement's row but the two the database or the log give it.
_ATTESTATION_FIELDS = tuple(f for f in Attestation._meta.concrete_fields if f.attname not in ("id", "log_index"))
_ATTESTATION_COLUMNS = tuple(f.column for f in _ATTESTATION_FIELDS)


def _row_values(att, body):
    from psycopg.types.json import Jsonb

    values = {f.column: getattr(att, f.attname) for f in _ATTESTATION_FIELDS}
    values["envelope"] = bytes(body)
    values["keyids"], values["header"] = Jsonb(att.keyids), Jsonb(att.header)
    return values


def _attestation_insert(att, body, with_row=True):
    """The statement's id as CTE `a` (its row inserted, or only its id taken from the sequence) and the
    INSERT of its (keyid, nonce) pairs as CTE `n`; and their parameters. The nonces' foreign key is
    checked at the commit, so a row inserted later in the transaction (row_after_append) satisfies it."""
    nonces = (
        " n AS (INSERT INTO attestations_statementnonce (keyid, nonce, attestation_id)"
        " SELECT k, %s, a.id FROM a, unnest(%s::text[]) k)"
    )
    if not with_row:
        sql = "a AS (SELECT nextval(pg_get_serial_sequence('attestations_attestation', 'id')) AS id)," + nonces
        return sql, [att.nonce, list(att.keyids)]
    values = _row_values(att, body)
    placeholders = ", ".join("%b" if c == "envelope" else "%s" for c in _ATTESTATION_COLUMNS)
    sql = (
        f"a AS (INSERT INTO attestations_attestation ({', '.join(_ATTESTATION_COLUMNS)})"  # noqa: S608
        f" VALUES ({placeholders}) RETURNING id)," + nonces
    )
    return sql, [*values.values(), att.nonce, list(att.keyids)]


def _row_after_append(att, body):
    """The INSERT of the statement's row with its log index (id taken before: insert_location), as a CTE,
    and its named parameters: inserted once, rather than inserted and then updated (a new version
    of the row in each of its indexes)."""
    values = {f"a_{c}": v for c, v in _row_values(att, body).items()}
    placeholders = ", ".join(f"%(a_{c})b" if c == "envelope" else f"%(a_{c})s" for c in _ATTESTATION_COLUMNS)
    sql = (
        f"logged AS (INSERT INTO attestations_attestation (id, log_index, {', '.join(_ATTESTATION_COLUMNS)})"  # noqa: S608
        f" VALUES (%(attestation)s, %(log_index)s, {placeholders}))"
    )
    return sql, values


def _raw_fetchall(sql, params):
    """With psycopg's own cursor: the envelope is a binary parameter (Django's cursors bind client-side,
    which spells a bytea value as hex inside the SQL text: for a 65 MB envelope, hundreds of MB of
    strings at once)."""
    import psycopg

    with connection.cursor() as cursor, connection.wrap_database_errors:  # psycopg's errors as Django's
        raw = psycopg.Cursor(cursor.connection)
        raw.execute(sql, params)
        return raw.fetchall()


def _stored(att, attestation_id):
    att.pk = attestation_id
    att._state.adding = False
    att._state.db = connection.alias


def insert_attestation(att, body):
    """Store the statement's row and its (keyid, nonce) pairs in one round trip; set att.pk.

    A replayed nonce or statement raises IntegrityError, as the ORM's inserts would.
    """
    sql, params = _attestation_insert(att, body)
    _stored(att, _raw_fetchall(f"WITH {sql} SELECT id FROM a", params)[0][0])  # noqa: S608


def insert_location(att, body, chips, with_row=True):
    """A small location statement in one round trip: its row (unless `with_row` is false: then only
    its id, and after_append inserts the row), its nonces, its chips resolved against the registry
    (inventory.chiprefs.resolve_chips's rule: a chip id is the manufacturer's code, a colon, the
    serial) and one sighting row per chip. Sets att.pk; returns
    {chip id: (pk, custodian_id, status, country)} of the registered chips.
    """
    head, params = _attestation_insert(att, body, with_row)
    refs, clusters, makers, serials = [], [], [], []
    for ref, cluster in chips:
        maker, _, serial = ref.partition(":")
        refs.append(ref)
        clusters.append(cluster or "")
        makers.append(maker)
        serials.append(serial)
    # Only the CTEs above are formatted in; every value is a parameter.
    sql = (
        f"WITH {head},"  # noqa: S608
        " r AS (SELECT u.ord, u.ref, u.cluster, c.id, c.custodian_id, c.status, c.country"
        "  FROM unnest(%s::text[], %s::text[], %s::text[], %s::text[])"
        "   WITH ORDINALITY AS u(ref, cluster, maker, serial, ord)"
        "  LEFT JOIN registry_organisation m ON m.code = u.maker AND m.kind = %s"
        "  LEFT JOIN registry_chip c ON c.manufacturer_id = m.id AND c.serial = u.serial),"
        " s AS (INSERT INTO attestations_sighting"
        "  (attestation_id, chip_id, chip_ref, cluster_code, facility_id, observed_at)"
        "  SELECT a.id, r.id, r.ref, r.cluster, %s, %s FROM a, r ORDER BY r.ord)"
        " SELECT a.id, r.ref, r.id, r.custodian_id, r.status, r.country FROM a LEFT JOIN r ON r.id IS NOT NULL"
    )
    params += [refs, clusters, makers, serials, str(OrgKind.MANUFACTURER), att.facility_id, att.observed_at]
    rows = _raw_fetchall(sql, params)
    _stored(att, rows[0][0])
    return {ref: (pk, custodian_id, status, country) for _, ref, pk, custodian_id, status, country in rows if pk}


def set_log_index(attestation_id, log_index):
    execute("UPDATE attestations_attestation SET log_index = %s WHERE id = %s", [log_index, attestation_id])


# The other places a chip was seen or placed near a time: findings.movement's two ORM queries as one,
# sightings only by the chip's custodian or a landmark (findings._elsewhere says why),
# sightings (source 0) before placements (source 1) as there (the first conflict found for a chip names
# its finding). Three more columns, NULL here, carry open placements in _AFTER_APPEND.
_ELSEWHERE_ROWS = """
SELECT 0 AS source, s.chip_id, f.latitude, f.longitude, s.observed_at, NULL::bigint, NULL::bigint, NULL::bigint
  FROM attestations_sighting s JOIN inventory_facility f ON f.id = s.facility_id
  JOIN attestations_attestation a ON a.id = s.attestation_id JOIN registry_chip k ON k.id = s.chip_id
 WHERE s.chip_id = ANY(%(chips)s::bigint[]) AND s.observed_at BETWEEN %(lo)s AND %(hi)s
   AND s.facility_id <> %(facility)s AND s.attestation_id <> %(attestation)s
   AND (a.operator_id IS NULL OR a.operator_id = k.custodian_id)
UNION ALL
SELECT 1, p.chip_id, f.latitude, f.longitude, p.valid_from, NULL, NULL, NULL
  FROM inventory_placement p JOIN inventory_facility f ON f.id = p.facility_id
 WHERE p.chip_id = ANY(%(chips)s::bigint[]) AND p.valid_from BETWEEN %(lo)s AND %(hi)s
   AND (p.valid_to IS NULL OR p.valid_to > %(when)s) AND p.facility_id <> %(facility)s
"""
_ELSEWHERE = _ELSEWHERE_ROWS + " ORDER BY source"


def _elsewhere_params(chip_pks, facility_id, attestation_id, when, window):
    return {
        "chips": array_param(chip_pks),
        "lo": when - window,
        "hi": when + window,
        "when": when,
        "facility": facility_id,
        "attestation": attestation_id,
    }


def seen_elsewhere(chip_pks, facility_id, attestation_id, when, window):
    """(chip pk, latitude, longitude, time) of the chips' sightings and placements outside the facility
    within `window` of `when`."""
    rows = fetch_all(_ELSEWHERE, _elsewhere_params(chip_pks, facility_id, attestation_id, when, window))
    return [row[1:5] for row in rows]


# What a small partial location statement needs after its append, in one round trip: its row stored
# with its log index, its chips' last verification moved on (listings.refresh_verification's rule,
# once it is CHIPREG_VERIFICATION_RESOLUTION_S old), the other places its chips were seen or placed
# near the time (source 0 and 1) and their open placements (placements._open_rows, source 2).
_AFTER_APPEND = "".join(
    (
        """
WITH {logged}, verified AS (
    UPDATE registry_chip SET last_verified_at = %(when)s
     WHERE id = ANY(%(verified)s::bigint[]) AND (last_verified_at IS NULL OR last_verified_at < %(stale_before)s)
)""",
        _ELSEWHERE_ROWS,
        """UNION ALL
SELECT 2, p.chip_id, NULL, NULL, p.valid_from, p.id, p.facility_id, p.cluster_id
  FROM inventory_placement p
 WHERE p.chip_id = ANY(%(chips)s::bigint[]) AND p.valid_to IS NULL
 ORDER BY source
""",
    )
)


def verification_resolution():
    """How much older a chip's last verification must be before a small statement moves it."""
    return timedelta(seconds=settings.CHIPREG_VERIFICATION_RESOLUTION_S)


def after_append(att, body, facility_id, when, window, chip_pks, verified_pks):
    """Store the statement's row with its log index and move the last verification of `verified_pks` (the
    speaker's own chips among `chip_pks`); (rows as seen_elsewhere returns them for `chip_pks`, open
    placements as placements._open_rows returns them at `when`)."""
    logged, row = _row_after_append(att, body)
    rows = _raw_fetchall(
        _AFTER_APPEND.replace("{logged}", logged),
        {
            **row,
            **_elsewhere_params(chip_pks, facility_id, att.pk, when, window),
            "log_index": att.log_index,
            "verified": array_param(verified_pks),
            "stale_before": when - verification_resolution(),
        },
    )
    elsewhere = [(chip, lat, lon, at) for source, chip, lat, lon, at, *_ in rows if source < 2]
    open_rows = [(pk, chip, fac, clu, since > when) for source, chip, _, _, since, pk, fac, clu in rows if source == 2]
    return elsewhere, open_rows
