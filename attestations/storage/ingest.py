"""The statements every accepted statement runs, spelled once (see core.rawsql for why).

A node agent's statement of a few chips is a dozen small queries; built by
the ORM each costs about a millisecond of the web worker's time, most of the
request. These spell the same queries once, in as few round trips as the
ingest allows: `registered` before the checks, `insert_location` (row, nonces,
chips, sightings) before the log's append, `after_append` after it. Each has
its ORM equivalent in tests/attestations/test_storage.py, run on the same rows.
"""

import json
from dataclasses import dataclass
from functools import cache

from django.db import connection

from attestations.models import Attestation, ChiplessSighting, Sighting, SigningKey, StatementNonce
from attestations.storage import challenges
from attestations.storage import chips as chip_rows
from attestations.storage.names import Table
from core.copy import copy_lines, text_value
from core.lookups import array_param
from core.rawsql import Columns, execute, fetch_all, set_related
from inventory.models import Cluster, Facility, Placement
from registry import chip_writes
from registry.choices import OrgKind
from registry.models import Chip, Organisation
from transparency.models import LogHead

A, N, S, S0 = Table(Attestation), Table(StatementNonce), Table(Sighting), Table(ChiplessSighting)
F, CL, P = Table(Facility), Table(Cluster), Table(Placement)
ORG, CH, K, HEAD = Table(Organisation), Table(Chip), Table(SigningKey), Table(LogHead)


@cache
def _verification_query():
    facility, operator, speaker = Columns(Facility, "f"), Columns(Organisation, "fo"), Columns(Organisation, "s")
    key = Columns(SigningKey, "k")
    sql = (
        f"SELECT {facility.sql}, {operator.sql}, {speaker.sql}, c.clusters, {key.sql} FROM (SELECT 1) one"  # noqa: S608
        f" LEFT JOIN {F} f ON f.{F.code} = %s"
        f" LEFT JOIN {ORG} fo ON fo.{ORG.id} = f.{F.operator}"
        f" LEFT JOIN {ORG} s ON s.{ORG.code} = %s AND s.{ORG.kind} = %s"
        f" LEFT JOIN LATERAL (SELECT json_object_agg({CL.code}, {CL.id}) FROM {CL} WHERE {CL.facility} = f.{F.id})"
        "  c(clusters) ON true"
        f" LEFT JOIN {K} k ON k.{K.keyid} = ANY(%s::text[])"
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
_ENVELOPE, _KEYIDS, _HEADER = A.envelope, A.keyids, A.header


def _row_values(att, body):
    from psycopg.types.json import Jsonb

    values = {f.column: getattr(att, f.attname) for f in _ATTESTATION_FIELDS}
    values[_ENVELOPE] = bytes(body)
    values[_KEYIDS], values[_HEADER] = Jsonb(att.keyids), Jsonb(att.header)
    return values


def _attestation_insert(att, body, with_row=True):
    """The statement's id as CTE `a` (its row inserted, or only its id taken from the sequence) and the
    INSERT of its (keyid, nonce) pairs as CTE `n`; and their parameters. The nonces' foreign key is
    checked at the commit, so a row inserted later in the transaction (after_append) satisfies it."""
    nonces = (
        f" n AS (INSERT INTO {N} ({N.columns('keyid', 'nonce', 'attestation')})"  # noqa: S608
        " SELECT k, %s, a.id FROM a, unnest(%s::text[]) k)"
    )
    if not with_row:
        sql = f"a AS (SELECT nextval(pg_get_serial_sequence('{A}', '{A.id}')) AS id)," + nonces
        return sql, [att.nonce, list(att.keyids)]
    values = _row_values(att, body)
    placeholders = ", ".join("%b" if c == _ENVELOPE else "%s" for c in _ATTESTATION_COLUMNS)
    sql = (
        f"a AS (INSERT INTO {A} ({', '.join(_ATTESTATION_COLUMNS)})"  # noqa: S608
        f" VALUES ({placeholders}) RETURNING {A.id} AS id)," + nonces
    )
    return sql, [*values.values(), att.nonce, list(att.keyids)]


def _row_after_append(att, body):
    """The INSERT of the statement's row with its log index (id taken before: insert_location), as a CTE,
    and its named parameters: inserted once, rather than inserted and then updated (a new version
    of the row in each of its indexes)."""
    values = {f"a_{c}": v for c, v in _row_values(att, body).items()}
    placeholders = ", ".join(f"%(a_{c})b" if c == _ENVELOPE else f"%(a_{c})s" for c in _ATTESTATION_COLUMNS)
    sql = (
        f"logged AS (INSERT INTO {A} ({A.id}, {A.log_index}, {', '.join(_ATTESTATION_COLUMNS)})"  # noqa: S608
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


@dataclass
class Located:
    """insert_location's answer."""

    found: dict  # {chip id: (pk, custodian_id, status, country)} of the registered chips
    mark: int  # the log's size as the chips were read (before them, in the same snapshot)
    won: bool | None = None  # with a challenge: whether the statement used it


def insert_location(att, body, chips, with_row=True, sightings=True, challenge=None):
    """A small location statement in one round trip: its row (unless `with_row` is false: then only
    its id, and after_append inserts the row), its nonces, its chips resolved against the registry
    (inventory.chiprefs.resolve_chips's rule: a chip id is the manufacturer's code, a colon, the
    serial) and one sighting row per chip (a ChiplessSighting where the registry knows no such chip, in
    the same statement); without `sightings`, the chips only resolved (an evidence statement's: which it
    sights depends on their evidence). With `challenge` (a Challenge's pk and the time), the statement uses
    it too (storage.challenges.use_sql). Sets att.pk; returns a Located.
    """
    head, params = _attestation_insert(att, body, with_row)
    refs, clusters, makers, serials = [], [], [], []
    for ref, cluster in chips:
        maker, _, serial = ref.partition(":")
        refs.append(ref)
        clusters.append(cluster or "")
        makers.append(maker)
        serials.append(serial)
    # Only names and the CTEs above are formatted in; every value is a parameter.
    sql = (
        f"WITH {head},"  # noqa: S608
        f" r AS (SELECT u.ord, u.ref, u.cluster, c.{CH.id} AS id, c.{CH.custodian} AS custodian_id,"
        f"  c.{CH.status} AS status, c.{CH.country} AS country"
        "  FROM unnest(%s::text[], %s::text[], %s::text[], %s::text[])"
        "   WITH ORDINALITY AS u(ref, cluster, maker, serial, ord)"
        f"  LEFT JOIN {ORG} m ON m.{ORG.code} = u.maker AND m.{ORG.kind} = %s"
        f"  LEFT JOIN {CH} c ON c.{CH.manufacturer} = m.{ORG.id} AND c.{CH.serial} = u.serial)"
    )
    sighted = (
        f", s AS (INSERT INTO {S}"  # noqa: S608
        f"  ({S.columns('attestation', 'chip', 'chip_ref', 'cluster_code', 'facility', 'observed_at')})"
        "  SELECT a.id, r.id, r.ref, r.cluster, %s, %s FROM a, r WHERE r.id IS NOT NULL ORDER BY r.ord),"
        f" s0 AS (INSERT INTO {S0} ({S0.columns('attestation', 'chip_ref', 'cluster_code', 'facility', 'observed_at')})"
        "  SELECT a.id, r.ref, r.cluster, %s, %s FROM a, r WHERE r.id IS NULL ORDER BY r.ord)"
    )
    # The log's size in the same snapshot as the chips: what changed them since is logged at it or later.
    answer = (
        " SELECT a.id, r.ref, r.id, r.custodian_id, r.status, r.country, {won},"  # noqa: S608
        f" (SELECT {HEAD.size} FROM {HEAD} WHERE {HEAD.id} = 1)"
        " FROM a LEFT JOIN r ON r.id IS NOT NULL"
    )
    params += [refs, clusters, makers, serials, str(OrgKind.MANUFACTURER)]
    if sightings:
        sql += sighted
        params += [att.facility_id, att.observed_at] * 2
    if challenge is not None:
        use, use_params = challenges.use_sql(*challenge, "(SELECT id FROM a)")
        sql += f", ch AS ({use})"
        params += use_params
    rows = _raw_fetchall(sql + answer.format(won="(SELECT count(*) FROM ch)" if challenge else "0"), params)
    _stored(att, rows[0][0])
    found = {ref: (pk, custodian, status, country) for _, ref, pk, custodian, status, country, *_ in rows if pk}
    return Located(found, rows[0][7] or 0, (rows[0][6] == 1) if challenge is not None else None)


_SIGHTING_COPY_FIELDS = ("attestation", "chip", "chip_ref", "cluster_code", "facility", "observed_at")
_CHIPLESS_COPY_FIELDS = ("attestation", "chip_ref", "cluster_code", "facility", "observed_at")


def copy_sightings(attestation_id, facility_id, observed_at, rows):
    """COPY one statement's sighting rows: `rows` yields (chip pk or None, chip id, cluster code or None).
    The rows of chips the registry does not know (pk None), set aside in the same pass, are COPYed to
    ChiplessSighting after (only when there are any). Returns the count of both.

    Chip ids and cluster codes passed the statement parser's patterns (CHIP_ID_RE, REGISTRY_CODE_RE),
    which admit no tab, newline or backslash: safe as COPY text, written unescaped (core.copy)."""
    head = f"{attestation_id}\t"
    tail = f"\t{facility_id}\t{text_value(observed_at)}\n"
    chipless = []

    def known():
        for pk, ref, cluster in rows:
            if pk is None:
                chipless.append(f"{head}{ref}\t{cluster or ''}{tail}")
            else:
                yield f"{head}{pk}\t{ref}\t{cluster or ''}{tail}"

    with connection.cursor() as cursor:
        count = copy_lines(cursor.cursor, str(S), [getattr(S, f) for f in _SIGHTING_COPY_FIELDS], known())
        if chipless:
            count += copy_lines(cursor.cursor, str(S0), [getattr(S0, f) for f in _CHIPLESS_COPY_FIELDS], chipless)
        return count


_SET_LOG_INDEX = f"UPDATE {A} SET {A.log_index} = %s WHERE {A.id} = %s"  # noqa: S608


def set_log_index(attestation_id, log_index):
    execute(_SET_LOG_INDEX, [log_index, attestation_id])


# The other places a chip was seen or placed near a time: findings.movement's two ORM queries as one,
# sightings only by the chip's custodian or a landmark, and those and placements only at the custodian's
# sites (findings._elsewhere says why),
# sightings (source 0) before placements (source 1) as there (the first conflict found for a chip names
# its finding). Three more columns, NULL here, carry open placements in _AFTER_APPEND.
# Each chip is looked up by its own index (a LATERAL subquery the planner cannot flatten: OFFSET 0), so
# the cost follows the statement's chips, whatever the planner thinks of the time window: with the
# chips as `= ANY(array)` it judged a fresh table's window small and scanned it whole for every chunk
# of chips (100 scans of every sighting and placement for a million-chip statement).
# Whose sighting it was is asked of each sighting found (EXISTS, by primary keys), not joined: joined,
# the planner built two hash tables for every chip probed (a third of a million-chip statement's
# movement check), and once a sighting was found it hashed the whole chip table to check its custodian.
_ELSEWHERE_ROWS = f"""
SELECT 0 AS source, s.{S.chip}, f.{F.latitude}, f.{F.longitude}, s.{S.observed_at},
       NULL::bigint, NULL::bigint, NULL::bigint
  FROM unnest(%(chips)s::bigint[]) u(chip)
  CROSS JOIN LATERAL (
    SELECT s.{S.chip}, s.{S.facility}, s.{S.attestation}, s.{S.observed_at} FROM {S} s
     WHERE s.{S.chip} = u.chip AND s.{S.observed_at} BETWEEN %(lo)s AND %(hi)s
       AND s.{S.facility} <> %(facility)s AND s.{S.attestation} <> %(attestation)s OFFSET 0) s
  CROSS JOIN LATERAL (
    SELECT f.{F.latitude}, f.{F.longitude}, f.{F.operator} FROM {F} f WHERE f.{F.id} = s.{S.facility}) f
 WHERE EXISTS (SELECT 1 FROM {A} a JOIN {CH} k ON k.{CH.id} = s.{S.chip}
                WHERE a.{A.id} = s.{S.attestation} AND f.{F.operator} = k.{CH.custodian}
                  AND (a.{A.operator} IS NULL OR a.{A.operator} = k.{CH.custodian}))
UNION ALL
SELECT 1, p.{P.chip}, f.{F.latitude}, f.{F.longitude}, p.{P.valid_from}, NULL, NULL, NULL
  FROM unnest(%(chips)s::bigint[]) u(chip)
  CROSS JOIN LATERAL (
    SELECT p.{P.chip}, p.{P.facility}, p.{P.valid_from} FROM {P} p
     WHERE p.{P.chip} = u.chip AND p.{P.valid_from} BETWEEN %(lo)s AND %(hi)s
       AND (p.{P.valid_to} IS NULL OR p.{P.valid_to} > %(when)s) AND p.{P.facility} <> %(facility)s OFFSET 0) p
  JOIN {F} f ON f.{F.id} = p.{P.facility}
 WHERE EXISTS (SELECT 1 FROM {CH} k WHERE k.{CH.id} = p.{P.chip} AND k.{CH.custodian} = f.{F.operator})
"""  # noqa: S608
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
# with its log index, its chips' last verification moved on (chips.refresh_last_verified, as a CTE),
# the other places its chips were seen or placed near the time (source 0 and 1) and their open
# placements (inventory.storage.open_placements, source 2).
_OPEN_ROWS = f"""UNION ALL
SELECT 2, p.{P.chip}, NULL, NULL, p.{P.valid_from}, p.{P.id}, p.{P.facility}, p.{P.cluster}
  FROM {P} p
 WHERE p.{P.chip} = ANY(%(chips)s::bigint[]) AND p.{P.valid_to} IS NULL
 ORDER BY source
"""  # noqa: S608
_SEEN_AND_PLACED = _ELSEWHERE_ROWS + _OPEN_ROWS
# And (source 3) the chips whose custody or status changed since the statement resolved them: logged from its
# mark (insert_location) to before its own entry (registry.chip_writes.changed_between).
_CHANGED_ROWS = (
    "UNION ALL SELECT 3, changed.chip, NULL, NULL, NULL, NULL, NULL, NULL FROM ("  # noqa: S608
    + chip_writes.changed_among_sql("mark", "log_index", "changed_kinds", "chips")
    + ") changed(chip)"
)
# And (source 4) the statement's keys that are not valid now at its issued_at or its receipt (a revocation or
# retirement committed since its checks read them: attestations.checks.recheck_keys, which says which and why).
_STALE_KEY_ROWS = (
    f"UNION ALL SELECT 4, k.{K.id}, NULL, NULL, NULL, NULL, NULL, NULL FROM {K} k"  # noqa: S608
    f" WHERE k.{K.keyid} = ANY(%(keyids)s::text[]) AND (k.{K.valid_from} > %(key_earliest)s"
    f" OR k.{K.retired_at} <= %(key_latest)s OR k.{K.revoked_since} <= %(key_latest)s)"
)
_AFTER_APPEND = "WITH {logged}, {verified}" + _ELSEWHERE_ROWS + _CHANGED_ROWS + _STALE_KEY_ROWS + _OPEN_ROWS


def _split(rows, when):
    elsewhere = [(chip, lat, lon, at) for source, chip, lat, lon, at, *_ in rows if source < 2]
    open_rows = [(pk, chip, fac, clu, since > when) for source, chip, _, _, since, pk, fac, clu in rows if source == 2]
    return elsewhere, open_rows


# An evidence statement's sightings, of the chips it placed: each in the cluster it is placed in there
# already (evidence names none), read in the same statement as the placements kinds.evidence reads.
_EVIDENCE_SIGHTINGS = f"""
 sighted AS (INSERT INTO {S} ({S.columns("attestation", "chip", "chip_ref", "cluster_code", "facility", "observed_at")})
  SELECT %(attestation)s, u.chip, u.ref, COALESCE(c.{CL.code}, ''), %(facility)s, %(when)s
    FROM unnest(%(sighted_chips)s::bigint[], %(sighted_refs)s::text[]) WITH ORDINALITY AS u(chip, ref, ord)
    LEFT JOIN {P} p ON p.{P.chip} = u.chip AND p.{P.valid_to} IS NULL AND p.{P.facility} = %(facility)s
    LEFT JOIN {CL} c ON c.{CL.id} = p.{P.cluster}
   ORDER BY u.ord),
 sighted0 AS (INSERT INTO {S0} ({S0.columns("attestation", "chip_ref", "cluster_code", "facility", "observed_at")})
  SELECT %(attestation)s, u.ref, '', %(facility)s, %(when)s
    FROM unnest(%(unknown_refs)s::text[]) WITH ORDINALITY AS u(ref, ord) ORDER BY u.ord)"""  # noqa: S608


def evidence_after_append(att, body, sighted, facility_id, when, window, proved, evidence):
    """An evidence statement's writes and reads after its append, in one round trip: its row stored with
    its log index (insert_location took only its id), the chip UPDATE `proved` and the INSERT of its
    evidence rows `evidence` run ((sql, named parameters) each: chip_writes.proved_sql,
    core.bulk.insert_sql), one sighting per chip of `sighted` ((pk or None, chip id), the chips
    it places); and (rows as seen_elsewhere returns them for those chips, open placements as
    inventory.storage.open_placements returns them at `when`)."""
    logged, row = _row_after_append(att, body)
    proved_sql, proved_params = proved
    evidence_sql, evidence_params = evidence
    known = [(pk, ref) for pk, ref in sighted if pk is not None]
    chip_pks = [pk for pk, _ in known]
    rows = _raw_fetchall(
        f"WITH {logged}, proved AS ({proved_sql}), evidence AS ({evidence_sql}), {_EVIDENCE_SIGHTINGS}"
        f" {_SEEN_AND_PLACED}",
        {
            **row,
            **proved_params,
            **evidence_params,
            **_elsewhere_params(chip_pks, facility_id, att.pk, when, window),
            "sighted_chips": chip_pks,
            "sighted_refs": [ref for _, ref in known],
            "unknown_refs": [ref for pk, ref in sighted if pk is None],
            "log_index": att.log_index,
        },
    )
    return _split(rows, when)


def after_append(att, body, facility_id, when, window, chip_pks, holder, stale_before, mark, keys):
    """Store the statement's row with its log index and move the last verification of those of `chip_pks`
    that `holder` (the speaker) holds now to `when` where it is older than `stale_before`; (rows as
    seen_elsewhere returns them for `chip_pks`, open placements as inventory.storage.open_placements returns them
    at `when`, the pks of the chips among `chip_pks` whose custody or status changed under the log entries
    from `mark` (the log's size when they were resolved) to before the statement's own, whether any of `keys`
    (keyids, earliest and latest instant: issued_at and receipt) is not valid now at either instant)."""
    keyids, earliest, latest = keys
    logged, row = _row_after_append(att, body)
    verified, verified_params = chip_rows.refresh_last_verified(
        chip_rows.seen_at(chip_pks, when, stale_before, holder=holder), cte="verified"
    )
    rows = _raw_fetchall(
        _AFTER_APPEND.replace("{logged}", logged).replace("{verified}", verified),
        {
            **row,
            **verified_params,
            **_elsewhere_params(chip_pks, facility_id, att.pk, when, window),
            "log_index": att.log_index,
            "mark": mark,
            "changed_kinds": chip_writes.changed_kinds(),
            "keyids": list(keyids),
            "key_earliest": earliest,
            "key_latest": latest,
        },
    )
    elsewhere, open_rows = _split(rows, when)
    return elsewhere, open_rows, {row[1] for row in rows if row[0] == 3}, any(row[0] == 4 for row in rows)
