from django.db import migrations, models


def refuse_duplicate_keys(apps, schema_editor):
    """Before the constraint: a public key registered twice (the race the constraint closes) is for the
    administrators to settle, since one of its names relabels the other's cosignatures; say which."""
    from django.db.models import Count

    WitnessKey = apps.get_model("transparency", "WitnessKey")
    doubled = WitnessKey.objects.values("public_key").annotate(n=Count("id")).filter(n__gt=1)
    if doubled:
        names = [
            sorted(WitnessKey.objects.filter(public_key=row["public_key"]).values_list("organisation", "name"))
            for row in doubled
        ]
        raise RuntimeError(
            "Witness keys registered under more than one name share a public key; keep one name of each and "
            f"retire and remove the others (with their cosignatures) before migrating: {names}"
        )


class Migration(migrations.Migration):
    dependencies = [
        ("transparency", "0003_witness_key_by_value"),
    ]

    operations = [
        migrations.RunPython(refuse_duplicate_keys, migrations.RunPython.noop),
        migrations.AddConstraint(
            model_name="witnesskey",
            constraint=models.UniqueConstraint(fields=("public_key",), name="one_witness_name_per_key"),
        ),
    ]
