"""Totals per subject, computed by the database and stored.

Counted: chips whose open placement is in the subject (clusters, facilities,
campuses) or whose custodian and country are the subject (operator within a
country), and whose status is live (manufactured or installed): a chip in
transit, decommissioned, destroyed, lost or stolen adds no capacity. Each
recompute computes the subjects it was asked for afresh (one GROUP BY per
scope, however many subjects) and rewrites the stored rows that differ, so the
stored value is always a recomputation, never a running sum that can drift.
"""

import json
from typing import NamedTuple

from django.conf import settings
from django.db import connection
from django.utils import timezone

from compliance.choices import Scope
from compliance.models import Aggregate
from registry.catalog import EPOCH_8BIT_TOPS_PER_H100E, TREATY_TPP_PER_H100E

LIVE_STATUSES = ("manufactured", "installed")
PRECISION_COLUMNS = {
    "fp64": "m.fp64_tflops",
    "fp32": "m.fp32_tflops",
    "tf32": "m.tf32_tflops",
    "bf16": "m.bf16_tflops",
    "fp8": "m.fp8_tflops",
    "int8": "m.int8_tops",
}


def _fastest_sql():
    # PostgreSQL's GREATEST is SQLite's multi-argument MAX.
    cols = ", ".join(f"COALESCE({c}, 0)" for c in PRECISION_COLUMNS.values())
    return f"GREATEST({cols})" if connection.vendor == "postgresql" else f"MAX({cols})"


def _h100e_sql():
    if settings.CHIPREG_H100E_CONVENTION == "epoch_8bit":
        best8 = (
            "GREATEST(COALESCE(m.fp8_tflops, 0), COALESCE(m.int8_tops, 0))"
            if connection.vendor == "postgresql"
            else "MAX(COALESCE(m.fp8_tflops, 0), COALESCE(m.int8_tops, 0))"
        )
        return f"SUM({best8}) / {EPOCH_8BIT_TOPS_PER_H100E}"
    return f"SUM(COALESCE(m.tpp, 0)) / {TREATY_TPP_PER_H100E}"


def _select():
    ops = ", ".join(f"SUM(COALESCE({col}, 0))" for col in PRECISION_COLUMNS.values())
    return (
        f"COUNT(*), SUM(COALESCE(m.tpp, 0)), {_h100e_sql()}, SUM(COALESCE(m.memory_gb, 0)), {ops}, "
        f"SUM({_fastest_sql()})"
    )


_LIVE = "c.status IN ('manufactured', 'installed')"
_PLACED = (
    "FROM inventory_placement p JOIN registry_chip c ON c.id = p.chip_id "
    "JOIN registry_acceleratormodel m ON m.id = c.model_id "
    "JOIN inventory_facility f ON f.id = p.facility_id "
    f"WHERE p.valid_to IS NULL AND {_LIVE}"
)

QUERIES = {
    Scope.FACILITY: ("p.facility_id", _PLACED, "p.facility_id"),
    Scope.CLUSTER: ("p.cluster_id", _PLACED + " AND p.cluster_id IS NOT NULL", "p.cluster_id"),
    Scope.CAMPUS: ("f.campus_id", _PLACED + " AND f.campus_id IS NOT NULL", "f.campus_id"),
    Scope.OPERATOR_COUNTRY: (
        "c.custodian_id || ':' || c.country",
        f"FROM registry_chip c JOIN registry_acceleratormodel m ON m.id = c.model_id WHERE {_LIVE} AND c.country <> ''",
        "c.custodian_id, c.country",
    ),
}
_SUBJECT_FILTER = {
    Scope.FACILITY: "p.facility_id",
    Scope.CLUSTER: "p.cluster_id",
    Scope.CAMPUS: "f.campus_id",
}


def _subject_filter(scope, keys, operator_col="c.custodian_id", country_col="c.country", column=None):
    """(SQL condition, params) limiting a query to these subjects.

    On PostgreSQL the keys travel as one array parameter (a full evaluation's
    10,000 clusters would otherwise be 10,000 parameters); elsewhere as a list.
    """
    if scope == Scope.OPERATOR_COUNTRY:
        pairs = [k.split(":") for k in keys]
        if connection.vendor == "postgresql":
            # The operators alone as well, so the planner can start from the custodian index.
            operators = [int(op) for op, _ in pairs]
            return (
                f"{operator_col} = ANY(%s::bigint[]) AND "  # noqa: S608
                f"({operator_col}, {country_col}) IN (SELECT * FROM unnest(%s::bigint[], %s::text[]))",
                [sorted(set(operators)), operators, [cc for _, cc in pairs]],
            )
        sql = " OR ".join(f"({operator_col} = %s AND {country_col} = %s)" for _ in pairs)
        return f"({sql})", [v for op, cc in pairs for v in (int(op), cc)]
    column = column or _SUBJECT_FILTER[scope]
    ints = [int(k) for k in keys]
    if connection.vendor == "postgresql":
        return f"{column} = ANY(%s::bigint[])", [ints]
    return f"{column} IN ({', '.join(['%s'] * len(ints))})", ints


def compute(scope, subject_keys=None):
    """{subject_key: totals dict} for the given subjects (all, when None), straight from SQL."""
    key_sql, from_where, group = QUERIES[scope]
    sql = f"SELECT {key_sql}, {_select()} {from_where}"
    params = []
    if subject_keys is not None:
        keys = list(subject_keys)
        if not keys:
            return {}
        condition, params = _subject_filter(scope, keys)
        sql += f" AND {condition}"
    sql += f" GROUP BY {group}"
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        rows = cursor.fetchall()
    out = {}
    for key, count, tpp, h100e, memory, *ops in rows:
        fastest = ops.pop()
        out[str(key)] = {
            "chip_count": count,
            "tpp": float(tpp or 0),
            "h100e": float(h100e or 0),
            "memory_gb": float(memory or 0),
            "ops": {
                **{p: float(v or 0) for p, v in zip(PRECISION_COLUMNS, ops, strict=True)},
                "fastest": float(fastest or 0),
            },
        }
    return out


_USAGE = {
    Scope.FACILITY: ("u.facility_id", "", "u.facility_id"),
    Scope.CAMPUS: ("f.campus_id", "JOIN inventory_facility f ON f.id = u.facility_id", "f.campus_id"),
    # A cluster's usage is that of the chips placed in it now (one open placement per chip).
    Scope.CLUSTER: (
        "p.cluster_id",
        "JOIN inventory_placement p ON p.chip_id = u.chip_id AND p.valid_to IS NULL",
        "p.cluster_id",
    ),
    Scope.OPERATOR_COUNTRY: (
        "c.custodian_id || ':' || c.country",
        "JOIN registry_chip c ON c.id = u.chip_id",
        "c.custodian_id, c.country",
    ),
}


def usage(scope, since, basis, subject_keys=None):
    """{subject_key: upper-bound FLOP} of the usage records whose period ends after `since`.

    The totals of evaluation.compute_in_window, for every subject (or these) in
    one GROUP BY: usage is attributed to the facility named in the statement, a
    campus's to its facilities, a cluster's to the chips now placed in it, an
    operator-country's to the chips the operator holds in that country.
    """
    key_sql, joins, group = _USAGE[scope]
    column = "u.flop_peak" if basis == "peak" else "u.flop_fp16"
    # Only constants are interpolated; values travel as parameters.
    sql = f"SELECT {key_sql}, SUM({column}) FROM attestations_usagerecord u {joins} WHERE u.period_end > %s"  # noqa: S608
    params = [connection.ops.adapt_datetimefield_value(since)]
    if scope != Scope.OPERATOR_COUNTRY:
        sql += f" AND {group} IS NOT NULL"
    if subject_keys is not None:
        keys = list(subject_keys)
        if not keys:
            return {}
        condition, more = _subject_filter(scope, keys, column=group)
        sql += f" AND {condition}"
        params += more
    with connection.cursor() as cursor:
        cursor.execute(f"{sql} GROUP BY {group}", params)
        return {str(key): float(total or 0.0) for key, total in cursor.fetchall()}


# --- stored rows -------------------------------------------------------------------


class Row(NamedTuple):
    """What an Aggregate row holds (or is to hold), comparable with ==."""

    label: str
    country: str
    operator_id: int | None
    chip_count: int
    tpp: float
    h100e: float
    memory_gb: float
    ops: dict


VALUE_FIELDS = ("chip_count", "tpp", "h100e", "memory_gb", "ops")
EMPTY = {"chip_count": 0, "tpp": 0.0, "h100e": 0.0, "memory_gb": 0.0, "ops": {}}


class Refreshed(NamedTuple):
    """A refresh's result: the computed totals (subjects holding chips) and every stored row it covers."""

    totals: dict
    rows: dict


def refresh(scope, subject_keys=None):
    """Recompute and store the aggregates of these subjects (all, when None).

    Every subject asked for gets a row (an incremental refresh stores zeros for
    a subject that holds nothing now); a full refresh covers every subject that
    holds chips and empties the stored rows of those that no longer do. Labels,
    countries and operators are refreshed with the values. Only the rows whose
    content differs from what is stored are written, so a steady-state
    periodic evaluation writes nothing.
    """
    totals = compute(scope, subject_keys)
    keys = set(totals) if subject_keys is None else {str(k) for k in subject_keys}
    stored = _stored(scope, None if subject_keys is None else keys)
    if subject_keys is None:
        keys |= set(stored)  # a full refresh also empties subjects that no longer hold anything
    labels = _labels(scope, keys)
    rows = {}
    for key in keys:
        label, country, operator_id = labels.get(key, (key, "", None))
        rows[key] = Row(label, country, operator_id, **totals.get(key, EMPTY))
    _write(scope, {k: row for k, row in rows.items() if stored.get(k) != row}, stored)
    return Refreshed(totals, rows)


def _stored(scope, keys=None):
    """{subject_key: Row} of the stored aggregates of this scope (of these subjects, when given)."""
    rows = Aggregate.objects.filter(scope=scope)
    if keys is not None:
        rows = rows.filter(subject_key__any=list(keys))
    return {
        key: Row(*values)
        for key, *values in rows.values_list("subject_key", "label", "country", "operator_id", *VALUE_FIELDS)
    }


def _write(scope, rows, stored):
    """Store these rows (new, or differing from what is stored), in subject order.

    One INSERT ... ON CONFLICT DO UPDATE from arrays on PostgreSQL: a
    concurrent evaluation of the same subjects meets at the unique
    (scope, subject_key) and the later one wins, row by row in the same order
    (so two of them cannot deadlock). Elsewhere, bulk create and bulk update.
    """
    if not rows:
        return
    now = timezone.now()
    keys = sorted(rows)
    if connection.vendor == "postgresql":
        columns = [list(column) for column in zip(*(rows[k] for k in keys), strict=True)]
        *head, ops = columns
        with connection.cursor() as cursor:
            cursor.execute(_UPSERT, [scope, now, keys, *head, [json.dumps(o) for o in ops]])
        return
    create = [Aggregate(scope=scope, subject_key=k, **rows[k]._asdict()) for k in keys if k not in stored]
    Aggregate.objects.bulk_create(create, batch_size=2000, ignore_conflicts=True)
    update = {k: rows[k] for k in keys if k in stored}
    existing = list(Aggregate.objects.filter(scope=scope, subject_key__any=list(update)))
    for aggregate in existing:
        for field, value in update[aggregate.subject_key]._asdict().items():
            setattr(aggregate, field, value)
        aggregate.updated_at = now
    Aggregate.objects.bulk_update(existing, [*Row._fields, "updated_at"], batch_size=2000)


_UPSERT = """
INSERT INTO compliance_aggregate
    (scope, updated_at, subject_key, label, country, operator_id, chip_count, tpp, h100e, memory_gb, ops)
SELECT %s, %s, u.*
FROM unnest(%s::text[], %s::text[], %s::text[], %s::bigint[], %s::bigint[], %s::float8[], %s::float8[],
            %s::float8[], %s::jsonb[]) AS u
ON CONFLICT (scope, subject_key) DO UPDATE SET
    label = EXCLUDED.label, country = EXCLUDED.country, operator_id = EXCLUDED.operator_id,
    chip_count = EXCLUDED.chip_count, tpp = EXCLUDED.tpp, h100e = EXCLUDED.h100e,
    memory_gb = EXCLUDED.memory_gb, ops = EXCLUDED.ops, updated_at = EXCLUDED.updated_at
"""


def labels(scope, keys):
    """{subject_key: (label, country, operator id)}, the default (key, "", None) for unknown subjects."""
    found = _labels(scope, set(keys))
    return {k: found.get(k, (k, "", None)) for k in keys}


def _labels(scope, keys):
    """{subject_key: (label, country, operator id)} for display and access control."""
    from inventory.models import Campus, Cluster, Facility
    from registry.models import Organisation

    ints = [int(k) for k in keys if k.isdigit()]
    if scope == Scope.FACILITY:
        return {
            str(pk): (code, cc, op)
            for pk, code, cc, op in Facility.objects.filter(pk__any=ints).values_list(
                "pk", "code", "country", "operator"
            )
        }
    if scope == Scope.CLUSTER:
        rows = Cluster.objects.filter(pk__any=ints).values_list(
            "pk", "facility__code", "code", "facility__country", "facility__operator"
        )
        return {str(pk): (f"{fac}/{code}", cc, op) for pk, fac, code, cc, op in rows}
    if scope == Scope.CAMPUS:
        out = {}
        for campus in Campus.objects.filter(pk__any=ints).prefetch_related("facilities"):
            facilities = list(campus.facilities.all())
            countries = {f.country for f in facilities}
            operators = {f.operator_id for f in facilities}
            out[str(campus.pk)] = (
                campus.code,
                countries.pop() if len(countries) == 1 else "",
                operators.pop() if len(operators) == 1 else None,
            )
        return out
    codes = dict(
        Organisation.objects.filter(pk__any=list({int(k.split(":")[0]) for k in keys})).values_list("pk", "code")
    )
    return {
        k: (f"{codes.get(int(k.split(':')[0]), '?')} in {k.split(':')[1]}", k.split(":")[1], int(k.split(":")[0]))
        for k in keys
    }


_WITH_MAKER = (
    "JOIN registry_acceleratormodel m ON m.id = c.model_id JOIN registry_organisation mf ON mf.id = c.manufacturer_id"
)


def chips_in(scope, subject_key):
    """(public id, placement source, source id, log index, subject) of every chip counted for a subject."""
    return chips_in_many(scope, [subject_key]).get(str(subject_key), [])


def chips_in_many(scope, subject_keys):
    """{subject_key: chips_in rows}: for many subjects, one query.

    The subject comes last in each row, as text from the database, so the
    rows (a million for a first evaluation) are grouped as they arrive.
    """
    key_sql, from_where, _ = QUERIES[scope]
    from_where = from_where.replace("JOIN registry_acceleratormodel m ON m.id = c.model_id", _WITH_MAKER)
    keys = list(subject_keys)
    if not keys:
        return {}
    condition, params = _subject_filter(scope, keys)
    if scope == Scope.OPERATOR_COUNTRY:
        columns = "mf.code || ':' || c.serial, '', '', NULL"
    else:
        columns = "mf.code || ':' || c.serial, p.source, p.source_id, p.log_index"
    out = {}
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {columns}, CAST({key_sql} AS TEXT) {from_where} AND {condition}", params)
        for row in cursor.fetchall():
            out.setdefault(row[4], []).append(row)
    return out
