"""Compliance's hand-written SQL: the totals per subject, the stored aggregates, new alerts.

Each statement is named here and run by one function with a plain signature;
table and column names come from the models (the SQL below names them by
placeholders: {chip}, {c_status}, ...). tests/compliance/test_storage.py runs
each function against its ORM equivalent on the same rows.

Why hand-written: a full evaluation totals every subject of a scope in one
GROUP BY over every placed chip, and writes thousands of aggregate rows in
one statement; the ORM would build an annotated query per subject or a CASE
per row.
"""

import json
from contextlib import contextmanager
from functools import cache

from django.conf import settings
from django.db import connection

from attestations.bases import record_field
from compliance.choices import Scope
from core.rawsql import execute, fetch_all
from core.turns import turn
from registry.catalog import EPOCH_8BIT_TOPS_PER_H100E, THROUGHPUT, TREATY_TPP_PER_H100E

LIVE_STATUSES = ("manufactured", "installed")
# precision -> the model's field holding its dense peak (the catalog's precisions, FP6 and FP4 included)
PRECISION_FIELDS = {precision: field for precision, (field, _) in THROUGHPUT.items()}


def _c(model, name):
    return model._meta.get_field(name).column


@cache
def _names():
    from attestations.models import AnyUsageRecord, Attestation, UsageRecord
    from compliance.models import Aggregate
    from inventory.models import Facility, Placement
    from registry.models import AcceleratorModel, Chip, Organisation

    out = {
        "placement": Placement._meta.db_table,
        "chip": Chip._meta.db_table,
        "model": AcceleratorModel._meta.db_table,
        "facility": Facility._meta.db_table,
        "org": Organisation._meta.db_table,
        "usage": UsageRecord._meta.db_table,
        "usage_all": AnyUsageRecord._meta.db_table,
        "attestation": Attestation._meta.db_table,
        "aggregate": Aggregate._meta.db_table,
    }
    for prefix, model, fields in (
        (
            "p",
            Placement,
            ("id", "chip", "facility", "cluster", "valid_from", "valid_to", "source", "source_id", "log_index"),
        ),
        ("c", Chip, ("id", "model", "status", "custodian", "country", "serial", "manufacturer")),
        ("m", AcceleratorModel, ("id", "tpp", "memory_gb", *PRECISION_FIELDS.values())),
        ("f", Facility, ("id", "campus", "review", "operator", "country")),
        ("o", Organisation, ("id", "code")),
        (
            "u",
            UsageRecord,
            (
                "chip",
                "chip_ref",
                "facility",
                "period_start",
                "period_end",
                "flop_peak",
                "flop_fp16",
                "run",
                "workload",
                "attestation",
            ),
        ),
        ("at", Attestation, ("id", "log_index")),
    ):
        out.update({f"{prefix}_{f}": _c(model, f) for f in fields})
    values = ("label", "country", "operator", "chip_count", "tpp", "h100e", "memory_gb", "ops", "updated_at")
    out["a_columns"] = ", ".join(_c(Aggregate, f) for f in ("scope", "updated_at", "subject_key", *values[:-1]))
    out["a_set"] = ", ".join(f"{_c(Aggregate, f)} = EXCLUDED.{_c(Aggregate, f)}" for f in values)
    out["a_scope"], out["a_subject_key"] = _c(Aggregate, "scope"), _c(Aggregate, "subject_key")
    return out


@cache
def _sql(template):
    """A statement's text with the model's names filled in (once per statement)."""
    return template.format(**_names())


# --- totals per subject -----------------------------------------------------------------------


def _h100e_sql():
    if settings.CHIPREG_H100E_CONVENTION == "epoch_8bit":
        best8 = "GREATEST(COALESCE(m.{m_fp8_tflops}, 0), COALESCE(m.{m_int8_tops}, 0))"
        return f"SUM({best8}) / {EPOCH_8BIT_TOPS_PER_H100E}"
    return f"SUM(COALESCE(m.{{m_tpp}}, 0)) / {TREATY_TPP_PER_H100E}"


def _select():
    """count, tpp, h100e, memory, one sum per precision, and the sum of each chip's fastest precision."""
    ops = [f"COALESCE(m.{{m_{field}}}, 0)" for field in PRECISION_FIELDS.values()]
    return (
        f"COUNT(*), SUM(COALESCE(m.{{m_tpp}}, 0)), {_h100e_sql()}, SUM(COALESCE(m.{{m_memory_gb}}, 0)), "
        + ", ".join(f"SUM({o})" for o in ops)
        + f", SUM(GREATEST({', '.join(ops)}))"
    )


_LIVE = "c.{c_status} IN ('manufactured', 'installed')"
# By holder and country, a chip in transit still counts: its holder's, in the country it left, until its
# receiver confirms it (a shipment never confirmed must not park chips out of Article V's count).
_HELD = "c.{c_status} IN ('manufactured', 'installed', 'in_transit')"
_WITH_MAKER = "JOIN {model} m ON m.{m_id} = c.{c_model} JOIN {org} mf ON mf.{o_id} = c.{c_manufacturer}"
_PLACED = (
    "FROM {placement} p JOIN {chip} c ON c.{c_id} = p.{p_chip} "
    "JOIN {model} m ON m.{m_id} = c.{c_model} "
    "JOIN {facility} f ON f.{f_id} = p.{p_facility} "
    f"WHERE p.{{p_valid_to}} IS NULL AND {_LIVE}"
)
# scope -> (the subject's key, FROM ... WHERE, GROUP BY)
_TOTALS = {
    Scope.FACILITY: ("p.{p_facility}", _PLACED, "p.{p_facility}"),
    Scope.CLUSTER: ("p.{p_cluster}", _PLACED + " AND p.{p_cluster} IS NOT NULL", "p.{p_cluster}"),
    Scope.CAMPUS: ("f.{f_campus}", _PLACED + " AND f.{f_campus} IS NOT NULL", "f.{f_campus}"),
    Scope.OPERATOR_COUNTRY: (
        "c.{c_custodian} || ':' || c.{c_country}",
        f"FROM {{chip}} c JOIN {{model}} m ON m.{{m_id}} = c.{{c_model}} WHERE {_HELD} AND c.{{c_country}} <> ''",
        "c.{c_custodian}, c.{c_country}",
    ),
    # The custodian's live chips in a country that no facility the treaty body accepted holds: placed in a
    # facility declared or refused, or placed nowhere (draft agreement, Article V).
    Scope.UNACCEPTED_HOLDINGS: (
        "c.{c_custodian} || ':' || c.{c_country}",
        "FROM {chip} c JOIN {model} m ON m.{m_id} = c.{c_model} "
        "LEFT JOIN {placement} p ON p.{p_chip} = c.{c_id} AND p.{p_valid_to} IS NULL "
        "LEFT JOIN {facility} f ON f.{f_id} = p.{p_facility} "
        f"WHERE {_HELD} AND c.{{c_country}} <> '' AND f.{{f_review}} IS DISTINCT FROM 'accepted'",
        "c.{c_custodian}, c.{c_country}",
    ),
}
_BY_OPERATOR_COUNTRY = (Scope.OPERATOR_COUNTRY, Scope.UNACCEPTED_HOLDINGS)
_SUBJECT_COLUMN = {
    Scope.FACILITY: "p.{p_facility}",
    Scope.CLUSTER: "p.{p_cluster}",
    Scope.CAMPUS: "f.{f_campus}",
}


def _subject_filter(scope, keys, column=None):
    """(SQL condition, params) limiting a query to these subjects: the keys as array parameters (a full
    evaluation's 10,000 clusters would otherwise be 10,000 parameters). `column`: the subject's column, or
    its operator and country columns ("op, country") for the operator-country scopes (default the chip's
    custodian and country)."""
    if scope in _BY_OPERATOR_COUNTRY:
        pairs = [k.split(":") for k in keys]
        operator, country = (column or "c.{c_custodian}, c.{c_country}").split(", ")
        # The operators alone as well, so the planner can start from the operator's index.
        operators = [int(op) for op, _ in pairs]
        # Only the model's column names are formatted in (the keys travel as parameters).
        return (
            f"{operator} = ANY(%s::bigint[]) AND "  # noqa: S608
            f"({operator}, {country}) IN (SELECT * FROM unnest(%s::bigint[], %s::text[]))",
            [sorted(set(operators)), operators, [cc for _, cc in pairs]],
        )
    return f"{column or _SUBJECT_COLUMN[scope]} = ANY(%s::bigint[])", [[int(k) for k in keys]]


def site_totals(facility_ids=None):
    """(facility id, cluster id or None, chip count, tpp, h100e, memory_gb, one sum per PRECISION_FIELDS,
    fastest) of the live chips placed in each site (a facility's chips outside any cluster are the row with
    no cluster), of these facilities when given: what compliance.covered adds up into connected sites."""
    sql = f"SELECT p.{{p_facility}}, p.{{p_cluster}}, {_select()} {_PLACED}"
    params = []
    if facility_ids is not None:
        sql += " AND p.{p_facility} = ANY(%s::bigint[])"
        params = [sorted(int(f) for f in facility_ids)]
    return fetch_all(_sql(f"{sql} GROUP BY p.{{p_facility}}, p.{{p_cluster}}"), params)


def site_chips(facility_ids):
    """(public id, placement source, source id, log index, facility id, cluster id or None) of every live chip
    placed in these facilities."""
    from_where = _PLACED.replace("JOIN {model} m ON m.{m_id} = c.{c_model}", _WITH_MAKER)
    columns = "mf.{o_code} || ':' || c.{c_serial}, p.{p_source}, p.{p_source_id}, p.{p_log_index}"
    sql = f"SELECT {columns}, p.{{p_facility}}, p.{{p_cluster}} {from_where} AND p.{{p_facility}} = ANY(%s::bigint[])"
    return fetch_all(_sql(sql), [sorted(int(f) for f in facility_ids)])


def totals(scope, subject_keys=None):
    """(subject key, chip count, tpp, h100e, memory_gb, one sum per PRECISION_FIELDS, fastest) of the live
    chips counted for each subject of `scope` holding any (of these subjects, when given)."""
    key_sql, from_where, group = _TOTALS[scope]
    sql = f"SELECT {key_sql}, {_select()} {from_where}"
    params = []
    if subject_keys is not None:
        condition, params = _subject_filter(scope, subject_keys)
        sql += f" AND {condition}"
    return fetch_all(_sql(f"{sql} GROUP BY {group}"), params)


# A placement p in force at some time in the usage record u's period (inventory.models.placements.in_force_during).
_PLACED_DURING = (
    "(p.{p_valid_from} < u.{u_period_end} AND (p.{p_valid_to} IS NULL OR p.{p_valid_to} > u.{u_period_start}))"
)
# ...at a facility of the record's speaker (uf: the facility the record names, which its statement's speaker runs:
# ATTESTATION.md's facility_not_operated). The books are the speaker's word only where it held the chips: a later
# holder's report of a time the chips were another's at another's site says nothing of that site.
_OWN_PLACEMENT = "JOIN {facility} pf ON pf.{f_id} = p.{p_facility} AND pf.{f_operator} = uf.{f_operator}"
# scope -> (the subject's key, the records and their joins, GROUP BY). A facility's and a campus's usage is every
# record at its facilities, bound to a chip or kept by reference (the view of both tables, AnyUsageRecord).
_USAGE = {
    Scope.FACILITY: ("u.{u_facility}", "{usage_all} u", "u.{u_facility}"),
    Scope.CAMPUS: ("f.{f_campus}", "{usage_all} u JOIN {facility} f ON f.{f_id} = u.{u_facility}", "f.{f_campus}"),
    # A cluster's usage is that of the chips placed in it while the work was done (a placement overlapping the
    # record's period, at the speaker's own facility), that of the chips placed in it now reported at its
    # facility (work declared before its chips were), and that of the chips whose last placement at the record's
    # facility begun before the period ended is in it (a later move dated back before the work, by a
    # declaration, a statement or a shipment filed before the work was, leaves the work where the books had the
    # chips at that facility). Each record counts once per cluster. What chips did at another holder's site
    # before they came is not the cluster's (an operator cannot hand a rival its month of training with the
    # chips), nor is what a later holder says they did here (it cannot blame the seller); moving them away after
    # the work, or naming another facility in the statement, does not take it out.
    Scope.CLUSTER: (
        "p.{p_cluster}",
        "{usage} u JOIN {facility} uf ON uf.{f_id} = u.{u_facility}"  # noqa: S608
        " JOIN LATERAL (SELECT p.{p_cluster} FROM {placement} p"
        f" {_OWN_PLACEMENT} WHERE p.{{p_chip}} = u.{{u_chip}}"
        f" AND p.{{p_cluster}} IS NOT NULL AND ({_PLACED_DURING} OR (p.{{p_valid_to}} IS NULL"
        " AND p.{p_facility} = u.{u_facility}))"
        " UNION SELECT q.{p_cluster} FROM (SELECT q.{p_cluster} FROM {placement} q WHERE q.{p_chip} = u.{u_chip}"
        " AND q.{p_facility} = u.{u_facility} AND q.{p_valid_from} < u.{u_period_end}"
        " ORDER BY q.{p_valid_from} DESC, q.{p_id} DESC LIMIT 1) q WHERE q.{p_cluster} IS NOT NULL) p ON TRUE",
        "p.{p_cluster}",
    ),
    # An operator-country's, that of the facilities the operator runs in that country, and of the chips placed
    # in them while the work was done, by the operator's own statements (whatever facility they name): the work
    # stays where it was done, whoever holds the chips now, and reporting it at a facility across a border does
    # not move it; another operator's word about the chips' time there counts in its own totals, not this one's.
    Scope.OPERATOR_COUNTRY: (
        "f.{f_operator} || ':' || f.{f_country}",
        "{usage_all} u JOIN {facility} uf ON uf.{f_id} = u.{u_facility}"  # noqa: S608
        " JOIN LATERAL (SELECT uf.{f_operator}, uf.{f_country} UNION SELECT pf.{f_operator}, pf.{f_country}"
        f" FROM {{placement}} p {_OWN_PLACEMENT} WHERE p.{{p_chip}} = u.{{u_chip}} AND {_PLACED_DURING}"
        ") f ON TRUE",
        "f.{f_operator}, f.{f_country}",
    ),
}


def _flop_column(basis):
    """The usage record's column holding the bound on `basis` (attestations.bases)."""
    return "u.{u_" + record_field(basis) + "}"


# A usage record counts in a window when its period ended in it or its statement, filed late, arrived in it
# (`late`: those statements' ids, attestations.windows).
_IN_WINDOW = "(u.{u_period_end} > %s OR u.{u_attestation} = ANY(%s::bigint[]))"


def usage_totals(scope, since, late, basis, subject_keys=None, unattributed_workloads=None):
    """(subject key, sum of the upper-bound FLOP) of the usage records counted in the window opening at `since`
    (their period ends after it, or they belong to `late`, the statements received after it about earlier
    periods: attestations.windows); `basis` one of attestations.bases.Basis. With `unattributed_workloads`
    (a list of workload labels, "" for a statement that named none), only the records attributed to no run
    and of those workloads."""
    return _usage_sums(scope, basis, _IN_WINDOW, [since, list(late)], subject_keys, unattributed_workloads)


def usage_by_end(scope, basis, subject_keys, unattributed_workloads, *, between=None, statements=None):
    """(subject key, period end, sum of the upper-bound FLOP) of the usage records whose period ends in
    `between` ((after, until]), or of the `statements` (ids) named: compliance.late_windows' reads, the
    records around a late statement's period end. Otherwise as usage_totals."""
    if statements is not None:
        condition, params = "u.{u_attestation} = ANY(%s::bigint[])", [list(statements)]
    else:
        condition, params = "u.{u_period_end} > %s AND u.{u_period_end} <= %s", list(between)
    return _usage_sums(scope, basis, condition, params, subject_keys, unattributed_workloads, by_end=True)


def _usage_sums(scope, basis, condition, params, subject_keys, unattributed_workloads, by_end=False):
    key_sql, records, group = _USAGE[scope]
    column = _flop_column(basis)
    end = ", u.{u_period_end}" if by_end else ""
    # Only names and constants are formatted in; values travel as parameters.
    sql = f"SELECT {key_sql}{end}, SUM({column}) FROM {records} WHERE {condition}"  # noqa: S608
    params = list(params)
    if unattributed_workloads is not None:
        sql += " AND u.{u_run} IS NULL AND u.{u_workload} = ANY(%s::text[])"
        params.append(list(unattributed_workloads))
    if scope != Scope.OPERATOR_COUNTRY:
        sql += f" AND {group} IS NOT NULL"
    if subject_keys is not None:
        condition, more = _subject_filter(scope, subject_keys, column=group)
        sql += f" AND {condition}"
        params += more
    return fetch_all(_sql(f"{sql} GROUP BY {group}{end}"), params)


_UNATTRIBUTED_SOURCES = (
    "SELECT u.{{u_chip_ref}}, 'attestation', CAST(u.{{u_attestation}} AS TEXT), at.{{at_log_index}},"
    " CAST({key} AS TEXT) FROM {records} JOIN {{attestation}} at ON at.{{at_id}} = u.{{u_attestation}}"
    " WHERE (u.{{u_period_end}} > %s OR u.{{u_attestation}} = ANY(%s::bigint[])"  # _IN_WINDOW
    " OR (u.{{u_period_end}} > %s AND u.{{u_period_end}} <= %s))"
    " AND u.{{u_run}} IS NULL AND u.{{u_workload}} = ANY(%s::text[]) AND {condition}"
)


def unattributed_sources(scope, since, late, workloads, subject_keys, also=None):
    """(chip reference, 'attestation', statement id, its log index, subject key as text) of every usage
    record an unattributed_compute rule counts for these subjects (facility or cluster scope): the
    evidence of its alerts, in one query. `also` ((after, until]): the records whose period ends in it too
    (the fullest window around a late statement: compliance.late_windows)."""
    key_sql, records, group = _USAGE[scope]
    condition, params = _subject_filter(scope, subject_keys, column=group)
    # Double braces survive the first format (the key and the records' FROM), single ones are filled by _sql.
    template = _UNATTRIBUTED_SOURCES.format(key=key_sql, records=records, condition=condition)
    after, until = also or (None, None)
    return fetch_all(_sql(template), [since, list(late), after, until, list(workloads), *params])


_WITH_MAKER = "JOIN {model} m ON m.{m_id} = c.{c_model} JOIN {org} mf ON mf.{o_id} = c.{c_manufacturer}"


def chips_in_many(scope, subject_keys):
    """(public id, placement source, source id, log index, subject key as text) of every chip counted for
    these subjects, in one query."""
    key_sql, from_where, _ = _TOTALS[scope]
    from_where = from_where.replace("JOIN {model} m ON m.{m_id} = c.{c_model}", _WITH_MAKER)
    condition, params = _subject_filter(scope, subject_keys)
    if scope == Scope.OPERATOR_COUNTRY:
        columns = "mf.{o_code} || ':' || c.{c_serial}, '', '', NULL"
    else:
        columns = "mf.{o_code} || ':' || c.{c_serial}, p.{p_source}, p.{p_source_id}, p.{p_log_index}"
    return fetch_all(_sql(f"SELECT {columns}, CAST({key_sql} AS TEXT) {from_where} AND {condition}"), params)


# --- stored aggregates --------------------------------------------------------------------------

# A concurrent evaluation of the same subjects meets at the unique (scope, subject_key) and the later
# one wins, row by row in the same order (so two of them cannot deadlock).
_UPSERT_AGGREGATES = """
INSERT INTO {aggregate} ({a_columns})
SELECT %s, %s, u.*
FROM unnest(%s::text[], %s::text[], %s::text[], %s::bigint[], %s::bigint[], %s::float8[], %s::float8[],
            %s::float8[], %s::jsonb[]) AS u
ON CONFLICT ({a_scope}, {a_subject_key}) DO UPDATE SET {a_set}
"""


def upsert_aggregates(scope, now, rows):
    """Store these rows ((subject key, label, country, operator_id, chip_count, tpp, h100e, memory_gb,
    ops dict), in the order given: pass them sorted) in one INSERT ... ON CONFLICT DO UPDATE."""
    if not rows:
        return
    keys, *head, ops = (list(column) for column in zip(*rows, strict=True))
    execute(_sql(_UPSERT_AGGREGATES), [scope, now, keys, *head, [json.dumps(o) for o in ops]])


# --- alerts -------------------------------------------------------------------------------------


def insert_alerts(alerts):
    """INSERT these unsaved Alert instances, skipping any whose (group, scope, subject_key) exists already;
    return (id, group, subject_key) of those inserted (bulk_create(ignore_conflicts=True) would not say)."""
    from compliance.models import Alert

    fields = [f for f in Alert._meta.concrete_fields if not f.primary_key]
    quote = connection.ops.quote_name
    row = f"({', '.join(['%s'] * len(fields))})"
    # Names from the model; values travel as parameters.
    table, columns = quote(Alert._meta.db_table), ", ".join(quote(f.column) for f in fields)
    key = ", ".join(quote(_c(Alert, f)) for f in ("group", "scope", "subject_key"))
    returning = ", ".join(quote(_c(Alert, f)) for f in ("id", "group", "subject_key"))
    sql = (
        f"INSERT INTO {table} ({columns}) VALUES {', '.join([row] * len(alerts))} "  # noqa: S608
        f"ON CONFLICT ({key}) DO NOTHING RETURNING {returning}"
    )
    params = [f.get_db_prep_save(getattr(a, f.attname), connection) for a in alerts for f in fields]
    return fetch_all(sql, params)


@cache
def _set_log_indices_sql():
    from compliance.models import Alert

    quote = connection.ops.quote_name
    table, log_index, pk = quote(Alert._meta.db_table), quote(_c(Alert, "log_index")), quote(_c(Alert, "id"))
    return (
        f"UPDATE {table} a SET {log_index} = %s + u.n - 1"  # noqa: S608
        f" FROM unnest(%s::bigint[]) WITH ORDINALITY AS u(id, n) WHERE a.{pk} = u.id"
    )


def set_alert_log_indices(alert_pks, first):
    """Alert i of `alert_pks` gets the log index first + i, in one UPDATE (bulk_update's CASE costs more in
    Django's expressions than in the database)."""
    execute(_set_log_indices_sql(), [first, list(alert_pks)])


def lock_rule_key(table, key):
    """One declaration of a rule's `key` at a time, until the transaction ends: the current version is locked
    by its row, but a new key has none, and two first declarations would both make version 1."""
    execute("SELECT pg_advisory_xact_lock(hashtext('chipreg:rule:' || %s || ':' || %s))", [table, key])


@contextmanager
def evaluation_turn(scope):
    """One evaluation of `scope` at a time, across workers: each reads the totals, stores them and decides its
    alerts from them, so a slower one that read earlier would otherwise store older totals over a newer one's
    and clear or raise alerts from them. core.turns.turn: a session lock released even when the evaluation
    fails (its own error kept), a transaction lock inside an outer transaction (eager mode)."""
    with turn(f"chipreg:evaluate:{scope}"):
        yield
