"""Witness keys' `witness.registered` and `witness.retired` events are read by every signed-in party, as the
keys themselves are (transparency.witnesses since 7cd3809): the events appended before it named only the
witness's organisation. Who may read an event is stored beside it (`parties`), not in its leaf, so widening it
changes no hash. The reverse narrows them again to the organisation their data names."""

from django.db import migrations

EVENTS = ("witness.registered", "witness.retired")


def read_by_all(apps, schema_editor):
    LogEventData = apps.get_model("transparency", "LogEventData")
    LogEventData.objects.filter(event__in=EVENTS).update(parties=["*"])


def read_by_the_witness(apps, schema_editor):
    import json

    LogEventData = apps.get_model("transparency", "LogEventData")
    for row in LogEventData.objects.filter(event__in=EVENTS).only("index", "data_jcs"):
        LogEventData.objects.filter(index=row.index).update(parties=[json.loads(row.data_jcs)["organisation"]])


class Migration(migrations.Migration):
    dependencies = [
        ("transparency", "0004_witness_key_unique"),
    ]

    operations = [migrations.RunPython(read_by_all, read_by_the_witness)]
