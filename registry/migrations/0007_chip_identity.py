# Issue #16 ("Ready for Citus", docs/scaling.md): every unique index of a table distributed by a column
# includes that column.
#
# - Serials stay unique per manufacturer in a lookup table of their own, registry_chipidentity, keyed by
#   (manufacturer_id, serial) (to be distributed by serial); the chip table's unique index becomes a plain
#   one that only finds chips. Existing chips get their identity rows here, before the unique index goes.
# - A chip's history is keyed by (chip_id, id) in the database (the ORM keeps id, unique by its sequence);
#   that key serves the history's reads by chip, so chipevent_chip_idx (chip_id, id) and the foreign key's
#   index (chip_id) go with it.
#   Nothing refers to a chip event by id (no foreign key, no endpoint).

import django.db.models.deletion
from django.db import migrations, models

FILL_IDENTITIES = (
    "INSERT INTO registry_chipidentity (manufacturer_id, serial, chip_id)"
    " SELECT manufacturer_id, serial, id FROM registry_chip"
)

CHIPEVENT_KEY = (
    "ALTER TABLE registry_chipevent DROP CONSTRAINT registry_chipevent_pkey,"
    " ADD CONSTRAINT registry_chipevent_pkey PRIMARY KEY (chip_id, id)"
)
CHIPEVENT_KEY_BACK = (
    "ALTER TABLE registry_chipevent DROP CONSTRAINT registry_chipevent_pkey,"
    " ADD CONSTRAINT registry_chipevent_pkey PRIMARY KEY (id)"
)


class Migration(migrations.Migration):
    dependencies = [
        ("registry", "0006_catalog_fp6_fp4_tpp_derived"),
    ]

    operations = [
        migrations.CreateModel(
            name="ChipIdentity",
            fields=[
                (
                    "pk",
                    models.CompositePrimaryKey(
                        "manufacturer", "serial", blank=True, editable=False, primary_key=True, serialize=False
                    ),
                ),
                (
                    "manufacturer",
                    models.ForeignKey(
                        db_constraint=False,
                        db_index=False,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="+",
                        to="registry.organisation",
                    ),
                ),
                ("serial", models.CharField(max_length=64)),
                (
                    "chip",
                    models.ForeignKey(
                        db_constraint=False,
                        db_index=False,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="+",
                        to="registry.chip",
                    ),
                ),
            ],
        ),
        # Filled while the chip table's unique index still holds: one identity per chip, none refused.
        migrations.RunSQL(FILL_IDENTITIES, reverse_sql=migrations.RunSQL.noop),
        migrations.AddIndex(
            model_name="chip",
            index=models.Index(fields=["manufacturer", "serial"], name="chip_serial_idx"),
        ),
        migrations.RemoveConstraint(
            model_name="chip",
            name="chip_unique_serial",
        ),
        migrations.RunSQL(CHIPEVENT_KEY, reverse_sql=CHIPEVENT_KEY_BACK),
        migrations.RemoveIndex(
            model_name="chipevent",
            name="chipevent_chip_idx",
        ),
        # And the index Django kept for the foreign key (chip_id alone): the key leads with it.
        migrations.AlterField(
            model_name="chipevent",
            name="chip",
            field=models.ForeignKey(
                db_index=False,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="events",
                to="registry.chip",
            ),
        ),
    ]
