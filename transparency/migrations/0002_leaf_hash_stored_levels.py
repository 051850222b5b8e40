"""Leaf hashes move into the leaf rows; LogNode keeps only levels >= 4.

An append used to write three rows per leaf (the leaf, its hash as node
(0, i), and on average one inner node); now it writes the leaf row with its
hash and one node row per 8 leaves. Nodes below level 4 are folded from the
leaf hashes when a proof needs them (transparency.log.get_nodes_bulk).
The leaf hashes are recomputed from the leaf bytes here, not copied from the
old level-0 nodes.
"""

import hashlib

from django.db import migrations, models

NODE_LEVEL_MIN = 4  # transparency.models.NODE_LEVEL_MIN when this migration was written
LEVEL_SHIFT = 56


def forwards(apps, schema_editor):
    with schema_editor.connection.cursor() as cursor:
        cursor.execute("UPDATE transparency_logleaf SET hash = sha256('\\x00'::bytea || leaf)")
        cursor.execute("DELETE FROM transparency_lognode WHERE key < %s", [NODE_LEVEL_MIN << LEVEL_SHIFT])


def backwards(apps, schema_editor):
    """Store every node below level 4 again, from the leaf hashes."""
    LogLeaf = apps.get_model("transparency", "LogLeaf")
    LogNode = apps.get_model("transparency", "LogNode")
    stack = []  # (level, hash) of the right edge, as verify_log's frontier
    rows = []
    size = 0
    for leaf_hash in LogLeaf.objects.order_by("index").values_list("hash", flat=True).iterator(chunk_size=5000):
        level, cur = 0, bytes(leaf_hash)
        rows.append(LogNode(key=size, hash=cur))
        size += 1
        while stack and stack[-1][0] == level:
            cur = hashlib.sha256(b"\x01" + stack.pop()[1] + cur).digest()
            level += 1
            if level < NODE_LEVEL_MIN:
                rows.append(LogNode(key=(level << LEVEL_SHIFT) | ((size >> level) - 1), hash=cur))
        stack.append((level, cur))
        if len(rows) >= 5000:
            LogNode.objects.bulk_create(rows)
            rows = []
    LogNode.objects.bulk_create(rows)


class Migration(migrations.Migration):
    dependencies = [
        ("transparency", "0001_initial"),
    ]

    operations = [
        migrations.AddField(
            model_name="logleaf",
            name="hash",
            field=models.BinaryField(null=True),
        ),
        migrations.RunPython(forwards, backwards),
        migrations.AlterField(
            model_name="logleaf",
            name="hash",
            field=models.BinaryField(),
        ),
    ]
