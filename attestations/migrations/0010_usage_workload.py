"""Usage records keep their statement's `workload` (blank when it named none), those kept by reference too,
so that compliance counts unattributed compute by workload without reading the statements; the view of both
usage tables is made again to read it (core.splits: recreate on a new column)."""

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


def workload():
    return models.CharField(blank=True, db_default="", default="", max_length=10)


class Migration(migrations.Migration):
    dependencies = [
        ("attestations", "0009_chipless_usage_run"),
    ]

    operations = [
        migrations.RunPython(drop_view, create_view),
        migrations.AddField(model_name="usagerecord", name="workload", field=workload()),
        migrations.AddField(model_name="chiplessusagerecord", name="workload", field=workload()),
        migrations.RunPython(create_view, drop_view),
    ]
