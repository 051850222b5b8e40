"""Model instances from hand-written SQL, for the few queries every request runs.

Building a query through the ORM costs about a millisecond on this class of
machine, more than the query itself; on the hot paths (authentication,
statement ingest) that is most of a request. These helpers spell a model's
columns once and turn a row slice back into an instance, applying the same
conversions the ORM's compiler would (JSON fields).
"""

from django.db import connection


class Columns:
    """A model's concrete columns under a table alias: the SELECT list and the loader of a row slice."""

    def __init__(self, model, alias):
        self.model = model
        self.alias = alias
        self.fields = model._meta.concrete_fields
        self.attnames = [f.attname for f in self.fields]
        self.sql = ", ".join(f'{alias}."{f.column}"' for f in self.fields)
        self.width = len(self.fields)
        self._pk = self.attnames.index(model._meta.pk.attname)
        self._converters = None

    def converters(self):
        """[(column index, expression, converter functions)]: what the ORM's compiler applies to these
        columns (JSON decoding), found once."""
        if self._converters is None:
            found = []
            for i, field in enumerate(self.fields):
                col = field.get_col(self.alias)
                funcs = connection.ops.get_db_converters(col) + col.get_db_converters(connection)
                if funcs:
                    found.append((i, col, funcs))
            self._converters = found
        return self._converters

    def load(self, row, start=0):
        """The instance whose columns start at row[start], or None when its key is NULL (an outer join)."""
        values = list(row[start : start + self.width])
        if values[self._pk] is None:
            return None
        for i, col, funcs in self.converters():
            for convert in funcs:
                values[i] = convert(values[i], col, connection)
        return self.model.from_db(connection.alias, self.attnames, values)


def set_related(instance, field_name, related):
    """Fill a forward relation's cache, as select_related would, so reading it costs no query."""
    instance._meta.get_field(field_name).set_cached_value(instance, related)


def _run(sql, params, fetch):
    """Run hand-written SQL through Django's cursor (client-side binding, the simple query protocol).

    Not as server-side prepared statements: measured here, preparing saved no database time on
    these small indexed queries and cost the client more (the extended protocol's extra messages);
    the cost of a query is its round trip, so the hot paths save round trips instead.
    """
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return fetch(cursor)


def fetch_all(sql, params=()):
    return _run(sql, params, lambda c: c.fetchall())


def fetch_one(sql, params=()):
    return _run(sql, params, lambda c: c.fetchone())


def execute(sql, params=()):
    _run(sql, params, lambda c: None)


def without_jit():
    """No JIT compilation for the rest of the transaction (restored at its end).

    A big statement's chip-keyed queries (a LATERAL index lookup per chip) are estimated costly
    enough for PostgreSQL to JIT-compile each, which took longer (0.1 to 0.3 s a query) than running
    them: their cost is index lookups, which compiled expressions do not speed up.
    """
    execute("SET LOCAL jit = off")
