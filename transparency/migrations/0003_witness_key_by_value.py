"""Witness keys store their organisation's code and their registering user's name by value.

transparency holds no foreign key into registry (issue #16: the import graph
points down; the log answers for its witnesses on its own). The values are
copied from the rows the keys pointed at, then the foreign keys go.
"""

from django.db import migrations, models


def copy_values(apps, schema_editor):
    WitnessKey = apps.get_model("transparency", "WitnessKey")
    for witness in WitnessKey.objects.select_related("organisation", "created_by"):
        witness.organisation_code = witness.organisation.code
        witness.created_by_name = witness.created_by.username if witness.created_by_id else ""
        witness.save(update_fields=["organisation_code", "created_by_name"])


def copy_back(apps, schema_editor):
    WitnessKey = apps.get_model("transparency", "WitnessKey")
    Organisation = apps.get_model("registry", "Organisation")
    User = apps.get_model("registry", "User")
    orgs = dict(Organisation.objects.values_list("code", "pk"))
    users = dict(User.objects.values_list("username", "pk"))
    for witness in WitnessKey.objects.all():
        witness.organisation_id = orgs[witness.organisation_code]
        witness.created_by_id = users.get(witness.created_by_name)
        witness.save(update_fields=["organisation", "created_by"])


class Migration(migrations.Migration):
    dependencies = [
        ("transparency", "0002_leaf_hash_stored_levels"),
        ("registry", "0001_initial"),
    ]

    operations = [
        migrations.AddField(
            model_name="witnesskey",
            name="organisation_code",
            field=models.CharField(max_length=32, default=""),
            preserve_default=False,
        ),
        migrations.AddField(
            model_name="witnesskey",
            name="created_by_name",
            field=models.CharField(max_length=150, blank=True, default=""),
            preserve_default=False,
        ),
        # Nullable before the copy, so that the way back re-adds it empty and fills it before it is required.
        migrations.AlterField(
            model_name="witnesskey",
            name="organisation",
            field=models.ForeignKey(
                null=True, on_delete=models.PROTECT, related_name="witness_keys", to="registry.organisation"
            ),
        ),
        migrations.RunPython(copy_values, copy_back),
        migrations.RemoveField(model_name="witnesskey", name="organisation"),
        migrations.RemoveField(model_name="witnesskey", name="created_by"),
        migrations.RenameField(model_name="witnesskey", old_name="organisation_code", new_name="organisation"),
        migrations.RenameField(model_name="witnesskey", old_name="created_by_name", new_name="created_by"),
        migrations.AlterField(
            model_name="witnesskey",
            name="organisation",
            field=models.CharField(max_length=32, db_index=True),
        ),
    ]
