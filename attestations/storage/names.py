"""Table and column names for hand-written SQL, taken from the models.

`Table(Sighting)` formats as the table's name and answers a field's column as
an attribute (`S.chip` is "chip_id"): a renamed model or field changes the SQL
with it, and a removed field fails at import, not in a query.
"""


class Table:
    __slots__ = ("_meta", "name")

    def __init__(self, model):
        self._meta = model._meta
        self.name = model._meta.db_table

    def __str__(self):
        return self.name

    def __getattr__(self, field):
        return self._meta.get_field(field).column

    def columns(self, *fields):
        """The fields' columns, comma-separated."""
        return ", ".join(self._meta.get_field(f).column for f in fields)
