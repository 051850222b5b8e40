"""An alert's evidence that counts no chips names the SHA-256 of its empty chip list (LOG.md 5), as any other
evidence names its list's: it was left blank, and a verifier given the (empty) list failed at its `chips`
step. The evidence already stored with a blank hash and no chips gets the empty list's: the value it should
have carried (no log entry records it: those alerts' `alert.raised` events name no chip hash)."""

import hashlib

from django.db import migrations, models

EMPTY = hashlib.sha256(b"").hexdigest()


def fill_empty_hashes(apps, schema_editor):
    AlertEvidence = apps.get_model("compliance", "AlertEvidence")
    AlertEvidence.objects.filter(chips_sha256="", chips="").update(chips_sha256=EMPTY)


class Migration(migrations.Migration):
    dependencies = [
        ("compliance", "0014_workloads_help_text"),
    ]

    operations = [
        migrations.AlterField(
            model_name="alertevidence",
            name="chips_sha256",
            field=models.CharField(default=EMPTY, max_length=64),
        ),
        migrations.RunPython(fill_empty_hashes, migrations.RunPython.noop),
    ]
