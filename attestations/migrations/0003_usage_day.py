import django.db.models.deletion
from django.db import migrations, models


def backfill(apps, schema_editor):
    from attestations.daily import backfill

    backfill(schema_editor, before_split=True)  # every record was a UsageRecord then (0007 split them)


class Migration(migrations.Migration):
    """Stored daily usage totals (attestations.daily), backfilled from the existing usage records."""

    dependencies = [
        ("attestations", "0002_partition_by_time"),
        ("inventory", "0002_placement_facility_id_idx"),
        ("registry", "0003_chip_lean_indexes"),
    ]

    operations = [
        migrations.CreateModel(
            name="UsageDay",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("day", models.DateField()),
                ("records", models.BigIntegerField(default=0)),
                ("flop_fp16", models.FloatField(default=0)),
                ("flop_peak", models.FloatField(default=0)),
                ("active_s", models.FloatField(default=0)),
                ("energy_j", models.FloatField(default=0)),
                ("ended_flop_fp16", models.FloatField(default=0)),
                ("ended_flop_peak", models.FloatField(default=0)),
                (
                    "facility",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.PROTECT, related_name="+", to="inventory.facility"
                    ),
                ),
                (
                    "operator",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.PROTECT, related_name="+", to="registry.organisation"
                    ),
                ),
                (
                    "uploaded_by_org",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.PROTECT, related_name="+", to="registry.organisation"
                    ),
                ),
            ],
            options={
                "ordering": ["facility", "day"],
                "constraints": [
                    models.UniqueConstraint(
                        fields=("facility", "day", "operator", "uploaded_by_org"), name="usageday_once"
                    )
                ],
            },
        ),
        migrations.RunPython(backfill, migrations.RunPython.noop),
    ]
