"""Rows without a chip leave the tables Citus distributes by chip (docs/scaling.md, issue #16).

Sightings and usage records whose chip is null move, ids kept, into tables of their own (ChiplessSighting,
ChiplessUsageRecord) that take their ids from the same sequences; the chip then is NOT NULL, and each primary
key holds it and the partition column: (id, observed_at, chip_id), (id, period_start, chip_id). The ORM keeps
`id` as the key (unique by its sequence; nothing references these tables). `AnyUsageRecord` is the view of both
usage tables.
"""

import django.db.models.deletion
from django.db import migrations, models

from core import splits

# (chip table, its chipless table, the chip table's partition column)
PAIRS = (("Sighting", "ChiplessSighting", "observed_at"), ("UsageRecord", "ChiplessUsageRecord", "period_start"))
VIEW = "attestations_anyusagerecord"


def _pairs(apps):
    return [(apps.get_model("attestations", a), apps.get_model("attestations", b), key) for a, b, key in PAIRS]


def split(apps, schema_editor):
    for chip_model, chipless_model, _ in _pairs(apps):
        splits.share_ids(schema_editor, chipless_model, chip_model)
        splits.move_chipless(schema_editor, chip_model, chipless_model)


def unsplit(apps, schema_editor):
    for chip_model, chipless_model, _ in _pairs(apps):
        splits.move_back(schema_editor, chip_model, chipless_model)


def chip_in_keys(apps, schema_editor):
    for chip_model, _, key in _pairs(apps):
        splits.primary_key(schema_editor, chip_model, ["id", key, "chip_id"])


def id_keys(apps, schema_editor):
    for chip_model, _, key in _pairs(apps):
        splits.primary_key(schema_editor, chip_model, ["id", key])


def create_view(apps, schema_editor):
    splits.create_union_view(
        schema_editor,
        VIEW,
        apps.get_model("attestations", "UsageRecord"),
        apps.get_model("attestations", "ChiplessUsageRecord"),
    )


def drop_view(apps, schema_editor):
    splits.drop_view(schema_editor, VIEW)


def fk(to, on_delete=django.db.models.deletion.PROTECT):
    return models.ForeignKey(to=to, on_delete=on_delete, related_name="+", db_constraint=False)


def usage_fields():
    return [
        ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
        ("chip_ref", models.CharField(max_length=100)),
        ("period_start", models.DateTimeField()),
        ("period_end", models.DateTimeField()),
        ("active_s", models.FloatField()),
        ("utilization", models.FloatField()),
        ("energy_j", models.FloatField()),
        ("flop_fp16", models.FloatField(blank=True, null=True)),
        ("flop_peak", models.FloatField(blank=True, null=True)),
    ]


class Migration(migrations.Migration):
    dependencies = [
        ("attestations", "0007_usage_attributed_to_runs"),
        ("inventory", "0009_chipless_rows"),
        ("registry", "0007_chip_identity"),
    ]

    operations = [
        migrations.CreateModel(
            name="ChiplessSighting",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("chip_ref", models.CharField(max_length=100)),
                ("cluster_code", models.CharField(blank=True, default="", max_length=64)),
                ("observed_at", models.DateTimeField()),
                ("attestation", fk("attestations.attestation", django.db.models.deletion.CASCADE)),
                ("facility", fk("inventory.facility")),
            ],
            options={"indexes": [models.Index(fields=["attestation"], name="chipless_sighting_att_idx")]},
        ),
        migrations.CreateModel(
            name="ChiplessUsageRecord",
            fields=[
                *usage_fields(),
                ("attestation", fk("attestations.attestation", django.db.models.deletion.CASCADE)),
                ("facility", fk("inventory.facility")),
            ],
            options={
                "indexes": [
                    models.Index(fields=["facility", "period_start"], name="chipless_usage_facility_idx"),
                    models.Index(fields=["attestation"], name="chipless_usage_att_idx"),
                ]
            },
        ),
        migrations.RunPython(split, unsplit),
        migrations.AlterField(model_name="sighting", name="chip", field=fk("registry.chip")),
        migrations.AlterField(model_name="usagerecord", name="chip", field=fk("registry.chip")),
        migrations.RunPython(chip_in_keys, id_keys),
        migrations.CreateModel(
            name="AnyUsageRecord",
            fields=usage_fields(),
            options={"db_table": VIEW, "managed": False},
        ),
        migrations.RunPython(create_view, drop_view),
    ]
