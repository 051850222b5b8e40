"""`field__any=[...]`: membership in a long list as ONE array parameter.

`field__in=[...]` with 100,000 values sends 100,000 parameters, which Django
and psycopg prepare one by one (most of the time of a large statement went
there). On PostgreSQL this lookup sends `field = ANY(%s)` with the list as a
single array; elsewhere it falls back to IN.
"""

from django.db.models import Field, ForeignObject, Lookup


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
        return f"{lhs} = ANY(%s::{db_type}[])", [*lhs_params, list(self.rhs)]

    def as_sql(self, compiler, connection):
        values = list(self.rhs)
        if not values:
            return "1 = 0", []
        lhs, lhs_params = self.process_lhs(compiler, connection)
        return f"{lhs} IN ({', '.join(['%s'] * len(values))})", [*lhs_params, *values]
