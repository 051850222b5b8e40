"""`inspection.recorded` is read by the inspectorate that recorded it as well as the facility's operator and
country (inventory.services.listings since f2042cd): a challenge's requester of another country could not read
the entry its own record made. Who may read an event is stored beside it (`parties`), not in its leaf, so
widening it changes no hash. The reverse narrows them again to the operator their data names."""

import json

from django.db import migrations


def with_the_inspectorate(apps, schema_editor):
    LogEventData = apps.get_model("transparency", "LogEventData")
    for row in LogEventData.objects.filter(event="inspection.recorded").only("index", "data_jcs", "parties"):
        data = json.loads(row.data_jcs)
        parties = sorted({*row.parties, data["operator"], data["inspectorate"]})
        if parties != sorted(row.parties):
            LogEventData.objects.filter(index=row.index).update(parties=parties)


def operator_only(apps, schema_editor):
    LogEventData = apps.get_model("transparency", "LogEventData")
    for row in LogEventData.objects.filter(event="inspection.recorded").only("index", "data_jcs"):
        LogEventData.objects.filter(index=row.index).update(parties=[json.loads(row.data_jcs)["operator"]])


class Migration(migrations.Migration):
    dependencies = [
        ("transparency", "0005_witness_events_read_by_all"),
    ]

    operations = [migrations.RunPython(with_the_inspectorate, operator_only)]
