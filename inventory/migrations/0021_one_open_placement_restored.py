# "At most one open placement per chip" (Placement.Meta's one_open_placement) has not been in the database
# since 0003: making the chip a foreign key without an index of its own (AlterField, db_index=False), Django
# dropped every plain index on chip_id that was not one of the model's Meta.indexes, and this partial unique
# index was one, while the migration state kept it. The writers close a chip's open placement before opening
# another, under the log's lock, so no rows should break it; if some do, the migration stops and says so
# rather than choosing between them (which placement holds is a question for the record, not a migration).

from django.db import migrations

CHECK_AND_CREATE = """
DO $$
DECLARE doubled bigint;
BEGIN
  SELECT count(*) INTO doubled FROM (
    SELECT chip_id FROM inventory_placement WHERE valid_to IS NULL GROUP BY chip_id HAVING count(*) > 1
  ) d;
  IF doubled > 0 THEN
    RAISE EXCEPTION '% chip(s) have more than one open placement (inventory_placement rows with valid_to NULL); '
      'close all but the one that holds, then migrate again', doubled;
  END IF;
END $$;
CREATE UNIQUE INDEX IF NOT EXISTS one_open_placement ON inventory_placement (chip_id) WHERE valid_to IS NULL;
"""


class Migration(migrations.Migration):
    dependencies = [("inventory", "0020_declarationitem_declaration_index_covered")]

    # The state has had the constraint since 0001: only the database catches up.
    operations = [migrations.RunSQL(CHECK_AND_CREATE, reverse_sql=migrations.RunSQL.noop)]
