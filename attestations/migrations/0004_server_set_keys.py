import django.db.models.deletion
from django.db import migrations, models

TABLES = ("attestations_sighting", "attestations_usagerecord")
COLUMNS = ("attestation_id", "chip_id", "facility_id")


def drop_keys(apps, schema_editor):
    """Drop the database's checks of the server-set keys (see Sighting)."""
    with schema_editor.connection.cursor() as cursor:
        for table in TABLES:
            for column in COLUMNS:
                cursor.execute(f"ALTER TABLE {table} DROP CONSTRAINT IF EXISTS {table}_{column}_fk")


def fk(to, related_name, null=False, on_delete=django.db.models.deletion.PROTECT):
    extra = {"null": True, "blank": True} if null else {}
    return models.ForeignKey(to=to, on_delete=on_delete, related_name=related_name, db_constraint=False, **extra)


class Migration(migrations.Migration):
    dependencies = [("attestations", "0003_usage_day")]

    operations = [
        migrations.SeparateDatabaseAndState(
            database_operations=[migrations.RunPython(drop_keys, migrations.RunPython.noop)],
            state_operations=[
                migrations.AlterField(
                    "sighting",
                    "attestation",
                    fk("attestations.attestation", "sightings", on_delete=django.db.models.deletion.CASCADE),
                ),
                migrations.AlterField("sighting", "chip", fk("registry.chip", "+", null=True)),
                migrations.AlterField("sighting", "facility", fk("inventory.facility", "+")),
                migrations.AlterField(
                    "usagerecord",
                    "attestation",
                    fk("attestations.attestation", "usage", on_delete=django.db.models.deletion.CASCADE),
                ),
                migrations.AlterField("usagerecord", "chip", fk("registry.chip", "+", null=True)),
                migrations.AlterField("usagerecord", "facility", fk("inventory.facility", "+")),
            ],
        )
    ]
