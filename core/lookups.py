"""`field__any=[...]`: membership in a long list as ONE array parameter.

`field__in=[...]` with 100,000 values sends 100,000 parameters, which Django
and psycopg prepare one by one (most of the time of a large statement went
there). On PostgreSQL this lookup sends `field = ANY(%s)` with the list as a
single array; elsewhere it falls back to IN.

Pass the values wrapped in `Array(...)`: Django resolves every element of a
plain list or tuple as a possible expression before the lookup sees it, which
at 100,000 chips cost more than the query itself. A list still works.
"""

from django.db.models import Field, ForeignObject, Lookup


class Array:
    """A list of plain values for `__any`, opaque to Django's per-element expression resolution."""

    __slots__ = ("values",)

    def __init__(self, values):
        self.values = values if isinstance(values, list) else list(values)

    def __iter__(self):
        return iter(self.values)

    def __len__(self):
        return len(self.values)


def array_param(values):
    """The array as one parameter: integers as a text literal ('{1,2,3}', cast by the SQL),
    which is several times cheaper to build than psycopg's element-by-element array dump."""
    if values and all(type(v) is int for v in values):
        return "{" + ",".join(map(str, values)) + "}"
    return values


def text_array_param(values):
    """A list of strings as one parameter for `%s::text[]`: a text literal with every element quoted
    ('{"a","b"}', so commas, braces, blanks or a serial spelled NULL stay elements), built at C speed;
    psycopg's dump looks at every element in Python (a tenth of resolving a million chips). A list
    with a quote or a backslash in it, which would need escaping, goes to psycopg as it is."""
    if values and all(type(v) is str for v in values):
        flat = "".join(values)
        if '"' not in flat and "\\" not in flat:
            return '{"' + '","'.join(values) + '"}'
    return values


@ForeignObject.register_lookup
@Field.register_lookup
class AnyLookup(Lookup):
    lookup_name = "any"
    prepare_rhs = False

    def get_db_prep_lookup(self, value, connection):
        return ("%s", [list(value)])

    def as_postgresql(self, compiler, connection):
        lhs, lhs_params = self.process_lhs(compiler, connection)
        # Cast the array to the column's own type: a Python int list may be sent as
        # numeric[], and `bigint = ANY(numeric[])` cannot use the column's index.
        db_type = self.lhs.output_field.cast_db_type(connection) or "text"
        return f"{lhs} = ANY(%s::{db_type}[])", [*lhs_params, array_param(list(self.rhs))]

    def as_sql(self, compiler, connection):
        values = list(self.rhs)
        if not values:
            return "1 = 0", []
        lhs, lhs_params = self.process_lhs(compiler, connection)
        return f"{lhs} IN ({', '.join(['%s'] * len(values))})", [*lhs_params, *values]
