"""Usage kept by reference names its run too (the run field of the usage records, merged after the split),
and the view of both usage tables is recreated to read it (core.splits: recreate on a new column)."""

import django.db.models.deletion
from django.db import migrations, models

from core import splits

VIEW = "attestations_anyusagerecord"


def drop_view(apps, schema_editor):
    splits.drop_view(schema_editor, VIEW)


def create_view(apps, schema_editor):
    splits.create_union_view(
        schema_editor,
        VIEW,
        apps.get_model("attestations", "UsageRecord"),
        apps.get_model("attestations", "ChiplessUsageRecord"),
    )


class Migration(migrations.Migration):
    dependencies = [
        ("attestations", "0008_chipless_rows"),
        ("runs", "0001_runs"),
    ]

    # The view reads the column: dropped before the column changes, made again after (both ways).
    operations = [
        migrations.RunPython(drop_view, create_view),
        migrations.AddField(
            model_name="chiplessusagerecord",
            name="run",
            field=models.ForeignKey(
                blank=True,
                db_constraint=False,
                null=True,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="+",
                to="runs.run",
            ),
        ),
        migrations.RunPython(create_view, drop_view),
    ]
