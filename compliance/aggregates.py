"""Totals per subject, computed by the database and stored.

Counted: chips whose open placement is in the subject (clusters, facilities,
campuses) or whose custodian and country are the subject (operator within a
country), and whose status is live (manufactured or installed): a chip in
transit, decommissioned, destroyed, lost or stolen adds no capacity. Each
recompute replaces the stored row of the subjects it was asked for, so the
stored value is always a recomputation, never a running sum that can drift.
"""

from django.conf import settings
from django.db import connection

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


def compute(scope, subject_keys=None):
    """{subject_key: totals dict} for the given subjects (all, when None), straight from SQL."""
    key_sql, from_where, group = QUERIES[scope]
    sql = f"SELECT {key_sql}, {_select()} {from_where}"
    params = []
    if subject_keys is not None:
        keys = list(subject_keys)
        if not keys:
            return {}
        if scope == Scope.OPERATOR_COUNTRY:
            pairs = [k.split(":") for k in keys]
            sql += " AND (" + " OR ".join("(c.custodian_id = %s AND c.country = %s)" for _ in pairs) + ")"
            params = [v for op, cc in pairs for v in (int(op), cc)]
        else:
            sql += f" AND {_SUBJECT_FILTER[scope]} IN ({', '.join(['%s'] * len(keys))})"
            params = [int(k) for k in keys]
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


def refresh(scope, subject_keys=None):
    """Recompute and store the aggregates of these subjects (all, when None). Returns the totals."""
    totals = compute(scope, subject_keys)
    keys = set(totals) if subject_keys is None else {str(k) for k in subject_keys}
    labels = _labels(scope, keys)
    existing = {a.subject_key: a for a in Aggregate.objects.filter(scope=scope, subject_key__in=keys)}
    if subject_keys is None:
        # A full refresh also empties subjects that no longer hold anything.
        Aggregate.objects.filter(scope=scope).exclude(subject_key__in=keys).update(
            chip_count=0, tpp=0, h100e=0, memory_gb=0, ops={}
        )
    create, update = [], []
    for key in keys:
        values = totals.get(key, {"chip_count": 0, "tpp": 0.0, "h100e": 0.0, "memory_gb": 0.0, "ops": {}})
        label, country, operator_id = labels.get(key, (key, "", None))
        row = existing.get(key) or Aggregate(scope=scope, subject_key=key)
        row.label, row.country, row.operator_id = label, country, operator_id
        for field, value in values.items():
            setattr(row, field, value)
        (update if row.pk else create).append(row)
    Aggregate.objects.bulk_create(create, batch_size=2000, ignore_conflicts=True)
    Aggregate.objects.bulk_update(
        update, ["label", "country", "operator", "chip_count", "tpp", "h100e", "memory_gb", "ops"], batch_size=2000
    )
    return totals


def _labels(scope, keys):
    """{subject_key: (label, country, operator id)} for display and access control."""
    from inventory.models import Campus, Cluster, Facility
    from registry.models import Organisation

    ints = [int(k) for k in keys if k.isdigit()]
    if scope == Scope.FACILITY:
        return {
            str(pk): (code, cc, op)
            for pk, code, cc, op in Facility.objects.filter(pk__in=ints).values_list(
                "pk", "code", "country", "operator"
            )
        }
    if scope == Scope.CLUSTER:
        rows = Cluster.objects.filter(pk__in=ints).values_list(
            "pk", "facility__code", "code", "facility__country", "facility__operator"
        )
        return {str(pk): (f"{fac}/{code}", cc, op) for pk, fac, code, cc, op in rows}
    if scope == Scope.CAMPUS:
        out = {}
        for campus in Campus.objects.filter(pk__in=ints).prefetch_related("facilities"):
            facilities = list(campus.facilities.all())
            countries = {f.country for f in facilities}
            operators = {f.operator_id for f in facilities}
            out[str(campus.pk)] = (
                campus.code,
                countries.pop() if len(countries) == 1 else "",
                operators.pop() if len(operators) == 1 else None,
            )
        return out
    codes = dict(Organisation.objects.filter(pk__in=[int(k.split(":")[0]) for k in keys]).values_list("pk", "code"))
    return {
        k: (f"{codes.get(int(k.split(':')[0]), '?')} in {k.split(':')[1]}", k.split(":")[1], int(k.split(":")[0]))
        for k in keys
    }


_WITH_MAKER = (
    "JOIN registry_acceleratormodel m ON m.id = c.model_id JOIN registry_organisation mf ON mf.id = c.manufacturer_id"
)


def chips_in(scope, subject_key):
    """(public id, placement source, source id, log index) of every chip counted for a subject."""
    _, from_where, _ = QUERIES[scope]
    from_where = from_where.replace("JOIN registry_acceleratormodel m ON m.id = c.model_id", _WITH_MAKER)
    if scope == Scope.OPERATOR_COUNTRY:
        op, cc = subject_key.split(":")
        sql = f"SELECT mf.code || ':' || c.serial, '', '', NULL {from_where} AND c.custodian_id = %s AND c.country = %s"
        params = [int(op), cc]
    else:
        sql = (
            f"SELECT mf.code || ':' || c.serial, p.source, p.source_id, p.log_index {from_where}"
            f" AND {_SUBJECT_FILTER[scope]} = %s"
        )
        params = [int(subject_key)]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()
