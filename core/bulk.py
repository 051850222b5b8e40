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
    fields = _columns(model)
    return sum(_insert(model, fields, rows[i : i + BATCH], ignore_conflicts) for i in range(0, len(rows), BATCH))


def _insert(model, fields, rows, ignore_conflicts):
    arrays, selects = [], []
    for n, field in enumerate(fields):
        values = [field.pre_save(row, True) for row in rows]
        if isinstance(field, models.JSONField):
            arrays.append([None if v is None else json.dumps(v, cls=field.encoder) for v in values])
            kind, select = "text", f"c{n}::jsonb"
        else:
            arrays.append([field.get_db_prep_save(v, connection) for v in values])
            kind, select = field.db_type(connection), f"c{n}"
        selects.append((f"%s::{kind}[]", select))
    table = connection.ops.quote_name(model._meta.db_table)
    names = ", ".join(connection.ops.quote_name(f.column) for f in fields)
    aliases = ", ".join(f"c{n}" for n in range(len(fields)))
    sql = (
        f"INSERT INTO {table} ({names}) SELECT {', '.join(s for _, s in selects)}"  # noqa: S608
        f" FROM unnest({', '.join(a for a, _ in selects)}) AS u({aliases})"
        + (" ON CONFLICT DO NOTHING" if ignore_conflicts else "")
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, arrays)
        return cursor.rowcount
