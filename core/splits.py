"""The DDL that splits a per-chip table in two: its rows bound to a chip, and the others (migration steps).

Citus places a row of a distributed table by its distribution column (docs/scaling.md), so a per-chip
table distributed by chip_id holds only rows with a chip; the rows without one (a reference the registry
does not know, a finding about a facility) move to a small table of their own on the coordinator. These
steps do that to a table that already holds data, keeping every row and its id:

- `share_ids`: the chipless table takes its ids from the chip table's sequence, so an id names one row
  of the pair, and the pair reads back in the order it was written;
- `move_chipless` (and `move_back`): the rows without a chip change table, ids kept;
- `primary_key`: the database's primary key replaced by one that holds the distribution column (and the
  partition column of a time-partitioned table); the ORM keeps `id` as its key, unique by its sequence;
- `create_union_view` (and `drop_view`): the read-only view of both, for the reads that show every row.

Each takes models (the historical ones of a migration): table and column names come from them.
"""


def _q(schema_editor, name):
    return schema_editor.quote_name(name)


def _columns(model):
    return [f.column for f in model._meta.concrete_fields]


def share_ids(schema_editor, model, of_model):
    """`model`'s ids from `of_model`'s id sequence instead of its own."""
    table = _q(schema_editor, model._meta.db_table)
    with schema_editor.connection.cursor() as cursor:
        cursor.execute("SELECT pg_get_serial_sequence(%s, 'id')", [_q(schema_editor, of_model._meta.db_table)])
        (sequence,) = cursor.fetchone()
        cursor.execute(f"ALTER TABLE {table} ALTER COLUMN id DROP IDENTITY IF EXISTS")
        cursor.execute(f"ALTER TABLE {table} ALTER COLUMN id SET DEFAULT nextval(%s::regclass)", [sequence])


def move_chipless(schema_editor, source, target):
    """Move `source`'s rows whose chip is null into `target` (the columns they share), ids kept."""
    shared = [c for c in _columns(target) if c in set(_columns(source))]
    columns = ", ".join(_q(schema_editor, c) for c in shared)
    src, dst = _q(schema_editor, source._meta.db_table), _q(schema_editor, target._meta.db_table)
    with schema_editor.connection.cursor() as cursor:
        cursor.execute(f"INSERT INTO {dst} ({columns}) SELECT {columns} FROM {src} WHERE chip_id IS NULL ORDER BY id")  # noqa: S608
        cursor.execute(f"DELETE FROM {src} WHERE chip_id IS NULL")  # noqa: S608


def move_back(schema_editor, source, target):
    """The reverse of move_chipless: `target`'s rows back into `source`, with a null chip."""
    shared = [c for c in _columns(target) if c in set(_columns(source))]
    columns = ", ".join(_q(schema_editor, c) for c in shared)
    src, dst = _q(schema_editor, source._meta.db_table), _q(schema_editor, target._meta.db_table)
    with schema_editor.connection.cursor() as cursor:
        cursor.execute(f"INSERT INTO {src} ({columns}) SELECT {columns} FROM {dst} ORDER BY id")  # noqa: S608
        cursor.execute(f"DELETE FROM {dst}")  # noqa: S608


def primary_key(schema_editor, model, columns):
    """Replace the primary key of `model`'s table (whatever its name) by one on `columns`."""
    table = model._meta.db_table
    with schema_editor.connection.cursor() as cursor:
        cursor.execute(
            "SELECT conname FROM pg_constraint WHERE conrelid = %s::regclass AND contype = 'p'",
            [_q(schema_editor, table)],
        )
        for (name,) in cursor.fetchall():
            cursor.execute(f"ALTER TABLE {_q(schema_editor, table)} DROP CONSTRAINT {_q(schema_editor, name)}")
        cursor.execute(
            f"ALTER TABLE {_q(schema_editor, table)} ADD CONSTRAINT {_q(schema_editor, table + '_pkey')}"
            f" PRIMARY KEY ({', '.join(_q(schema_editor, c) for c in columns)})"
        )


def create_union_view(schema_editor, view, chip_model, chipless_model):
    """The view `view` of every row of both tables, in `chip_model`'s columns (the chipless rows' chip NULL).
    Recreate it when a column is added to the pair."""
    q = schema_editor.quote_name
    have = set(_columns(chipless_model))
    fields = chip_model._meta.concrete_fields
    columns = ", ".join(q(f.column) for f in fields)
    chipless = ", ".join(
        q(f.column) if f.column in have else f"NULL::{f.db_type(schema_editor.connection)}" for f in fields
    )
    # Only names from the models are formatted in.
    sql = (
        f"CREATE VIEW {q(view)} ({columns}) AS SELECT {columns} FROM {q(chip_model._meta.db_table)}"  # noqa: S608
        f" UNION ALL SELECT {chipless} FROM {q(chipless_model._meta.db_table)}"
    )
    drop_view(schema_editor, view)
    with schema_editor.connection.cursor() as cursor:
        cursor.execute(sql)


def drop_view(schema_editor, view):
    with schema_editor.connection.cursor() as cursor:
        cursor.execute(f"DROP VIEW IF EXISTS {_q(schema_editor, view)}")
