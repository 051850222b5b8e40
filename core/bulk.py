"""Inserting many unsaved model rows in one statement from arrays: `INSERT ... SELECT FROM unnest(...)`.

What the ORM's bulk_create writes, for the rows a big statement raises by the thousand (findings, device
identities): one parameter per column instead of one per value, and no SQL text that grows with the rows.
Values are prepared by each field as the ORM prepares them (defaults, auto_now_add, foreign keys); JSON is
passed as text and cast, so any JSON value round-trips as the ORM would store it.
"""

import json

from django.db import connection, models


def _columns(model):
    return [f for f in model._meta.concrete_fields if not (f.primary_key and isinstance(f, models.AutoField))]


BATCH = 5000  # rows per statement: bounded SQL text (its values are spelled in it) and memory


def insert_rows(model, rows, *, ignore_conflicts=False):
    """Insert `rows` (unsaved instances of `model`), BATCH to a statement; a row that breaks a unique
    constraint is skipped when `ignore_conflicts` (as bulk_create's). Returns how many rows were inserted."""
    inserted = 0
    for i in range(0, len(rows), BATCH):
        sql, params = insert_sql(model, rows[i : i + BATCH], ignore_conflicts=ignore_conflicts)
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            inserted += cursor.rowcount
    return inserted


def insert_sql(model, rows, *, prefix="rows", ignore_conflicts=False):
    """(the INSERT of `rows` as one statement from arrays, its named parameters `<prefix>_<n>`): run alone
    (insert_rows) or composed by a caller into its own round trip (`WITH evidence AS (<this>) ...`)."""
    fields = _columns(model)
    params, arrays, selects = {}, [], []
    for n, field in enumerate(fields):
        values = [field.pre_save(row, True) for row in rows]
        name = f"{prefix}_{n}"
        if isinstance(field, models.JSONField):
            params[name] = [None if v is None else json.dumps(v, cls=field.encoder) for v in values]
            arrays.append(f"%({name})s::text[]")
            selects.append(f"c{n}::jsonb")
        else:
            params[name] = [field.get_db_prep_save(v, connection) for v in values]
            arrays.append(f"%({name})s::{field.db_type(connection)}[]")
            selects.append(f"c{n}")
    table = connection.ops.quote_name(model._meta.db_table)
    names = ", ".join(connection.ops.quote_name(f.column) for f in fields)
    aliases = ", ".join(f"c{n}" for n in range(len(fields)))
    sql = (
        f"INSERT INTO {table} ({names}) SELECT {', '.join(selects)}"  # noqa: S608
        f" FROM unnest({', '.join(arrays)}) AS u({aliases})" + (" ON CONFLICT DO NOTHING" if ignore_conflicts else "")
    )
    return sql, params
