"""The schema holds to docs/scaling.md's Citus plan (Citus cannot run here, so the rules are checked instead).

The plan's table is docs/citus-plan.csv; docs/scaling.md shows it verbatim (checked below). Against the
migrated schema, read from PostgreSQL's catalogs:

- every primary key, unique index and exclusion constraint of a distributed table includes its
  distribution column (Citus can enforce nothing else across nodes), and that column is NOT NULL
  (Citus places a row by it);
- every foreign key between distributed tables joins distribution column to distribution column;
- a foreign key that touches a distributed table is either that or one from it to a reference table:
  no other table references a distributed one, and a distributed one references no other table.

Kinds: "distributed" and "distributed (time-partitioned)" (with a distribution column), "reference"
(replicated to every node), and "local (coordinator)" (a table kept on the coordinator, named in the plan
because it holds what a distributed table may not: rows without a chip). A table the plan does not name stays
on the coordinator too; a local one is held to the same rules (no foreign key between it and a distributed table).

Where today's schema breaks a rule, docs/citus-departures.csv names the table, the index or constraint and
the remedy; the test requires the departures found to be exactly those listed, so a new one fails and a
fixed one must leave the list (and the document).
"""

import csv
from pathlib import Path

import pytest
from django.db import connection

DOCS = Path(__file__).resolve().parents[2] / "docs"
PLAN = DOCS / "citus-plan.csv"
DEPARTURES = DOCS / "citus-departures.csv"
SCALING = DOCS / "scaling.md"

UNIQUE = "unique without the distribution column"
NULLABLE = "distribution column may be null"
FK_OFF_COLUMN = "foreign key between distributed tables off the distribution column"
FK_FOREIGN = "foreign key between a distributed table and one that is neither distributed nor reference"
DISTRIBUTED_KINDS = {"distributed", "distributed (time-partitioned)"}
KINDS = {*DISTRIBUTED_KINDS, "reference", "local (coordinator)"}


def read_csv(path):
    with path.open(newline="") as f:
        return list(csv.DictReader(f))


def plan():
    """{table: (kind, distribution column or None)}."""
    return {row["table"]: (row["kind"], row["distribution column"] or None) for row in read_csv(PLAN)}


def distributed():
    return {t: col for t, (kind, col) in plan().items() if kind in DISTRIBUTED_KINDS}


def reference():
    return {t for t, (kind, _) in plan().items() if kind == "reference"}


def markdown(path, code_columns):
    """The CSV as the Markdown table docs/scaling.md shows: names in code spans, empty cells as a dash."""
    rows = read_csv(path)
    with path.open(newline="") as f:
        header = next(csv.reader(f))  # an empty list of departures still has its header
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for row in rows:
        cells = []
        for name in header:
            value = row[name]
            cells.append("–" if not value else f"`{value}`" if name in code_columns else value)
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def test_the_document_shows_the_plan_and_its_departures_verbatim():
    text = SCALING.read_text()
    assert markdown(PLAN, {"table", "distribution column"}) in text, "docs/scaling.md: the plan's table differs"
    assert markdown(DEPARTURES, {"table", "index, constraint or column"}) in text, (
        "docs/scaling.md: the departures differ"
    )


def _tables(cursor):
    """The public tables, partitions left out (they carry their parent's indexes and keys)."""
    cursor.execute(
        """SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
           WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p') AND NOT c.relispartition"""
    )
    return {name for (name,) in cursor.fetchall()}


def _columns(cursor, table):
    """{column: NOT NULL?}"""
    cursor.execute(
        "SELECT attname, attnotnull FROM pg_attribute WHERE attrelid = %s::regclass AND attnum > 0"
        " AND NOT attisdropped",
        [table],
    )
    return dict(cursor.fetchall())


def _unique_indexes(cursor, table):
    """[(index name, [its columns; None for an expression])] of the table's unique and exclusion indexes."""
    cursor.execute(
        """SELECT i.relname, ARRAY(SELECT a.attname FROM unnest(x.indkey) WITH ORDINALITY k(attnum, n)
                                   LEFT JOIN pg_attribute a ON a.attrelid = x.indrelid AND a.attnum = k.attnum
                                   ORDER BY k.n)
           FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid
           WHERE x.indrelid = %s::regclass AND (x.indisunique OR x.indisexclusion)""",
        [table],
    )
    return cursor.fetchall()


def _foreign_keys(cursor):
    """[(name, table, [columns], referenced table, [referenced columns])]; partitions' copies left out."""
    cursor.execute(
        """SELECT c.conname, c.conrelid::regclass::text,
                  ARRAY(SELECT a.attname FROM unnest(c.conkey) WITH ORDINALITY k(attnum, n)
                        JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = k.attnum ORDER BY k.n),
                  c.confrelid::regclass::text,
                  ARRAY(SELECT a.attname FROM unnest(c.confkey) WITH ORDINALITY k(attnum, n)
                        JOIN pg_attribute a ON a.attrelid = c.confrelid AND a.attnum = k.attnum ORDER BY k.n)
           FROM pg_constraint c JOIN pg_namespace n ON n.oid = c.connamespace
           WHERE c.contype = 'f' AND n.nspname = 'public' AND c.conparentid = 0"""
    )
    return cursor.fetchall()


def departures_found():
    """{(table, index or constraint, rule)} where the migrated schema breaks the plan."""
    dist, ref = distributed(), reference()
    found = set()
    with connection.cursor() as cursor:
        for table, column in dist.items():
            if not _columns(cursor, table)[column]:
                found.add((table, column, NULLABLE))
            for index, columns in _unique_indexes(cursor, table):
                if column not in columns:
                    found.add((table, index, UNIQUE))
        for name, table, columns, target, target_columns in _foreign_keys(cursor):
            if table not in dist and target not in dist:
                continue
            if table in dist and target in dist:
                if list(zip(columns, target_columns, strict=True)) != [(dist[table], dist[target])]:
                    found.add((table, name, FK_OFF_COLUMN))
            elif not (table in dist and target in ref):
                found.add((table, name, FK_FOREIGN))
    return found


def test_every_kind_is_one_the_rules_know():
    """A kind the rules do not read (a typo) would leave its table unchecked."""
    for table, (kind, column) in plan().items():
        assert kind in KINDS, f"docs/citus-plan.csv: {table} has kind {kind!r}, not one of {sorted(KINDS)}"
        assert (column is not None) == (kind in DISTRIBUTED_KINDS), (
            f"docs/citus-plan.csv: {table} ({kind}) {'lacks' if column is None else 'has'} a distribution column"
        )


@pytest.mark.django_db
def test_every_table_of_the_plan_exists_with_its_distribution_column():
    with connection.cursor() as cursor:
        tables = _tables(cursor)
        for table, (_, column) in plan().items():
            assert table in tables, f"docs/citus-plan.csv names {table}, which the schema does not have"
            if column is not None:
                assert column in _columns(cursor, table), f"{table} has no column {column}"


@pytest.mark.django_db
def test_every_table_with_a_chip_column_is_planned():
    """A table of rows about chips is where the plan matters most (it grows with the world's chips): each one
    is named, distributed or kept on the coordinator for a reason the plan gives, never left out by default."""
    from django.apps import apps

    from registry.models import Chip

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
            " JOIN pg_attribute a ON a.attrelid = c.oid"
            " WHERE n.nspname = current_schema() AND c.relkind IN ('r', 'p') AND NOT c.relispartition"
            " AND a.attname IN ('chip_id', 'chip_pk') AND NOT a.attisdropped"
        )
        per_chip = {name for (name,) in cursor.fetchall()}
    # A chip key the database does not check (db_constraint=False) is in no catalog: the models say it.
    keyed = {
        model._meta.db_table
        for model in apps.get_models()
        if model._meta.managed and not model._meta.proxy  # not the views over a pair of tables (AnyFinding)
        for field in model._meta.concrete_fields
        if field.is_relation and field.related_model is Chip
    }
    assert "inventory_placement" in keyed and "console_reconciliationitem" in per_chip, "the reads found nothing"
    assert sorted((per_chip | keyed) - plan().keys() - {"registry_chip"}) == []


@pytest.mark.django_db
def test_the_schema_departs_from_the_plan_only_where_listed():
    listed = {(row["table"], row["index, constraint or column"], row["rule"]) for row in read_csv(DEPARTURES)}
    found = departures_found()
    new, fixed = sorted(found - listed), sorted(listed - found)
    assert not new, f"the schema breaks docs/scaling.md's Citus plan here (fix it, or list it with a remedy): {new}"
    assert not fixed, f"fixed: take these out of docs/citus-departures.csv and docs/scaling.md: {fixed}"


@pytest.mark.django_db
def test_the_check_catches_what_the_rules_forbid():
    """The rules bite: a unique index without chip_id, a foreign key off it, a coordinator table referencing a
    distributed one, a distributed table referencing a local one, and a null chip are each found (made in this
    test's transaction, rolled back after)."""
    with connection.cursor() as cursor:
        cursor.execute("CREATE UNIQUE INDEX citus_probe_unique ON inventory_placement (facility_id, id)")
        cursor.execute(
            "ALTER TABLE inventory_placement ADD CONSTRAINT citus_probe_fk FOREIGN KEY (id) REFERENCES registry_chip (id)"
        )
        cursor.execute(
            "ALTER TABLE outbox_outboxevent ADD CONSTRAINT citus_probe_ref FOREIGN KEY (id) REFERENCES registry_chip (id)"
            " NOT VALID"
        )
        cursor.execute(
            "ALTER TABLE inventory_finding ADD CONSTRAINT citus_probe_local FOREIGN KEY (id)"
            " REFERENCES inventory_chiplessfinding (id) NOT VALID"
        )
        cursor.execute("ALTER TABLE inventory_declarationitem DROP CONSTRAINT inventory_declarationitem_pkey")
        cursor.execute("ALTER TABLE inventory_declarationitem ALTER COLUMN chip_id DROP NOT NULL")
    found = departures_found()
    assert ("inventory_placement", "citus_probe_unique", UNIQUE) in found
    assert ("inventory_finding", "citus_probe_local", FK_FOREIGN) in found
    assert ("inventory_declarationitem", "chip_id", NULLABLE) in found
    assert ("inventory_placement", "citus_probe_fk", FK_OFF_COLUMN) in found
    assert ("outbox_outboxevent", "citus_probe_ref", FK_FOREIGN) in found
