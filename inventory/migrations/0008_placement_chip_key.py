# Issue #16 ("Ready for Citus", docs/scaling.md):
#
# - inventory_placement is to be distributed by chip_id, so its primary key becomes (chip_id, id) in the
#   database; the ORM keeps id as its key (unique by its sequence; no foreign key refers to a placement).
#   The new key serves a chip's placements, so placement_chip_idx (chip_id, valid_from) goes, and id gets
#   an index of its own for the reads by id (the placement's page, keyset pages, closing placements): as
#   many indexes to write per placement as before.
# - inventory_transferitem stays on the coordinator with its transfer; its chip is no longer a foreign key
#   the database checks (Citus refuses one from there into the distributed chip table), as a sighting's or
#   a placement's chip is not.

import django.db.models.deletion
from django.db import migrations, models

PLACEMENT_KEY = (
    "ALTER TABLE inventory_placement DROP CONSTRAINT inventory_placement_pkey,"
    " ADD CONSTRAINT inventory_placement_pkey PRIMARY KEY (chip_id, id)"
)
PLACEMENT_KEY_BACK = (
    "ALTER TABLE inventory_placement DROP CONSTRAINT inventory_placement_pkey,"
    " ADD CONSTRAINT inventory_placement_pkey PRIMARY KEY (id)"
)


class Migration(migrations.Migration):
    dependencies = [
        ("inventory", "0007_finding_run_kinds"),
        ("registry", "0007_chip_identity"),
    ]

    operations = [
        migrations.AddIndex(
            model_name="placement",
            index=models.Index(fields=["id"], name="placement_id_idx"),
        ),
        migrations.RunSQL(PLACEMENT_KEY, reverse_sql=PLACEMENT_KEY_BACK),
        migrations.RemoveIndex(
            model_name="placement",
            name="placement_chip_idx",
        ),
        migrations.AlterField(
            model_name="transferitem",
            name="chip",
            field=models.ForeignKey(
                blank=True,
                db_constraint=False,
                null=True,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="+",
                to="registry.chip",
            ),
        ),
    ]
