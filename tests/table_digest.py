"""A digest of a table's rows, computed by PostgreSQL: what tests compare to see that nothing moved."""

from django.db import connection


def table_digest(model, exclude=()):
    """(row count, SHA-256 of every row's columns as PostgreSQL writes them as text, rows in a fixed order).

    Two digests are equal exactly when the table holds the same rows (as far as SHA-256 tells); the
    attributes named in `exclude` are left out. One query, whatever the table's size: reading every row
    into Python to hash it there costs tens of milliseconds a table."""
    qn = connection.ops.quote_name
    columns = ", ".join(qn(f.column) for f in model._meta.concrete_fields if f.attname not in exclude)
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*), encode(sha256(convert_to(coalesce("
            "string_agg(r::text, E'\\n' ORDER BY r::text COLLATE \"C\"), ''), 'UTF8')), 'hex') "
            f"FROM (SELECT {columns} FROM {qn(model._meta.db_table)}) AS r"
        )
        return cursor.fetchone()
