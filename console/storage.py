"""The console's hand-written SQL (see inventory.storage for the convention): named statements behind
plain functions, names from the models; tests/console/test_storage.py runs each
against its ORM equivalent."""

from functools import cache

from core.rawsql import execute


@cache
def _mark_stale_sql():
    from console.models import ReconciliationSnapshot

    table = ReconciliationSnapshot._meta.db_table
    c = {f.name: f.column for f in ReconciliationSnapshot._meta.concrete_fields}
    # An upsert: safe inside any transaction, and concurrent marks add up instead of failing.
    return (
        f"INSERT INTO {table} ({c['facility']}, {c['wanted']}, {c['started']}, {c['computed']}, {c['seconds']},"  # noqa: S608
        f" {c['book_count']}, {c['discrepancy_count']}, {c['sources']}, {c['inputs']})"
        " VALUES (%s, 1, 0, 0, 0, 0, 0, '{}', '{}')"
        f" ON CONFLICT ({c['facility']}) DO UPDATE SET {c['wanted']} = {table}.{c['wanted']} + 1"
    )


def mark_stale(facility_id):
    """wanted += 1 on the facility's snapshot row (created, empty, when missing)."""
    execute(_mark_stale_sql(), [facility_id])
