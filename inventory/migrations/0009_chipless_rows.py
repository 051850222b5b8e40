"""Rows without a chip leave the tables Citus distributes by chip (docs/scaling.md, issue #16).

Findings, declaration items and inspection items whose chip is null move, ids kept, into tables of their own
(ChiplessFinding, ChiplessDeclarationItem, ChiplessInspectionItem) that take their ids from the same sequences;
the chip then is NOT NULL, and each primary key holds it: (id, chip_id). The ORM keeps `id` as the key (unique
by its sequence; nothing references these tables). A finding is once per (chip, kind, source, source id), and a
chipless one once per (kind, source, source id, chip ref) as before. `AnyFinding` is the view of both.
"""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models

from core import splits

KINDS = [
    ("unaccounted", "On the books, absent from a physical listing"),
    ("unexpected", "In a physical listing, not on the books"),
    ("wrong_cluster", "In another cluster than the books say"),
    ("unknown_chip", "Not registered"),
    ("never_received", "Shipped but never received"),
    ("received_not_shipped", "Received but never shipped"),
    ("received_elsewhere", "Received at another facility than declared"),
    ("silent_chip", "No verification within the window"),
    ("other_operator", "Registered to another operator"),
    ("impossible_travel", "Could not have travelled there in time"),
    ("two_places", "Seen in two facilities at overlapping times"),
    ("implausible_usage", "Usage beyond what the hardware can do"),
    ("rtt_impossible", "Farther from a landmark than its RTT allows"),
    ("revoked_key", "Signed by a key revoked as compromised"),
    ("country_unclear", "Near a border: the coordinates cannot tell the country"),
    ("country_changed", "A facility's country changed"),
    ("left_country", "Chips moved to another country without a transfer"),
]
SOURCES = [
    ("declaration", "Declaration"),
    ("inspection", "Inspection"),
    ("attestation", "Attestation"),
    ("transfer", "Transfer"),
    ("monitor", "Continuity monitor"),
    ("facility", "Facility record"),
]
# (chip table, its chipless table)
PAIRS = (
    ("Finding", "ChiplessFinding"),
    ("DeclarationItem", "ChiplessDeclarationItem"),
    ("InspectionItem", "ChiplessInspectionItem"),
)
VIEW = "inventory_anyfinding"


def _pairs(apps):
    return [(apps.get_model("inventory", a), apps.get_model("inventory", b)) for a, b in PAIRS]


def split(apps, schema_editor):
    for chip_model, chipless_model in _pairs(apps):
        splits.share_ids(schema_editor, chipless_model, chip_model)
        splits.move_chipless(schema_editor, chip_model, chipless_model)


def unsplit(apps, schema_editor):
    for chip_model, chipless_model in _pairs(apps):
        splits.move_back(schema_editor, chip_model, chipless_model)


def chip_in_keys(apps, schema_editor):
    for chip_model, _ in _pairs(apps):
        splits.primary_key(schema_editor, chip_model, ["id", "chip_id"])


def id_keys(apps, schema_editor):
    for chip_model, _ in _pairs(apps):
        splits.primary_key(schema_editor, chip_model, ["id"])


def create_view(apps, schema_editor):
    splits.create_union_view(
        schema_editor, VIEW, apps.get_model("inventory", "Finding"), apps.get_model("inventory", "ChiplessFinding")
    )


def drop_view(apps, schema_editor):
    splits.drop_view(schema_editor, VIEW)


def fk(to, null=False, on_delete=django.db.models.deletion.PROTECT, **kw):
    extra = {"null": True, "blank": True} if null else {}
    return models.ForeignKey(to=to, on_delete=on_delete, related_name="+", **extra, **kw)


def finding_fields():
    return [
        ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
        ("kind", models.CharField(choices=KINDS, max_length=24)),
        ("chip_ref", models.CharField(blank=True, default="", max_length=100)),
        ("country", models.CharField(blank=True, default="", max_length=2)),
        ("other_country", models.CharField(blank=True, default="", max_length=2)),
        ("source", models.CharField(choices=SOURCES, max_length=16)),
        ("source_id", models.CharField(max_length=64)),
        ("detail", models.TextField(blank=True, default="")),
        ("evidence", models.JSONField(default=dict)),
        ("detected_at", models.DateTimeField(auto_now_add=True, db_index=True)),
        ("resolved_at", models.DateTimeField(blank=True, null=True)),
        ("resolution", models.TextField(blank=True, default="")),
    ]


def item(parent):
    return [
        ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
        ("chip_ref", models.CharField(max_length=100)),
        (
            "cluster",
            fk("inventory.cluster", null=True, db_constraint=False),
        ),
        (parent, fk(f"inventory.{parent}", on_delete=django.db.models.deletion.CASCADE, db_constraint=False)),
    ]


def listing_chip():
    return fk("registry.chip", db_constraint=False)


class Migration(migrations.Migration):
    dependencies = [
        ("inventory", "0008_placement_chip_key"),
        ("registry", "0007_chip_identity"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.CreateModel(
            name="ChiplessFinding",
            fields=[
                *finding_fields(),
                ("facility", fk("inventory.facility", null=True)),
                ("organisation", fk("registry.organisation", null=True)),
                ("other_organisation", fk("registry.organisation", null=True)),
                ("resolved_by", fk(settings.AUTH_USER_MODEL, null=True)),
            ],
            options={
                "ordering": ["id"],
                "abstract": False,
                "indexes": [
                    models.Index(fields=["facility", "id"], name="chiplessfinding_facility_idx"),
                    models.Index(fields=["kind", "id"], name="chiplessfinding_kind_idx"),
                    models.Index(fields=["country", "id"], name="chiplessfinding_country_idx"),
                ],
                "constraints": [
                    models.UniqueConstraint(
                        fields=("kind", "source", "source_id", "chip_ref"), name="chiplessfinding_once_per_source"
                    )
                ],
            },
        ),
        migrations.CreateModel(
            name="ChiplessDeclarationItem",
            fields=item("declaration"),
            options={"indexes": [models.Index(fields=["declaration", "id"], name="chipless_declitem_idx")]},
        ),
        migrations.CreateModel(
            name="ChiplessInspectionItem",
            fields=item("inspection"),
            options={"indexes": [models.Index(fields=["inspection", "id"], name="chipless_inspitem_idx")]},
        ),
        migrations.RunPython(split, unsplit),
        migrations.RemoveConstraint(model_name="finding", name="finding_once_per_source"),
        migrations.AlterField(model_name="finding", name="chip", field=fk("registry.chip")),
        migrations.AlterField(model_name="finding", name="facility", field=fk("inventory.facility", null=True)),
        migrations.AlterField(model_name="finding", name="organisation", field=fk("registry.organisation", null=True)),
        migrations.AlterField(model_name="declarationitem", name="chip", field=listing_chip()),
        migrations.AlterField(model_name="inspectionitem", name="chip", field=listing_chip()),
        migrations.AddConstraint(
            model_name="finding",
            constraint=models.UniqueConstraint(
                fields=("chip", "kind", "source", "source_id"), name="finding_once_per_source"
            ),
        ),
        migrations.RunPython(chip_in_keys, id_keys),
        migrations.CreateModel(
            name="AnyFinding",
            fields=finding_fields(),
            options={
                "db_table": VIEW,
                "ordering": ["id"],
                "abstract": False,
                "managed": False,
                "verbose_name": "finding",
            },
        ),
        migrations.RunPython(create_view, drop_view),
    ]
