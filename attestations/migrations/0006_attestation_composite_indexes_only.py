"""Drop the single-column indexes of Attestation.facility and .operator.

The composite indexes (facility, observed_at) and (operator, id) start with
those columns and serve every lookup they served; each index is one more
write for every statement stored. Only the indexes go: the foreign-key
constraints stay as they are (Django's own AlterField would drop and
re-validate them, scanning the table).
"""

import django.db.models.deletion
from django.db import migrations, models

INDEXES = {
    "facility_id": "attestations_attestation_facility_id_8ef7b439",
    "operator_id": "attestations_attestation_operator_id_b0b5b361",
}


class Migration(migrations.Migration):
    dependencies = [
        ("attestations", "0005_envelope_lz4"),
        ("inventory", "0003_placement_server_set_keys"),
        ("registry", "0004_chip_lean_writes"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField(
                    model_name="attestation",
                    name="facility",
                    field=models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="attestations",
                        to="inventory.facility",
                    ),
                ),
                migrations.AlterField(
                    model_name="attestation",
                    name="operator",
                    field=models.ForeignKey(
                        blank=True,
                        db_index=False,
                        null=True,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="attestations",
                        to="registry.organisation",
                    ),
                ),
            ],
            database_operations=[
                migrations.RunSQL(
                    f'DROP INDEX IF EXISTS "{name}"',
                    reverse_sql=f'CREATE INDEX IF NOT EXISTS "{name}" ON "attestations_attestation" ("{column}")',
                )
                for column, name in INDEXES.items()
            ],
        ),
    ]
